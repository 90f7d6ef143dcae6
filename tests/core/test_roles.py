"""Roles: a user acting ``--as`` themselves may change only their own preferences."""

from __future__ import annotations

import pytest

from wess_core.store import load_json_file
from wess_emulator.pytest_plugin import EWS_PASSWORD

SELF_ALLOWED = [
    ("users", "show", "alice"),
    ("users", "enable", "alice"),
    ("users", "disable", "alice"),
    ("history", "alice"),
    ("review", "alice"),
    ("review", "alice", "--json"),
    ("ledger", "alice"),
    ("ledger", "alice", "--since", "7d", "--json"),
]

DENIED = [
    # other users' data
    ("users", "show", "bob"),
    ("users", "enable", "bob"),
    ("users", "disable", "bob"),
    ("users", "set", "bob", "--exchange-email", "x@example.com"),
    ("history", "bob"),
    ("review", "bob"),
    ("review", "bob", "d1234567", "--approve"),
    ("review", "bob", "--reject", "--all"),
    ("ledger", "bob"),
    ("ledger", "bob", "--item", "1"),
    ("retry", "bob", "1"),
    ("ignore", "bob", "1"),
    ("ignore", "bob", "1", "--undo"),
    # admin-only settings, even on one's own profile
    ("users", "set", "alice", "--database", "other"),
    ("users", "set", "alice", "--state", "disabled"),
    ("users", "set", "alice", "--auth", "direct"),
    ("users", "set", "alice", "--email", "new@example.com"),
    # skipping the credential check is the admin's (either spelling)
    ("users", "set", "alice", "--exchange-username", "DOM\\alice", "--skip-check"),
    ("users", "set", "alice", "--exchange-email", "a2@example.com", "--no-verify"),
    ("users", "allocate", "alice"),
    ("users", "deallocate", "alice"),
    ("users", "confirm-email", "alice"),
    ("users", "add", "mallory", "--email", "m@example.com"),
    ("users", "list"),
    ("licences",),
    ("licences", "add", "5"),
    ("module", "activate"),
    ("module", "deactivate"),
    ("module", "status"),
    ("connection", "set", "--ews-url", "https://x.example.com/EWS/Exchange.asmx", "--skip-check"),
    ("connection", "show"),
    ("config", "show"),
    ("config", "set", "conflict_policy", "exchange-wins"),
    ("keys", "rotate"),
    ("checklist",),
    ("init",),
    # sync and connection commands on another user
    ("sync", "bob"),
    ("sync", "bob", "--dry-run"),
    ("discover", "bob"),
    ("test-connection", "bob"),
    # the scheduler and the CRM by hand are the admin's
    ("run", "--once"),
    ("crm", "list", "people"),
    ("crm", "add", "people", "first_name=Eve"),
    ("crm", "update", "people", "1", "first_name=Eve"),
    ("crm", "delete", "people", "1"),
]


def _snapshot(home):
    return {p.name: p.read_bytes() for p in sorted(home.rglob("*.json"))}


@pytest.mark.parametrize("argv", DENIED, ids=lambda a: " ".join(a))
def test_denied_and_nothing_changes(admin_home, home, argv):
    before = _snapshot(home)
    result = admin_home(*argv, as_="alice")
    assert result.exit_code == 1, result.stdout
    assert result.stderr.strip() == "wess: permission denied"
    assert _snapshot(home) == before


@pytest.mark.parametrize("argv", SELF_ALLOWED, ids=lambda a: " ".join(a))
def test_allowed_on_own_profile(admin_home, argv):
    result = admin_home(*argv, as_="alice")
    assert result.exit_code == 0, result.stderr


@pytest.fixture
def checked_home(admin_home, ews_server):
    """alice (direct auth) with a working password on the emulator, set by the admin."""
    ews_server.add_user("a2@example.com", EWS_PASSWORD)
    trust = ("--ca-bundle", ews_server.ca_cert, "--skip-check")
    r = admin_home("connection", "set", "--ews-url", ews_server.ews_url, *trust)
    assert r.exit_code == 0, r.stderr
    r = admin_home(
        "users", "set", "alice", "--password-stdin", "--skip-check", input=EWS_PASSWORD + "\n"
    )
    assert r.exit_code == 0, r.stderr
    return admin_home


SELF_SERVICE_SETS = [
    ("--exchange-email", "a2@example.com"),
    ("--exchange-username", "alice@example.com"),
    ("--ews-url", "{ews_url}"),
]


@pytest.mark.parametrize("option", SELF_SERVICE_SETS, ids=lambda a: a[0])
def test_user_sets_own_preferences_checked_with_exchange(checked_home, ews_server, option):
    flag, value = option
    value = value.format(ews_url=ews_server.ews_url)
    result = checked_home("users", "set", "alice", flag, value, as_="alice")
    assert result.exit_code == 0, result.stderr
    assert ews_server.counts["GetFolder"] == 1


def test_user_sets_own_password_from_stdin(checked_home, home):
    result = checked_home(
        "users", "set", "alice", "--password-stdin", as_="alice", input=EWS_PASSWORD + "\n"
    )
    assert result.exit_code == 0, result.stderr
    stored = load_json_file(home / "users.json")["users"]
    alice = next(u for u in stored.values() if u["login"] == "alice")
    assert alice["password"] and EWS_PASSWORD not in alice["password"]


def test_self_service_enable_changes_only_the_flag(admin_home):
    assert admin_home("users", "enable", "alice", as_="alice").exit_code == 0
    shown = admin_home("users", "show", "alice", "--json").json
    assert shown["sync_enabled"] is True
    assert admin_home("users", "show", "bob", "--json").json["sync_enabled"] is False


def test_status_shows_a_user_only_their_own_line(admin_home):
    rows = admin_home("status", "--json", as_="alice").json
    assert [r["login"] for r in rows] == ["alice"]
    assert {r["login"] for r in admin_home("status", "--json").json} == {"alice", "bob"}


def test_unknown_acting_user_is_denied(admin_home):
    result = admin_home("users", "show", "alice", as_="mallory")
    assert result.exit_code == 1
    assert "permission denied" in result.stderr
