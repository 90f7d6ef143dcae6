"""``$batch`` as a Graph client sees it: answers matched by id in another order, the
20-request limit, failed dependencies, per-sub-request throttling, one slot in flight."""

from __future__ import annotations

import threading

from tests.support.graph import CRM_ID
from wess_emulator.graph_client import GraphHttp
from wess_emulator.pytest_plugin import EWS_USER

ALICE = f"/users/{EWS_USER}"


def _create(n: int, **extra) -> dict:
    return {
        "id": str(n),
        "method": "POST",
        "url": f"{ALICE}/contactFolders/contacts/contacts",
        "headers": {"Content-Type": "application/json"},
        "body": {
            "givenName": f"B{n}",
            "singleValueExtendedProperties": [{"id": CRM_ID, "value": f"b{n}"}],
        },
        **extra,
    }


def test_batch_answers_every_request_by_id_in_another_order(graph_http, ews_server, ews_account):
    requests = [_create(n) for n in range(3)]
    answer = graph_http.post("/$batch", json={"requests": requests})
    assert answer.status_code == 200
    responses = answer.json()["responses"]
    assert [r["id"] for r in responses] != ["0", "1", "2"]
    by_id = {r["id"]: r for r in responses}
    assert {by_id[str(n)]["body"]["givenName"] for n in range(3)} == {"B0", "B1", "B2"}
    assert all(r["status"] == 201 for r in responses)
    assert sorted(c.given_name for c in ews_account.contacts.all()) == ["B0", "B1", "B2"]
    assert ews_server.counts["graph:batch"] == 1
    assert ews_server.counts["graph:contacts.create"] == 3
    assert ews_server.batched == {"graph:contacts.create": 3}  # none of them on the wire
    graph_http.post(f"{ALICE}/contactFolders/contacts/contacts", json={"givenName": "Solo"})
    assert ews_server.counts["graph:contacts.create"] == 4
    assert ews_server.batched == {"graph:contacts.create": 3}

    first = by_id["0"]["body"]
    changes = [
        {
            "id": "u",
            "method": "PATCH",
            "url": f"{ALICE}/contacts/{first['id']}",
            "headers": {"Content-Type": "application/json", "If-Match": first["@odata.etag"]},
            "body": {"surname": "One"},
        },
        {
            "id": "stale",
            "method": "PATCH",
            "url": f"{ALICE}/contacts/{first['id']}",
            "headers": {"Content-Type": "application/json", "If-Match": first["@odata.etag"]},
            "body": {"surname": "Two"},
        },
        {"id": "d", "method": "DELETE", "url": f"{ALICE}/contacts/{by_id['1']['body']['id']}"},
        {"id": "gone", "method": "DELETE", "url": f"{ALICE}/contacts/{by_id['1']['body']['id']}"},
    ]
    statuses = {
        r["id"]: r["status"]
        for r in graph_http.post("/$batch", json={"requests": changes}).json()["responses"]
    }
    assert statuses == {"u": 200, "stale": 412, "d": 204, "gone": 404}


def test_more_than_20_requests_is_400(graph_http, ews_account):
    answer = graph_http.post("/$batch", json={"requests": [_create(n) for n in range(21)]})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"
    assert list(ews_account.contacts.all()) == []
    assert (
        graph_http.post("/$batch", json={"requests": [_create(n) for n in range(20)]}).status_code
        == 200
    )


def test_failed_dependency_is_424(graph_http):
    requests = [
        {"id": "a", "method": "GET", "url": f"{ALICE}/contacts/AAkALgnope"},
        _create(1, dependsOn=["a"]),
        _create(2),
    ]
    by_id = {
        r["id"]: r
        for r in graph_http.post("/$batch", json={"requests": requests}).json()["responses"]
    }
    assert by_id["a"]["status"] == 404
    assert by_id["1"]["status"] == 424
    assert by_id["2"]["status"] == 201


def test_a_throttled_sub_request_alone_is_429_with_retry_after(graph_http, ews_server):
    ews_server.inject("graph_throttle", "graph:contacts.create", mailbox=EWS_USER, retry_after=2)
    responses = graph_http.post(
        "/$batch", json={"requests": [_create(n) for n in range(3)]}
    ).json()["responses"]
    by_id = {r["id"]: r for r in responses}
    assert by_id["0"]["status"] == 429
    assert by_id["0"]["headers"]["Retry-After"] == "2"
    assert by_id["0"]["body"]["error"]["code"] == "ApplicationThrottled"
    assert by_id["1"]["status"] == by_id["2"]["status"] == 201


def test_the_batch_prefer_header_applies_to_each_sub_request(graph_http):
    plain = {
        "id": "p",
        "method": "GET",
        "url": f"{ALICE}/contactFolders/contacts/contacts",
        "headers": {"Prefer": 'IdType="RestId"'},
    }
    created = graph_http.post("/$batch", json={"requests": [_create(0)]}).json()["responses"][0][
        "body"
    ]
    listed = graph_http.post("/$batch", json={"requests": [plain]}).json()["responses"][0]["body"]
    assert created["id"].startswith("AAkALg")  # immutable, as the batch's Prefer asks
    assert listed["value"][0]["id"] != created["id"]


def test_a_batch_is_one_request_in_flight_for_its_mailbox(ews_server, graph_token):
    ews_server.set_latency(0.5, "graph:contacts.list")
    ews_server.set_latency(0.5, "graph:users.get")
    clients = [GraphHttp(ews_server.graph_url, graph_token, ews_server.ca_cert) for _ in range(5)]
    listing = {"id": "l", "method": "GET", "url": f"{ALICE}/contacts"}
    answers = {}

    def batch(n):
        answers[n] = clients[n].post(
            "/$batch", json={"requests": [dict(listing, id=str(i)) for i in range(3)]}
        )

    def single(n):
        answers[n] = clients[n].get(ALICE)

    threads = [threading.Thread(target=batch, args=(0,))]
    threads += [threading.Thread(target=single, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers.values())
    assert statuses == [200, 200, 200, 200, 429]
    for client in clients:
        client.close()
