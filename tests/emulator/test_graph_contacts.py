"""Contacts over Graph, against the same mailbox EWS clients use: what one protocol writes,
the other reads; CRUD with change keys; delta rounds with paging, removals and tokens."""

from __future__ import annotations

from exchangelib import Contact
from exchangelib.folders import Contacts as ContactsFolder
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

from tests.support.graph import CRM_ID, EXPAND_CRM, crm_filter, crm_id_of, delta_round, latest
from wess_emulator.pytest_plugin import EWS_USER
from wess_plugins.transport_ews.items import CRM_ID_FIELD

ALICE = f"/users/{EWS_USER}"
FULL = {
    "displayName": "Ann Lee",
    "givenName": "Ann",
    "surname": "Lee",
    "companyName": "Lee & Co",
    "jobTitle": "CEO",
    "personalNotes": "Met at the fair",
    "emailAddresses": [
        {"name": "Ann Lee", "address": "ann@lee.example"},
        {"name": "ann@home.example", "address": "ann@home.example"},
    ],
    "businessPhones": ["+44 20 1234"],
    "mobilePhone": "+44 7700 900",
    "homePhones": ["+44 20 9999"],
    "businessAddress": {
        "street": "1 High St",
        "city": "London",
        "state": "",
        "postalCode": "N1 1AA",
        "countryOrRegion": "UK",
    },
    "homeAddress": {},
    "otherAddress": {},
    "singleValueExtendedProperties": [{"id": CRM_ID, "value": "crm-1"}],
}


def _folder_id(graph_http) -> str:
    answer = graph_http.get(f"{ALICE}/contactFolders/contacts")
    assert answer.status_code == 200
    doc = answer.json()
    assert doc["displayName"] == "Contacts"
    assert doc["wellKnownName"] == "contacts"
    return doc["id"]


def test_contact_created_over_graph_reads_over_ews(graph_http, ews_account):
    folder = _folder_id(graph_http)
    created = graph_http.post(f"{ALICE}/contactFolders/{folder}/contacts", json=FULL)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["@odata.etag"] == f'W/"{doc["changeKey"]}"'
    assert doc["lastModifiedDateTime"].endswith("Z")
    for key, value in FULL.items():
        if key != "singleValueExtendedProperties":
            assert doc[key] == value, key

    contact = ews_account.contacts.get(given_name="Ann")
    assert (contact.surname, contact.company_name, contact.job_title) == ("Lee", "Lee & Co", "CEO")
    assert contact.display_name == "Ann Lee"
    assert contact.body == "Met at the fair"
    assert {(e.label, e.email) for e in contact.email_addresses} == {
        ("EmailAddress1", "ann@lee.example"),
        ("EmailAddress2", "ann@home.example"),
    }
    assert {(p.label, p.phone_number) for p in contact.phone_numbers} == {
        ("BusinessPhone", "+44 20 1234"),
        ("MobilePhone", "+44 7700 900"),
        ("HomePhone", "+44 20 9999"),
    }
    (address,) = contact.physical_addresses
    assert (address.label, address.street, address.city, address.zipcode, address.country) == (
        "Business",
        "1 High St",
        "London",
        "N1 1AA",
        "UK",
    )
    assert getattr(contact, CRM_ID_FIELD) == "crm-1"


def test_contact_created_over_ews_shows_in_graph_delta_with_its_crm_id(graph_http, ews_account):
    contact = Contact(
        folder=ews_account.contacts,
        display_name="Bo Park",
        given_name="Bo",
        surname="Park",
        email_addresses=[EmailAddress(label="EmailAddress1", email="bo@park.example")],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="555-1")],
        physical_addresses=[PhysicalAddress(label="Home", city="Leeds")],
        body="Prefers e-mail",
    )
    setattr(contact, CRM_ID_FIELD, "crm-77")
    contact.save()
    folder = _folder_id(graph_http)
    values, _, _ = delta_round(
        graph_http, f"{ALICE}/contactFolders/{folder}/contacts/delta", **{"$expand": EXPAND_CRM}
    )
    (doc,) = values
    assert crm_id_of(doc) == "crm-77"
    assert doc["displayName"] == "Bo Park"
    assert doc["emailAddresses"] == [{"name": "bo@park.example", "address": "bo@park.example"}]
    assert doc["businessPhones"] == ["555-1"]
    assert doc["mobilePhone"] is None
    assert doc["homeAddress"]["city"] == "Leeds"
    assert doc["businessAddress"] == {}
    assert doc["personalNotes"] == "Prefers e-mail"


def test_patch_with_stale_change_key_is_412_and_current_one_applies(graph_http, ews_account):
    folder = _folder_id(graph_http)
    doc = graph_http.post(f"{ALICE}/contactFolders/{folder}/contacts", json=FULL).json()
    url = f"{ALICE}/contacts/{doc['id']}"
    first = graph_http.patch(
        url, json={"jobTitle": "Chair"}, headers={"If-Match": doc["@odata.etag"]}
    )
    assert first.status_code == 200
    assert first.json()["changeKey"] != doc["changeKey"]
    stale = graph_http.patch(
        url, json={"jobTitle": "CTO"}, headers={"If-Match": doc["@odata.etag"]}
    )
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    cleared = graph_http.patch(url, json={"businessPhones": [], "surname": None})
    assert cleared.status_code == 200
    contact = ews_account.contacts.get(given_name="Ann")
    assert contact.job_title == "Chair"
    assert contact.surname is None
    assert {p.label for p in contact.phone_numbers} == {"MobilePhone", "HomePhone"}
    assert graph_http.get(url).json()["jobTitle"] == "Chair"


def test_find_by_crm_id_with_filter(graph_http):
    folder = _folder_id(graph_http)
    path = f"{ALICE}/contactFolders/{folder}/contacts"
    for n in range(3):
        body = {
            "givenName": f"P{n}",
            "singleValueExtendedProperties": [{"id": CRM_ID, "value": f"c{n}"}],
        }
        assert graph_http.post(path, json=body).status_code == 201
    found = graph_http.get(path, params={"$filter": crm_filter("c1"), "$expand": EXPAND_CRM}).json()
    assert [(v["givenName"], crm_id_of(v)) for v in found["value"]] == [("P1", "c1")]
    lower_guid = crm_filter("c2").replace("C000", "c000")  # ids compare case-insensitively
    assert [
        v["givenName"] for v in graph_http.get(path, params={"$filter": lower_guid}).json()["value"]
    ] == ["P2"]
    assert graph_http.get(path, params={"$filter": "givenName eq 'P1'"}).status_code == 400


def test_delta_pages_removals_and_a_quiet_second_round(graph_http, ews_account, ews_server):
    folder = _folder_id(graph_http)
    path = f"{ALICE}/contactFolders/{folder}/contacts"
    ids = [graph_http.post(path, json={"givenName": f"N{n}"}).json()["id"] for n in range(5)]
    values, link, pages = delta_round(graph_http, f"{path}/delta", page_size=2)
    assert pages == 3
    assert [v["givenName"] for v in values] == [f"N{n}" for n in range(5)]
    assert link.startswith(ews_server.graph_url + "/") and "$deltatoken=" in link

    quiet, link, _ = delta_round(graph_http, link)
    assert quiet == []

    graph_http.delete(f"{ALICE}/contacts/{ids[0]}")
    graph_http.patch(f"{ALICE}/contacts/{ids[1]}", json={"surname": "Changed"})
    moved = ews_account.contacts.get(given_name="N2")
    moved.move(ews_account.trash)
    changes, link, _ = delta_round(graph_http, link)
    by_id = latest(changes)
    assert by_id[ids[0]]["@removed"] == {"reason": "deleted"}
    assert by_id[ids[2]]["@removed"] == {"reason": "changed"}
    assert by_id[ids[1]]["surname"] == "Changed"
    assert len(by_id) == 3


def test_an_empty_page_still_carries_a_next_link(graph_http):
    folder = _folder_id(graph_http)
    path = f"{ALICE}/contactFolders/{folder}/contacts"
    ids = [graph_http.post(path, json={"givenName": f"E{n}"}).json()["id"] for n in range(2)]
    for item_id in ids:
        graph_http.delete(f"{ALICE}/contacts/{item_id}")
    graph_http.post(path, json={"givenName": "E2"})
    headers = {"Prefer": "odata.maxpagesize=2"}
    first = graph_http.get(f"{path}/delta", headers=headers).json()
    assert first["value"] == []
    assert "@odata.nextLink" in first
    second = graph_http.get(first["@odata.nextLink"], headers=headers).json()
    assert [v["givenName"] for v in second["value"]] == ["E2"]
    assert "@odata.deltaLink" in second


def test_delta_tokens_are_bound_to_mailbox_and_folder_and_expire(graph_http, ews_server):
    ews_server.add_user("bob@example.com", "Bob-1")
    folder = _folder_id(graph_http)
    _, link, _ = delta_round(graph_http, f"{ALICE}/contactFolders/{folder}/contacts/delta")
    for_bob = link.replace("alice@example.com", "bob@example.com")
    bob_folder = graph_http.get("/users/bob@example.com/contactFolders/contacts").json()["id"]
    for_bob = for_bob.replace(folder, bob_folder)
    answer = graph_http.get(for_bob)
    assert answer.status_code == 410
    assert answer.json()["error"]["code"] == "syncStateNotFound"
    assert graph_http.get(link[:-3] + "xyz").status_code == 410
    assert graph_http.get(link).status_code == 200
    ews_server.inject("graph_gone", "graph:contacts.delta", mailbox=EWS_USER)
    assert graph_http.get(link).status_code == 410
    assert graph_http.get(link).status_code == 200
    ews_server.graph.expire_delta_tokens()
    assert graph_http.get(link).status_code == 410


def test_two_id_spaces_and_a_move(graph_http, ews_server, ews_account):
    folder = _folder_id(graph_http)
    created = graph_http.post(f"{ALICE}/contactFolders/{folder}/contacts", json={"givenName": "Mo"})
    immutable = created.json()["id"]
    plain = graph_http.get(
        f"{ALICE}/contacts/{immutable}", headers={"Prefer": "odata.maxpagesize=5"}
    )
    rest = plain.json()["id"]
    assert rest != immutable
    assert graph_http.get(f"{ALICE}/contacts/{rest}").json()["id"] == immutable
    contact = ews_account.contacts.get(given_name="Mo")
    assert contact.id not in (rest, immutable)
    crm = ContactsFolder(parent=ews_account.contacts, name="CRM")
    crm.save()
    contact.move(crm)
    assert graph_http.get(f"{ALICE}/contacts/{rest}").status_code == 404
    moved = graph_http.get(f"{ALICE}/contacts/{immutable}")
    assert moved.status_code == 200
    assert moved.json()["parentFolderId"] != folder
    assert graph_http.get(f"{ALICE}/contacts/{contact.id}").status_code == 404


def test_unknown_or_foreign_ids_are_404(graph_http, ews_server):
    ews_server.add_user("bob@example.com", "Bob-1")
    doc = graph_http.post(f"{ALICE}/contacts", json={"givenName": "Al"}).json()
    answer = graph_http.get(f"/users/bob@example.com/contacts/{doc['id']}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "ErrorItemNotFound"
    assert graph_http.delete(f"{ALICE}/contacts/{doc['id']}").status_code == 204
    assert graph_http.delete(f"{ALICE}/contacts/{doc['id']}").status_code == 404


def test_select_shapes_every_page_of_a_delta_round(graph_http):
    folder = _folder_id(graph_http)
    path = f"{ALICE}/contactFolders/{folder}/contacts"
    for n in range(3):
        body = {"givenName": f"S{n}", "surname": "X", "jobTitle": "Dev"}
        body["singleValueExtendedProperties"] = [{"id": CRM_ID, "value": f"s{n}"}]
        graph_http.post(path, json=body)
    params = {"$select": "givenName,surname", "$expand": EXPAND_CRM}
    values, _, pages = delta_round(graph_http, f"{path}/delta", page_size=1, **params)
    assert pages == 3
    assert [sorted(v) for v in values] == [
        ["@odata.etag", "givenName", "id", "singleValueExtendedProperties", "surname"]
    ] * 3
    assert [crm_id_of(v) for v in values] == ["s0", "s1", "s2"]
    one = graph_http.get(f"{path}/{values[0]['id']}", params={"$select": "jobTitle"}).json()
    assert sorted(one) == ["@odata.etag", "id", "jobTitle"]


def test_property_ids_in_any_case_name_the_ews_property(graph_http, ews_account):
    lower = "string {00020329-0000-0000-c000-000000000046} name WessCrmId"
    body = {"displayName": "Lo", "singleValueExtendedProperties": [{"id": lower, "value": "lc-1"}]}
    doc = graph_http.post(f"{ALICE}/contacts", json=body).json()
    assert getattr(ews_account.contacts.get(display_name="Lo"), CRM_ID_FIELD) == "lc-1"
    expand = f"singleValueExtendedProperties($filter=id eq '{lower}')"
    got = graph_http.get(f"{ALICE}/contacts/{doc['id']}", params={"$expand": expand}).json()
    assert crm_id_of(got) == "lc-1"
    bad = {"singleValueExtendedProperties": [{"id": "Text {nope} Name X", "value": "1"}]}
    answer = graph_http.post(f"{ALICE}/contacts", json=bad)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorInvalidProperty"


def test_an_item_changed_during_a_round_is_replayed_later_in_it(graph_http):
    folder = _folder_id(graph_http)
    path = f"{ALICE}/contactFolders/{folder}/contacts"
    ids = [graph_http.post(path, json={"givenName": f"R{n}"}).json()["id"] for n in range(3)]
    headers = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=1'}
    first = graph_http.get(f"{path}/delta", headers=headers).json()
    assert [v["id"] for v in first["value"]] == [ids[0]]
    graph_http.patch(f"{ALICE}/contacts/{ids[0]}", json={"surname": "Later"})
    graph_http.delete(f"{ALICE}/contacts/{ids[1]}")
    rest, link, _ = delta_round(graph_http, first["@odata.nextLink"], page_size=1)
    by_id = latest(first["value"] + rest)
    assert by_id[ids[0]]["surname"] == "Later"  # the replay wins
    assert by_id[ids[1]]["@removed"] == {"reason": "deleted"}  # deleted during the round
    assert by_id[ids[2]]["givenName"] == "R2"
    assert delta_round(graph_http, link)[0] == []
