"""Web logins on the command line: users' web passwords and web admin accounts, stored
only as argon2 hashes and never shown."""

from __future__ import annotations

import json

from wess_core.service import Context
from wess_core.service.logins import ROLE_ADMIN, ROLE_USER, check_password


def test_a_user_sets_their_own_web_password_and_it_is_stored_hashed(admin_home, home):
    wess = admin_home
    r = wess("--as", "alice", "users", "set", "alice", "--web-password-stdin", "--json")
    assert r.exit_code == 2  # nothing on stdin
    r = wess(
        "users",
        "set",
        "alice",
        "--web-password-stdin",
        "--json",
        as_="alice",
        input="correct horse\n",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json["has_web_password"] is True
    assert "web_password_hash" not in r.stdout and "correct horse" not in r.stdout
    stored = (home / "users.json").read_text()
    assert "correct horse" not in stored and "$argon2id$" in stored
    ctx = Context(home=home)
    assert check_password(ctx, "alice", "correct horse").role == ROLE_USER
    assert check_password(ctx, "alice", "wrong horse") is None
    assert check_password(ctx, "bob", "correct horse") is None  # bob has none


def test_another_user_may_not_set_a_web_password(admin_home, home):
    r = admin_home("users", "set", "alice", "--web-password-stdin", as_="bob", input="x" * 9)
    assert r.exit_code == 1 and "permission denied" in r.stderr
    assert "$argon2" not in (home / "users.json").read_text()


def test_web_password_and_exchange_password_from_one_stdin(admin_home, home):
    r = admin_home(
        "users",
        "set",
        "bob",
        "--password-stdin",
        "--web-password-stdin",
        "--skip-check",
        "--json",
        input="exchange-pw\nweb-password\n",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json["has_web_password"] is True and r.json["password"] == "<encrypted>"
    assert check_password(Context(home=home), "bob", "web-password") is not None


def test_admin_accounts_add_list_remove(admin_home, home):
    wess = admin_home
    assert wess("admins", "add", "root", "--password-stdin", input="short\n").exit_code == 2
    r = wess("admins", "add", "root", "--password-stdin", input="admin password\n")
    assert r.exit_code == 0, r.stderr
    assert "admin password" not in (home / "admins.json").read_text()
    assert check_password(Context(home=home), "root", "admin password").role == ROLE_ADMIN
    listed = wess("admins", "list", "--json")
    assert [a["name"] for a in json.loads(listed.stdout)] == ["root"]
    assert "hash" not in listed.stdout
    r = wess("admins", "add", "alice", "--password-stdin", input="admin password\n")
    assert r.exit_code == 2 and "user's login" in r.stderr
    r = wess("admins", "add", "eve", "--password-stdin", input="admin password\n", as_="alice")
    assert r.exit_code == 1 and "permission denied" in r.stderr
    assert wess("admins", "remove", "root").exit_code == 0
    assert check_password(Context(home=home), "root", "admin password") is None
    assert wess("admins", "remove", "root").exit_code == 1
