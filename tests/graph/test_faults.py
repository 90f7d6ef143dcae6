"""Graph's failures through real syncs: throttling is waited out, a lost delta token
resyncs without duplicates, a mailbox outside the app's RBAC scope pauses its user with
that reason, an expired token is replaced once, and a stored link to another host is
never requested."""

from __future__ import annotations

import pytest

from tests.support import issue_dead_tokens
from tests.support.graph_sync import graph_requests, graph_sync
from tests.support.hostile import HostileServer
from wess_core.service import Context
from wess_core.sync.state_db import StoreSyncState

ALICE = "alice@example.com"
RBAC = "outside the app's RBAC management scope"


def _people_and_contacts(graph_site, emu, crm) -> None:
    """Two CRM people and one person's contact in the mailbox, synced."""
    crm.add("people", first_name="Ann", last_name="Lee", email="ann@example.com")
    crm.add("people", first_name="Cy", last_name="Ode", email="cy@example.com")
    emu.mailbox(ALICE).add_items("contacts", [{"kind": "Contact", "GivenName": "Bo"}])
    graph_sync(graph_site)


def _counts(emu, crm) -> tuple[int, int]:
    return len(emu.mailbox(ALICE).folder("contacts").items), len(crm.list("people"))


def test_a_throttled_delta_is_waited_out_and_the_sync_completes(graph_site, emu, crm):
    crm.add("people", first_name="Ann", last_name="Lee")
    emu.inject("graph_throttle", operation="graph:contacts.delta", mailbox=ALICE, retry_after=1)
    data = graph_sync(graph_site)
    assert data["folders"]["contacts"]["to_exchange"]["created"] == 1
    assert emu.counts["graph:contacts.delta"] == 2  # refused once, asked again


def test_only_the_throttled_writes_of_a_batch_are_sent_again(graph_site, emu, crm):
    for n in range(5):
        crm.add("people", first_name=f"P{n}", last_name="Lee")
    emu.inject("graph_throttle", operation="graph:contacts.create", times=2, retry_after=1)
    data = graph_sync(graph_site)
    assert data["folders"]["contacts"]["to_exchange"]["created"] == 5
    assert emu.counts["graph:contacts.create"] == 7  # 5, then the 2 refused ones
    assert emu.counts["graph:batch"] == 2
    assert _counts(emu, crm) == (5, 5)  # nothing created twice


@pytest.mark.slow
def test_a_mailbox_that_stays_busy_skips_the_folder_and_pauses_nobody(graph_site, emu, crm):
    emu.inject("graph_unavailable", operation="graph:contacts.delta", mailbox=ALICE, times=None)
    r = graph_site("sync", "alice", "--json")
    assert r.exit_code == 1
    assert "MailboxBusy" in r.json["folders"]["contacts"]["failed"]
    assert not r.json["folders"]["tasks"]["failed"]  # the other folders went on
    assert graph_site("users", "show", "alice", "--json").json["paused_reason"] is None


def test_a_lost_delta_token_resyncs_in_full_without_duplicates(graph_site, emu, crm):
    _people_and_contacts(graph_site, emu, crm)
    assert _counts(emu, crm) == (3, 3)
    emu.inject("graph_gone", operation="graph:contacts.delta", mailbox=ALICE)
    data = graph_sync(graph_site)
    assert data["folders"]["contacts"]["full_resync"] is True
    assert data["total_changes"] == 0
    assert _counts(emu, crm) == (3, 3)

    emu.graph.expire_delta_tokens()  # every folder's token at once
    data = graph_sync(graph_site)
    assert data["folders"]["tasks"]["full_resync"] is True
    assert data["total_changes"] == 0 and _counts(emu, crm) == (3, 3)


@pytest.mark.parametrize("how", ["deny", "fault"])
def test_a_mailbox_outside_the_rbac_scope_pauses_the_user_with_that_reason(
    graph_site, emu, crm, how
):
    graph_sync(graph_site)
    if how == "deny":
        emu.graph.deny(ALICE)
    else:
        emu.inject("graph_denied", operation="graph:*", mailbox=ALICE)
    r = graph_site("sync", "alice")
    assert r.exit_code == 1
    assert RBAC in r.stderr and ALICE in r.stderr
    reason = graph_site("users", "show", "alice", "--json").json["paused_reason"]
    assert RBAC in reason and ALICE in reason
    history = graph_site("history", "alice", "--json").json
    assert any(RBAC in entry["message"] for entry in history)


def test_an_expired_token_is_replaced_once_and_the_sync_goes_on(graph_site, emu, crm):
    graph_sync(graph_site)
    crm.add("people", first_name="Ann", last_name="Lee")
    emu.expire_tokens()
    before = emu.counts["<token>"]
    data = graph_sync(graph_site)
    assert data["folders"]["contacts"]["to_exchange"]["created"] == 1
    assert emu.counts["<token>"] == before + 1


def test_a_token_refused_even_fresh_pauses_the_user(graph_site, emu, monkeypatch):
    graph_sync(graph_site)
    emu.expire_tokens()
    issue_dead_tokens(monkeypatch, emu)
    before = emu.counts["<token>"]
    r = graph_site("sync", "alice")
    assert r.exit_code == 1
    assert emu.counts["<token>"] == before + 1  # asked once more, not in a loop
    reason = graph_site("users", "show", "alice", "--json").json["paused_reason"]
    assert "refused the OAuth access token of app wess-app" in reason
    assert "Tasks.ReadWrite.All" in reason  # what the Graph app needs, named


def test_a_stored_link_to_another_host_is_never_requested(graph_site, emu, crm, home, ews_ca):
    _people_and_contacts(graph_site, emu, crm)
    elsewhere = HostileServer(ca=ews_ca)
    try:
        state_db = StoreSyncState(Context(home=home).store, "alice")
        state = state_db.load("contacts")
        state.token = elsewhere.url("/v1.0/users/alice@example.com/contacts/delta?$deltatoken=x")
        state_db.save(state)
        state_db.close()
        emu.reset_counts()
        data = graph_sync(graph_site)
    finally:
        elsewhere.stop()
    assert elsewhere.requests == []
    assert data["folders"]["contacts"]["full_resync"] is True
    assert data["total_changes"] == 0 and _counts(emu, crm) == (3, 3)
    assert graph_requests(emu.counts)["graph:contacts.delta"] == 1


def test_a_graph_service_that_does_not_answer_ends_the_run_without_a_pause(graph_site, emu):
    graph_sync(graph_site)
    closed = "https://127.0.0.1:1/graph/v1.0"  # connection refused
    r = graph_site("connection", "set", "--option", f"graph_url={closed}", "--skip-check")
    assert r.exit_code == 0, r.stderr
    r = graph_site("sync", "alice", "--json")
    assert r.exit_code == 1
    assert "cannot reach Microsoft Graph at 127.0.0.1:1" in r.json["folders"]["contacts"]["failed"]
    assert graph_site("users", "show", "alice", "--json").json["paused_reason"] is None


def test_a_stalled_answer_is_cut_at_the_request_deadline(graph_site, emu):
    graph_sync(graph_site)
    assert graph_site("config", "set", "request_deadline_seconds", "1").exit_code == 0
    emu.set_latency(3, operation="graph:contacts.delta")
    r = graph_site("sync", "alice", "--json")
    assert r.exit_code == 1
    assert "did not answer within 1 s (request_deadline_seconds)" in r.stderr, r.stderr
    assert graph_site("users", "show", "alice", "--json").json["paused_reason"] is None
