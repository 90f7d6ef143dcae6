"""``translateExchangeIds``: refused to app-only tokens as on Exchange Online, and when
allowed, EWS ids become the Graph ids the same items have."""

from __future__ import annotations

from exchangelib import Contact

from wess_emulator.pytest_plugin import EWS_USER

URL = f"/users/{EWS_USER}/translateExchangeIds"


def _body(ids: list[str], target: str = "restImmutableEntryId") -> dict:
    return {"inputIds": ids, "sourceIdType": "ewsId", "targetIdType": target}


def test_app_only_tokens_are_refused_by_default(graph_http, ews_account):
    contact = Contact(folder=ews_account.contacts, display_name="Ann", given_name="Ann").save()
    answer = graph_http.post(URL, json=_body([contact.id]))
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"


def test_ews_ids_translate_to_the_ids_graph_uses(graph_http, ews_server, ews_account):
    ews_server.graph.translate_for_apps = True
    contacts = [
        Contact(folder=ews_account.contacts, display_name=f"C{n}", given_name=f"C{n}").save()
        for n in range(3)
    ]
    ids = [c.id for c in contacts] + ["AAAAunknown=="]
    answer = graph_http.post(URL, json=_body(ids))
    assert answer.status_code == 200
    values = answer.json()["value"]
    assert [v["sourceId"] for v in values] == ids[:3]  # the unknown id is left out
    listed = graph_http.get(f"/users/{EWS_USER}/contactFolders/contacts/contacts").json()["value"]
    assert [v["targetId"] for v in values] == [doc["id"] for doc in listed]
    rest = graph_http.post(URL, json=_body(ids[:1], "restId")).json()["value"][0]["targetId"]
    got = graph_http.get(f"/users/{EWS_USER}/contacts/{rest}")
    assert got.json()["givenName"] == "C0"
    assert graph_http.post(URL, json=_body(["x"] * 1001)).status_code == 400
