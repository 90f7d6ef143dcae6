"""Issue 13, a user cannot hurt the others: field caps, URL hosts that are not Exchange
servers, and the credential check that only an admin may skip."""

from __future__ import annotations

import pytest

from wess_core.errors import ValidationError
from wess_core.service import Context, users
from wess_core.validation import MAX_SECRET


def users_bytes(home) -> bytes:
    return (home / "users.json").read_bytes()


# -- field caps -------------------------------------------------------------------------


@pytest.mark.parametrize("as_", [None, "alice"], ids=["admin", "self-service"])
def test_a_huge_password_is_refused_and_nothing_stored(admin_home, home, as_):
    before = users_bytes(home)
    huge = "x" * (100 * 1024)
    r = admin_home("users", "set", "alice", "--password-stdin", as_=as_, input=huge + "\n")
    assert r.exit_code == 2, r.stderr
    assert r.stderr.strip() == (
        "wess: the password is longer than 1024 bytes (1 KiB); nothing was changed"
    )
    assert users_bytes(home) == before


def test_the_cap_is_in_the_service_layer_and_counts_bytes(admin_home, home):
    ctx = Context(home)
    before = users_bytes(home)
    with pytest.raises(ValidationError, match="longer than 1024 bytes"):
        users.update_user(ctx, "alice", password="é" * (MAX_SECRET // 2 + 1), verify=False)
    assert users_bytes(home) == before
    users.update_user(ctx, "alice", password="x" * MAX_SECRET, verify=False)  # exactly 1 KiB
    assert users_bytes(home) != before


@pytest.mark.parametrize(
    "flags",
    [
        ("--password-stdin", "--impersonation-user", "svc@example.com"),
        ("--client-secret-stdin", "--oauth-tenant", "t", "--oauth-client-id", "c"),
    ],
    ids=["service password", "client secret"],
)
def test_a_huge_account_secret_is_refused(admin_home, home, flags):
    before = (home / "account.json").read_bytes()
    r = admin_home("connection", "set", *flags, "--skip-check", input="s" * 2000 + "\n")
    assert r.exit_code == 2, r.stderr
    assert "longer than 1024 bytes" in r.stderr and r.stderr.count("\n") == 1
    assert (home / "account.json").read_bytes() == before


def test_long_oauth_settings_are_refused(admin_home, home):
    before = (home / "account.json").read_bytes()
    r = admin_home("connection", "set", "--oauth-tenant", "t" * 300, "--skip-check")
    assert r.exit_code == 2
    assert "OAuth tenant is longer than 256 characters" in r.stderr
    assert (home / "account.json").read_bytes() == before


# -- hosts that are no Exchange server ---------------------------------------------------

BAD_HOSTS = {
    "metadata": "169.254.169.254",
    "link-local v6": "[fe80::1]",
    "mapped metadata": "[::ffff:169.254.169.254]",
    "decimal": "2130706433",
    "hex": "0x7f.1",
    "short": "127.1",
    "octal": "017700000001",
    "octal dotted": "0177.0.0.1",
}


@pytest.mark.parametrize("host", BAD_HOSTS.values(), ids=BAD_HOSTS.keys())
def test_link_local_and_disguised_hosts_are_refused_for_everyone(admin_home, home, host):
    before = {p.name: p.read_bytes() for p in home.glob("*.json")}
    url = f"https://{host}/EWS/Exchange.asmx"
    autodiscover_url = f"https://{host}/autodiscover/autodiscover.svc"
    attempts = [
        admin_home("users", "set", "alice", "--ews-url", url, as_="alice"),
        admin_home("users", "set", "alice", "--ews-url", url, "--skip-check"),
        admin_home("connection", "set", "--ews-url", url, "--skip-check"),
        admin_home("connection", "set", "--skip-check", "--autodiscover-url", autodiscover_url),
    ]
    for r in attempts:
        assert r.exit_code == 2, r.stdout
        assert "link-local address" in r.stderr or "a number for a host" in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in home.glob("*.json")} == before


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "10.1.2.3", "mail.example.com"])
def test_loopback_private_and_named_hosts_stay_allowed(admin_home, host):
    r = admin_home(
        "connection", "set", "--ews-url", f"https://{host}:8443/EWS/Exchange.asmx", "--skip-check"
    )
    assert r.exit_code == 0, r.stderr


# -- --skip-check -------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--skip-check", "--no-verify"])
def test_a_user_may_not_skip_the_check(admin_home, home, flag):
    before = users_bytes(home)
    r = admin_home(
        "users", "set", "alice", "--password-stdin", flag, as_="alice", input="whatever\n"
    )
    assert r.exit_code == 1
    assert r.stderr == "wess: permission denied\n"
    assert users_bytes(home) == before
    r = admin_home("connection", "set", "--auth", "direct", flag, as_="alice")
    assert r.exit_code == 1 and r.stderr == "wess: permission denied\n"


def test_no_verify_is_a_hidden_alias_of_skip_check(admin_home, home):
    r = admin_home("users", "set", "alice", "--exchange-email", "a2@example.com", "--no-verify")
    assert r.exit_code == 0, r.stderr
    assert admin_home("users", "show", "alice", "--json").json["exchange_email"] == (
        "a2@example.com"
    )
    r = admin_home("connection", "set", "--auth", "direct", "--no-verify")
    assert r.exit_code == 0 and "without a check (--skip-check)" in r.stdout
    for command in (("users", "set"), ("connection", "set")):
        help_text = admin_home(*command, "--help").stdout
        assert "--skip-check" in help_text and "--no-verify" not in help_text
