"""Secrets: encrypted at rest, wrong keys refused, rotation re-encrypts everything."""

from __future__ import annotations

import os

from cryptography.fernet import Fernet

from wess_core.secrets import KEY_FILE_NAME

SECRET = "Tr0ub4dor&3-unique"


def _set_password(wess, login="alice", secret=SECRET):
    return wess("users", "set", login, "--password-stdin", "--skip-check", input=secret + "\n")


def _all_bytes(home):
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def test_init_creates_private_key_file(wess, home):
    assert wess("init").exit_code == 0
    key = home / KEY_FILE_NAME
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    Fernet(key.read_text().strip())


def test_password_never_stored_or_shown_in_clear(admin_home, home):
    result = _set_password(admin_home)
    assert result.exit_code == 0
    shown = admin_home("users", "show", "alice", "--json")
    listed = admin_home("users", "list", "--json")
    assert shown.json["password"] == "<encrypted>"
    for text in (result.stdout, result.stderr, shown.stdout, listed.stdout):
        assert SECRET not in text
    assert SECRET.encode() not in _all_bytes(home)


def test_wrong_key_is_a_clear_error(admin_home, home, monkeypatch):
    _set_password(admin_home)
    monkeypatch.setenv("WESS_SECRET_KEY", Fernet.generate_key().decode())
    result = admin_home("keys", "rotate")
    assert result.exit_code == 1
    assert "cannot decrypt" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_key_is_a_clear_error(admin_home, monkeypatch):
    monkeypatch.setenv("WESS_SECRET_KEY", "not-a-key")
    result = _set_password(admin_home)
    assert result.exit_code == 1
    assert "malformed key" in result.stderr


def test_loose_key_file_permissions_are_refused(admin_home, home):
    os.chmod(home / KEY_FILE_NAME, 0o644)
    result = _set_password(admin_home)
    assert result.exit_code == 1
    assert "chmod 600" in result.stderr


def test_rotation_reencrypts_with_a_new_key(admin_home, home):
    from wess_core.secrets import SecretBox, load_keys
    from wess_core.store import load_json_file

    _set_password(admin_home)
    old_key = (home / KEY_FILE_NAME).read_text().strip()
    old_token = _stored_password(home)
    assert admin_home("keys", "rotate").exit_code == 0
    new_key = (home / KEY_FILE_NAME).read_text().strip()
    assert new_key != old_key and "\n" not in new_key
    token = _stored_password(home)
    assert token != old_token
    assert SecretBox(load_keys(home)).decrypt(token) == SECRET
    # the old key alone can no longer read it
    assert load_json_file(home / "users.json")
    try:
        Fernet(old_key.encode()).decrypt(token.encode())
        raise AssertionError("old key still decrypts")
    except Exception as exc:  # InvalidToken
        assert type(exc).__name__ == "InvalidToken"


def test_rotation_from_environment_keys(admin_home, home, monkeypatch):
    from wess_core.secrets import SecretBox

    old = (home / KEY_FILE_NAME).read_text().strip()
    _set_password(admin_home)
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("WESS_SECRET_KEY", f"{new},{old}")
    assert admin_home("keys", "rotate").exit_code == 0
    assert SecretBox([new.encode()]).decrypt(_stored_password(home)) == SECRET


def _stored_password(home):
    from wess_core.store import load_json_file

    users = load_json_file(home / "users.json")["users"].values()
    return next(u["password"] for u in users if u["login"] == "alice")
