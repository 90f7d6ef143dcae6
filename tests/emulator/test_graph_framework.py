"""The Graph endpoint's framework, as a Graph client sees it over HTTPS: app-only Bearer
auth, users, RBAC scope, the per-mailbox concurrency limit, injected faults, counting."""

from __future__ import annotations

import base64
import threading

import requests

from wess_emulator.emulator.graph.router import parse_prefer
from wess_emulator.graph_client import GraphHttp
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER

ALICE = f"/users/{EWS_USER}"


def test_user_by_upn_and_by_id(graph_http):
    me = graph_http.get(ALICE)
    assert me.status_code == 200
    doc = me.json()
    assert doc["userPrincipalName"] == EWS_USER
    assert doc["mail"] == EWS_USER
    assert doc["displayName"] == "Alice Example"
    again = graph_http.get(f"/users/{doc['id']}").json()
    assert again == doc


def test_unknown_user_is_404(graph_http):
    answer = graph_http.get("/users/nobody@example.com")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "Request_ResourceNotFound"


def test_missing_basic_and_revoked_tokens_are_refused(ews_server, graph_token):
    url = ews_server.graph_url + ALICE
    basic = base64.b64encode(f"{EWS_USER}:{EWS_PASSWORD}".encode()).decode()
    for headers in ({}, {"Authorization": f"Basic {basic}"}, {"Authorization": "Bearer nope"}):
        answer = requests.get(url, headers=headers, verify=ews_server.ca_cert, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    ok = {"Authorization": f"Bearer {graph_token}"}
    assert requests.get(url, headers=ok, verify=ews_server.ca_cert, timeout=10).ok
    ews_server.revoke_token(graph_token)
    assert requests.get(url, headers=ok, verify=ews_server.ca_cert, timeout=10).status_code == 401


def test_a_token_for_ews_is_not_a_graph_token(ews_server, graph_app):
    token = requests.post(
        ews_server.token_url(),
        data={
            "grant_type": "client_credentials",
            "client_id": graph_app.client_id,
            "client_secret": graph_app.client_secret,
            "scope": "https://outlook.office365.com/.default",
        },
        verify=ews_server.ca_cert,
        timeout=10,
    ).json()["access_token"]
    client = GraphHttp(ews_server.graph_url, token, ews_server.ca_cert)
    assert client.get(ALICE).status_code == 401
    client.close()


def test_mailbox_outside_the_rbac_scope_is_403_until_allowed(ews_server, graph_http):
    ews_server.graph.deny(EWS_USER)
    answer = graph_http.get(ALICE)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"
    ews_server.graph.allow(EWS_USER)
    assert graph_http.get(ALICE).status_code == 200


def test_a_fifth_concurrent_request_to_one_mailbox_is_429(ews_server, graph_token):
    ews_server.add_user("bob@example.com", "Bob-1")
    ews_server.set_latency(0.6, "graph:users.get")
    clients = [GraphHttp(ews_server.graph_url, graph_token, ews_server.ca_cert) for _ in range(6)]
    answers: dict[int, requests.Response] = {}

    def call(n: int, who: str) -> None:
        answers[n] = clients[n].get(f"/users/{who}")

    threads = [threading.Thread(target=call, args=(n, EWS_USER)) for n in range(5)]
    threads.append(threading.Thread(target=call, args=(5, "bob@example.com")))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alice = [answers[n] for n in range(5)]
    refused = [a for a in alice if a.status_code == 429]
    assert len(refused) == 1, [a.status_code for a in alice]
    assert refused[0].json()["error"]["code"] == "MailboxConcurrency"
    assert refused[0].headers["Retry-After"] == "1"
    assert answers[5].status_code == 200  # the limit is per mailbox
    assert ews_server.graph.peak_in_flight == 4
    for client in clients:
        client.close()


def test_injected_faults_per_mailbox_and_operation(ews_server, graph_http):
    ews_server.add_user("bob@example.com", "Bob-1")
    ews_server.inject("graph_throttle", "graph:users.get", mailbox="bob@example.com", retry_after=3)
    assert graph_http.get(ALICE).status_code == 200
    throttled = graph_http.get("/users/bob@example.com")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    assert graph_http.get("/users/bob@example.com").status_code == 200  # times=1
    ews_server.inject("graph_unavailable", "graph:*", times=2)
    for _ in range(2):
        answer = graph_http.get(ALICE)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "ServiceUnavailable"
        assert answer.headers["Retry-After"] == "1"
    ews_server.inject("graph_denied", "graph:users.get")
    assert graph_http.get(ALICE).json()["error"]["code"] == "ErrorAccessDenied"
    ews_server.inject("graph_gone", "graph:users.get")
    assert graph_http.get(ALICE).json()["error"]["code"] == "syncStateNotFound"
    ews_server.inject("graph_timeout", "graph:*", retry_after=2)
    timeout = graph_http.get(ALICE)
    assert (timeout.status_code, timeout.headers["Retry-After"]) == (504, "2")
    assert timeout.json()["error"]["code"] == "GatewayTimeout"
    assert ews_server.counts["graph:users.get"] == 8


def test_graph_faults_leave_ews_alone(ews_server, ews_account):
    ews_server.inject("graph_unavailable", None, times=None)
    assert ews_account.inbox.name == "Inbox"


def test_unknown_path_is_a_json_400(graph_http):
    answer = graph_http.get(f"{ALICE}/nothingHere")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_prefer_values_in_one_header_or_several():
    assert parse_prefer(['IdType="ImmutableId", odata.maxpagesize=5']) == (True, 5)
    assert parse_prefer(["odata.maxpagesize=7", 'IdType="ImmutableId"']) == (True, 7)
    assert parse_prefer([]) == (False, 100)
    assert parse_prefer(["odata.maxpagesize=100000"]) == (False, 1000)
