"""The credential check on save and ``wess test-connection`` for a graph user: each way
it can fail says what to fix, and nothing is stored after a refusal; no token is ever
written to the home."""

from __future__ import annotations

from tests.support import CLIENT_SECRET, oauth_args
from tests.support.graph_sync import graph_sync

ALICE = "alice@example.com"


def _graph(emu, secret=CLIENT_SECRET):
    graph = ("--transport", "graph", "--option", f"graph_url={emu.graph_url}")
    args = (*oauth_args(emu.authority("contoso")), *graph, "--ca-bundle", emu.ca_cert)
    return args, secret + "\n"


def test_a_wrong_client_secret_is_refused_and_nothing_is_stored(admin_home, emu, home):
    before = (home / "account.json").read_bytes()
    args, secret = _graph(emu, "not-the-secret")
    r = admin_home(*args, input=secret)
    assert r.exit_code == 1
    assert "refused the client secret of app wess-app (invalid_client" in r.stderr
    assert "not-the-secret" not in r.stderr
    assert (home / "account.json").read_bytes() == before


def test_a_mailbox_outside_the_rbac_scope_is_named_by_the_check(admin_home, emu, home):
    emu.graph.deny(ALICE)
    before = (home / "account.json").read_bytes()
    args, secret = _graph(emu)
    r = admin_home(*args, input=secret)
    assert r.exit_code == 1
    assert f"mailbox {ALICE}" in r.stderr
    assert "outside the app's RBAC management scope" in r.stderr
    assert (home / "account.json").read_bytes() == before

    emu.graph.allow(ALICE)
    assert admin_home(*args, input=secret).exit_code == 0


def test_an_unknown_user_is_named_by_the_check(admin_home, emu):
    other = ("--exchange-email", "nobody@example.com", "--skip-check")
    assert admin_home("users", "set", "alice", *other).exit_code == 0
    args, secret = _graph(emu)
    r = admin_home(*args, input=secret)
    assert r.exit_code == 1
    assert "no user nobody@example.com (Request_ResourceNotFound)" in r.stderr


def test_no_token_is_written_to_the_home(graph_site, emu, crm, home):
    crm.add("people", first_name="Ann", last_name="Lee")
    graph_sync(graph_site)
    assert emu._tokens
    for path in home.rglob("*"):
        if path.is_file():
            for token in emu._tokens:
                assert token.encode() not in path.read_bytes(), path


def test_the_checklist_gives_the_graph_admin_steps(graph_site, emu):
    lines = graph_site("checklist").stdout
    assert f"1. Microsoft Graph: {emu.graph_url} (transport graph)." in lines
    assert "the OAuth app wess-app of tenant contoso (configured)" in lines
    assert "New-ManagementRoleAssignment -App wess-app" in lines
    assert "Tasks.ReadWrite.All" in lines
    assert "EWS URL" not in lines and "Firewall" in lines
    graph_site("connection", "set", "--transport", "ews", "--skip-check")
    assert "New-ManagementRoleAssignment" not in graph_site("checklist").stdout
