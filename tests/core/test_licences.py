"""Module activation, the seat pool, and eligibility reasons, through the CLI."""

from __future__ import annotations


def test_seat_pool_counts_and_runs_out(wess):
    assert wess("init").exit_code == 0
    assert wess("licences", "add", "2").exit_code == 0
    for login in ("a", "b", "c"):
        assert wess("users", "add", login, "--email", f"{login}@example.com").exit_code == 0
    assert wess("licences", "--json").json == {"total": 2, "allocated": 0, "remaining": 2}
    assert wess("users", "allocate", "a").exit_code == 0
    assert wess("licences", "--json").json == {"total": 2, "allocated": 1, "remaining": 1}
    assert wess("users", "allocate", "b").exit_code == 0
    full = wess("users", "allocate", "c")
    assert full.exit_code == 1
    assert "no licences left (2 of 2 allocated)" in full.stderr
    assert wess("users", "show", "c", "--json").json["licence_allocated"] is False
    assert wess("users", "deallocate", "a").exit_code == 0
    assert wess("licences", "--json").json["remaining"] == 1
    assert wess("users", "allocate", "c").exit_code == 0
    assert wess("licences", "--json").json == {"total": 2, "allocated": 2, "remaining": 0}


def test_allocating_twice_uses_one_seat(admin_home):
    wess = admin_home
    assert wess("users", "allocate", "alice").exit_code == 0
    assert wess("licences", "--json").json["allocated"] == 1


def test_licences_add_refuses_zero(admin_home):
    result = admin_home("licences", "add", "0")
    assert result.exit_code == 2
    assert admin_home("licences", "--json").json["total"] == 3


def test_module_activation_toggles_eligibility(admin_home):
    wess = admin_home
    assert wess("users", "enable", "alice").exit_code == 0
    assert wess("users", "show", "alice", "--json").json["eligible"] is True
    assert wess("module", "deactivate").exit_code == 0
    assert wess("module", "status", "--json").json["active"] is False
    shown = wess("users", "show", "alice", "--json").json
    assert shown["eligible"] is False
    assert shown["reasons"] == ["module not activated"]


def test_every_denial_reason_is_reported(admin_home):
    wess = admin_home
    shown = wess("users", "show", "bob", "--json").json
    assert shown["reasons"] == ["no licence allocated", "sync disabled"]
    assert wess("users", "set", "bob", "--state", "not_activated").exit_code == 0
    assert "user not activated" in wess("users", "show", "bob", "--json").json["reasons"]
    assert wess("users", "set", "bob", "--state", "disabled").exit_code == 0
    assert "user disabled" in wess("users", "show", "bob", "--json").json["reasons"]


def test_login_email_change_is_pending_until_confirmed(admin_home):
    wess = admin_home
    wess("users", "enable", "alice")
    assert wess("users", "set", "alice", "--email", "alice@new.example.com").exit_code == 0
    shown = wess("users", "show", "alice", "--json").json
    assert shown["pending_email"] == "alice@new.example.com"
    assert shown["reasons"] == ["awaiting login e-mail change"]
    assert wess("users", "confirm-email", "alice").exit_code == 0
    shown = wess("users", "show", "alice", "--json").json
    assert shown["email"] == "alice@new.example.com"
    assert shown["pending_email"] is None
    assert shown["eligible"] is True
    # the mailbox that was being synced stays the same
    assert shown["exchange_email"] == "alice@example.com"


def test_show_explains_how_to_enable_sync(admin_home):
    result = admin_home("users", "show", "alice", as_="alice")
    assert result.exit_code == 0
    assert "Exchange sync is not enabled for alice" in result.stdout
    assert "wess users enable alice" in result.stdout


def test_commands_before_init_say_to_run_init(wess):
    result = wess("users", "list")
    assert result.exit_code == 1
    assert "run 'wess init' first" in result.stderr
