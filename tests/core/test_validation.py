"""Bad input: a clear one-line error, exit 2, and nothing stored."""

from __future__ import annotations

import pytest

from wess_core import validation
from wess_core.errors import ValidationError


def _users_file(home):
    return (home / "users.json").read_bytes()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--exchange-username", "CORP/alice", "use a back-slash: 'CORP\\alice'"),
        ("--exchange-username", "a\\b\\c", "expected DOMAIN\\user or user@domain"),
        ("--exchange-email", "not-an-address", "expected the form name@example.com"),
        ("--exchange-email", "a@@example.com", "expected the form name@example.com"),
        ("--ews-url", "http://mail.example.com/EWS/Exchange.asmx", "must use https"),
        ("--ews-url", "https://mail.example.com/owa", "has the wrong path"),
        ("--ews-url", "https://mail.example.com/EWS/Exchange.asmx?x=1", "has the wrong path"),
        ("--ews-url", "mail.example.com", "must use https"),
        ("--ews-url", "https://user:pw@mail.example.com/EWS/Exchange.asmx", "credentials"),
    ],
)
def test_bad_profile_values_are_refused(admin_home, home, option, value, expected):
    before = _users_file(home)
    result = admin_home("users", "set", "alice", option, value, "--skip-check")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _users_file(home) == before


def test_ews_url_error_names_office365(admin_home):
    result = admin_home("users", "set", "alice", "--ews-url", "https://x/ews", "--skip-check")
    assert "https://outlook.office365.com/EWS/Exchange.asmx" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "https://outlook.office365.com/EWS/Exchange.asmx",
        "https://mail.example.com:8443/ews/exchange.asmx",
        "https://127.0.0.1:4443/EWS/Exchange.asmx",
        "https://[::1]:4443/EWS/Exchange.asmx",
    ],
)
def test_good_ews_urls(url):
    assert validation.ews_url(url) == url


@pytest.mark.parametrize("name", ["alice@example.com", "CORP\\alice", "alice"])
def test_good_usernames(name):
    assert validation.exchange_username(name) == name


def test_control_characters_are_refused():
    with pytest.raises(ValidationError, match="control or invisible"):
        validation.email("alice\x00@example.com")


def test_bad_login_e_mail_on_add(admin_home, home):
    before = _users_file(home)
    result = admin_home("users", "add", "carol", "--email", "carol at example")
    assert result.exit_code == 2
    assert "not valid" in result.stderr
    assert _users_file(home) == before


@pytest.mark.parametrize("login", ["../etc", "a/b", "", ".hidden", "x" * 200])
def test_logins_that_cannot_be_file_names_are_refused(admin_home, login):
    result = admin_home("users", "add", login, "--email", "ok@example.com")
    assert result.exit_code == 2
    assert "invalid login" in result.stderr


def test_duplicate_user_is_refused(admin_home):
    result = admin_home("users", "add", "alice", "--email", "alice@example.com")
    assert result.exit_code == 2
    assert "already exists" in result.stderr


def test_unknown_strategy_names_list_the_available_ones(admin_home, home):
    before = _users_file(home)
    result = admin_home("users", "set", "alice", "--auth", "kerberos-magic", "--skip-check")
    assert result.exit_code == 2
    assert "unknown auth method 'kerberos-magic'; available:" in result.stderr
    assert _users_file(home) == before


def test_unknown_config_key_and_bad_value(admin_home):
    unknown = admin_home("config", "set", "colour", "blue")
    assert unknown.exit_code == 2
    assert "unknown setting 'colour'" in unknown.stderr
    bad = admin_home("config", "set", "deletion_guard_percent", "250")
    assert bad.exit_code == 2
    assert "from 0 to 100" in bad.stderr
    good = admin_home("config", "set", "conflict_policy", "exchange-wins")
    assert good.exit_code == 0
    assert admin_home("config", "show", "--json").json["conflict_policy"] == "exchange-wins"


def test_empty_password_on_stdin_is_refused(admin_home):
    result = admin_home("users", "set", "alice", "--password-stdin", "--skip-check", input="\n")
    assert result.exit_code == 2
    assert "expected on standard input" in result.stderr


def test_bad_ca_bundle_is_refused(admin_home, tmp_path):
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    result = admin_home("connection", "set", "--ca-bundle", str(not_pem), "--skip-check")
    assert result.exit_code == 2
    assert "holds no PEM certificate" in result.stderr


@pytest.mark.parametrize("value", ["alice\n", "main\n", "0\n"])
def test_trailing_newline_is_not_a_valid_name(admin_home, value):
    """``$`` in a regular expression also matches before a final newline (found by fuzzing)."""
    added = admin_home("users", "add", value, "--email", "x@example.com")
    assert added.exit_code == 2
    db = admin_home("users", "set", "alice", "--database", value)
    assert db.exit_code == 2


def test_newline_inside_an_e_mail_is_refused():
    with pytest.raises(ValidationError):
        validation.email("a@b.c\nx")
