"""Issue 13, section 2: credentials only over HTTPS, only to hosts the account trusts.

Each test performs an attack for real: a hostile server on loopback (127.0.0.2 plays
"another domain", or a test name mapped to loopback) logs every ``Authorization``
header it receives while the real ``wess`` commands run; it must log none. Every
attack's commands run first and the hostile log is checked first, so against a WESS
without the rule the failure shows the captured credential.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support import ALICE_PW, autodiscover_args
from tests.support.hostile import HostileServer, loopback_names
from wess_core import endpoints, http
from wess_plugins.transport_ews import adapter

OTHER_HOST = "127.0.0.2"  # another loopback address: "a host in another domain"


@pytest.fixture
def hostile(ews_ca) -> Iterator[Callable[..., HostileServer]]:
    """``hostile(host, tls=True, **kw)`` starts a logging server (stopped at teardown)."""
    started: list[HostileServer] = []

    def start(host: str = "127.0.0.1", *, tls: bool = True, **kwargs) -> HostileServer:
        server = HostileServer(host, ca=ews_ca if tls else None, **kwargs)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def autodiscover_site(wess, autodiscover_url: str, ca_cert: str):
    r = wess(*autodiscover_args(autodiscover_url, ca_cert), "--no-verify")
    assert r.exit_code == 0, r.stderr
    r = wess("users", "set", "alice", "--password-stdin", "--no-verify", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    assert wess("users", "enable", "alice").exit_code == 0
    return wess


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def cached_url(wess) -> str | None:
    return wess("users", "show", "alice", "--json").json["discovered_ews_url"]


# -- HTTP: never a credential over plain HTTP ---------------------------------------


def test_soap_redirect_url_to_http_is_not_followed(admin_home, emu, hostile):
    trap = hostile(tls=False)
    emu.user("alice@example.com").redirect_url = trap.url()
    wess = autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)

    r = wess("discover", "alice")

    assert trap.credentials == []
    assert trap.requests == []  # refused before connecting at all
    assert r.exit_code == 1
    line = one_line(r.stderr)
    assert "AutoDiscoverFailed" in line and trap.url() in line and "must use https" in line
    assert cached_url(wess) is None


def test_http_ews_url_from_autodiscover_is_neither_cached_nor_used(admin_home, emu, hostile):
    trap = hostile(tls=False)
    emu.announced_ews_url = trap.url("/EWS/Exchange.asmx")
    wess = autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)

    discovered = wess("discover", "alice")
    tested = wess("test-connection", "alice")
    synced = wess("sync", "alice")
    saved = wess("users", "set", "alice", "--password-stdin", input=ALICE_PW)

    assert trap.credentials == []
    assert trap.requests == []
    for r in (discovered, tested, synced, saved):
        assert r.exit_code == 1, r.stdout
        assert "AutoDiscoverFailed" in one_line(r.stderr)
        assert "the EWS URL found 'http://" in r.stderr and "must use https" in r.stderr
    assert cached_url(wess) is None


def _cached_then_used(wess, home, url):
    """Store ``url`` as alice's discovered EWS URL (what an older WESS cached from a
    hostile Autodiscover answer), then run test-connection and sync with it."""
    from wess_core.service import Context
    from wess_core.service.users import edit_profile

    def cache(profile, db):
        profile.discovered_ews_url = url

    edit_profile(Context(home), "alice", cache)
    return wess("test-connection", "alice"), wess("sync", "alice")


def test_http_ews_url_cached_by_an_older_version_is_refused_at_use(admin_home, emu, hostile, home):
    trap = hostile(tls=False)
    wess = autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)
    tested, synced = _cached_then_used(wess, home, trap.url("/EWS/Exchange.asmx"))

    assert trap.credentials == []
    assert trap.requests == []
    for r in (tested, synced):
        assert r.exit_code == 1
        line = one_line(r.stderr)
        assert "must use https" in line
        assert "wess discover alice" in line and "wess connection set --ews-url" in line
    # rediscovering replaces it with the real server's URL
    assert wess("discover", "alice").exit_code == 0
    assert cached_url(wess) == emu.ews_url
    assert wess("test-connection", "alice").exit_code == 0


@pytest.mark.parametrize("attack", ["redirect_url_other_host", "http_ews_url"])
def test_a_fresh_wess_process_refuses_too(admin_home, emu, hostile, home, attack):
    """The real ``wess`` in its own process (no state left by earlier in-process runs)."""
    import os
    import subprocess
    import sys

    if attack == "http_ews_url":
        trap = hostile(tls=False)
        emu.announced_ews_url = trap.url("/EWS/Exchange.asmx")
        commands = [["discover", "alice"], ["sync", "alice"]]
    else:
        trap = hostile(OTHER_HOST)
        emu.user("alice@example.com").redirect_url = trap.url()
        commands = [["discover", "alice"], ["test-connection", "alice"]]
    autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)
    env = {**os.environ, "WESS_AUTODISCOVER_DNS": "0", "WESS_HOME": str(home)}
    done = [
        subprocess.run(
            [sys.executable, "-m", "wess_core.cli", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        for argv in commands
    ]
    assert trap.credentials == []
    assert trap.requests == []
    for proc in done:
        assert proc.returncode == 1, proc.stdout
        assert "AutoDiscoverFailed" in one_line(proc.stderr)


# -- another host: no credential, and the private CA does not follow -------------------


def test_soap_redirect_url_to_another_host_is_refused(admin_home, emu, hostile):
    # the hostile host even has a certificate from the account's private CA
    trap = hostile(OTHER_HOST)
    emu.user("alice@example.com").redirect_url = trap.url()
    wess = autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)

    r = wess("discover", "alice")

    assert trap.credentials == []
    assert trap.requests == []
    assert http.trusted_ca(trap.url()) is None  # the private CA was not extended to it
    assert r.exit_code == 1
    line = one_line(r.stderr)
    assert "AutoDiscoverFailed" in line and OTHER_HOST in line
    assert "only when it is the configured host" in line
    assert cached_url(wess) is None


def test_ews_url_on_another_host_cached_earlier_is_refused_at_use(admin_home, emu, hostile, home):
    trap = hostile(OTHER_HOST)  # with a certificate from the account's private CA
    wess = autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)
    tested, synced = _cached_then_used(wess, home, trap.url("/EWS/Exchange.asmx"))

    assert trap.credentials == []
    assert trap.requests == []
    assert http.trusted_ca(trap.url()) is None
    for r in (tested, synced):
        assert r.exit_code == 1
        line = one_line(r.stderr)
        assert OTHER_HOST in line and "wess discover alice" in line


def test_private_ca_applies_inside_the_boundary_only(ews_ca):
    from wess_core.connection import Connection
    from wess_plugins.transport_ews.connect import prepare_endpoint

    connection = Connection(
        login="alice",
        exchange_email="alice@example.com",
        username=None,
        auth="direct",
        discovery="autodiscover",
        ews_url=None,
        discovered_ews_url=None,
        autodiscover_url="https://autodiscover.example.com/autodiscover/autodiscover.svc",
        ca_bundle=ews_ca.path,
    )
    inside = "https://mail.example.com:4431/EWS/Exchange.asmx"
    outside = "https://mail.example.net:4431/EWS/Exchange.asmx"
    try:
        prepare_endpoint(inside, connection)
        prepare_endpoint(outside, connection)
        assert http.trusted_ca(inside) == ews_ca.path
        assert http.trusted_ca(outside) is None
    finally:
        http.trust(inside, None)


def test_http_302_to_another_host_is_refused(admin_home, hostile, ews_ca):
    trap = hostile(OTHER_HOST)
    # the configured Autodiscover server answers every authenticated request with a 302
    redirector = hostile(location=trap.url())
    wess = autodiscover_site(admin_home, redirector.url(), ews_ca.path)

    r = wess("discover", "alice")

    assert trap.credentials == []
    assert trap.requests == []
    assert http.trusted_ca(trap.url()) is None
    assert len(redirector.credentials) == 1  # the configured host: it may have them
    assert r.exit_code == 1
    line = one_line(r.stderr)
    assert "AutoDiscoverFailed" in line and trap.url() in line


def test_redirect_address_to_a_domain_not_allowed(admin_home, emu):
    emu.user("alice@example.com").redirect_to = "alice@partner.test"
    emu.add_user("alice@partner.test", "unused-Pw-1")
    wess = autodiscover_site(admin_home, emu.autodiscover_url, emu.ca_cert)

    r = wess("discover", "alice")

    assert r.exit_code == 1
    line = one_line(r.stderr)
    assert "AutoDiscoverFailed: Autodiscover redirects alice@example.com to alice@partner.test" in (
        line
    )
    allowed = "example.com, outlook.com, office365.com"
    assert f"partner.test, outside the domains this account allows ({allowed})" in line
    setting = "autodiscover_allowed_domains example.com,outlook.com,office365.com"
    assert f"wess config set {setting},partner.test" in line
    assert emu.counts["GetUserSettings"] == 1

    # the admin allows it: followed
    r = wess("config", "set", "autodiscover_allowed_domains", "example.com,partner.test")
    assert r.exit_code == 0, r.stderr
    r = wess("discover", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["ews_url"] == emu.ews_url
    assert emu.counts["GetUserSettings"] == 3


# -- exchangelib's own DNS search: the same rule at every hop ---------------------------


@pytest.fixture
def dns_search(monkeypatch, ews_ca):
    """Autodiscover by DNS names (never public DNS: only mapped names resolve) with the
    test CA trusted like a public one (any server may hold a valid certificate)."""
    from exchangelib.autodiscover import autodiscover_cache

    monkeypatch.setenv("WESS_AUTODISCOVER_DNS", "1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ews_ca.path)
    autodiscover_cache.clear()
    yield lambda names: loopback_names(monkeypatch, names)
    autodiscover_cache.clear()


def test_dns_search_redirect_to_another_domain_is_refused(admin_home, hostile, dns_search):
    evil = "autodiscover.evil.test"
    trap = hostile(OTHER_HOST, names=(evil,))
    target = f"https://{evil}/autodiscover/autodiscover.svc"
    # https://example.com/autodiscover/... (the first name tried) redirects to evil.test
    redirector = hostile(names=("example.com",), location=target)
    dns_search(
        {("example.com", 443): ("127.0.0.1", redirector.port), (evil, 443): (OTHER_HOST, trap.port)}
    )
    wess = admin_home
    r = wess("users", "set", "alice", "--password-stdin", "--no-verify", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr

    r = wess("discover", "alice")

    assert trap.credentials == []
    assert trap.requests == []  # not even exchangelib's unauthenticated HEAD probe
    assert len(redirector.credentials) == 1  # the e-mail's own domain
    assert r.exit_code == 1
    line = one_line(r.stderr)
    assert "AutoDiscoverFailed" in line and f"is on {evil}, outside the domains" in line
    setting = "autodiscover_allowed_domains example.com,outlook.com,office365.com"
    assert f"wess config set {setting},evil.test" in line

    # allowed by the admin, the same redirect is followed: the trap was reachable
    r = wess("config", "set", "autodiscover_allowed_domains", "example.com,evil.test")
    assert r.exit_code == 0, r.stderr
    wess("discover", "alice")
    assert len(trap.credentials) == 1


def test_dns_search_unauthenticated_http_redirect_to_another_domain(
    admin_home, hostile, dns_search
):
    """Step 3 of the walk: GET http://autodiscover.DOMAIN answers 302 to anywhere."""
    evil = "mail.evil.test"
    trap = hostile(OTHER_HOST, names=(evil,))
    plain = hostile(
        tls=False, location=f"https://{evil}/autodiscover/autodiscover.svc", redirect_anyone=True
    )
    dns_search(
        {
            ("autodiscover.example.com", 80): ("127.0.0.1", plain.port),
            (evil, 443): (OTHER_HOST, trap.port),
        }
    )
    wess = admin_home
    wess("users", "set", "alice", "--password-stdin", "--no-verify", input=ALICE_PW)

    r = wess("discover", "alice")

    assert trap.credentials == []
    assert trap.requests == []
    assert plain.credentials == []  # the walk's plain-HTTP step never carries them
    assert r.exit_code == 1
    assert f"is on {evil}, outside the domains" in one_line(r.stderr)


# -- the last line of defence: the adapter itself --------------------------------------


def _user_settings(url: str, credentials) -> None:
    from exchangelib import BASIC, Configuration, FailFast
    from exchangelib.autodiscover.protocol import AutodiscoverProtocol

    adapter.install()
    protocol = AutodiscoverProtocol(
        config=Configuration(
            service_endpoint=url, credentials=credentials, auth_type=BASIC, retry_policy=FailFast()
        )
    )
    try:
        protocol.get_user_settings(user="alice@example.com")
    finally:
        protocol.close()


def test_adapter_never_sends_credentials_over_http(hostile):
    from exchangelib import Credentials

    trap = hostile(tls=False)
    with pytest.raises(endpoints.CredentialRefused, match="it is not HTTPS"):
        _user_settings(trap.url(), Credentials("alice@example.com", ALICE_PW))
    assert trap.requests == []


def test_adapter_refuses_a_host_outside_the_boundary_during_discovery(hostile, ews_ca):
    from exchangelib import Credentials

    trap = hostile(OTHER_HOST)
    adapter.trust(trap.url(), ews_ca.path)  # even with the CA trusted for it
    limits = endpoints.make_boundary(["https://127.0.0.1/x"], ["alice@example.com"])
    try:
        with endpoints.guarding(limits), pytest.raises(endpoints.CredentialRefused):
            _user_settings(trap.url(), Credentials("alice@example.com", ALICE_PW))
    finally:
        http.trust(trap.url(), None)
    assert trap.requests == []


# -- the setting and the boundary's rules ---------------------------------------------


def test_allowed_domains_setting(admin_home):
    wess = admin_home
    assert wess("config", "show", "--json").json["autodiscover_allowed_domains"] == []
    r = wess("config", "set", "autodiscover_allowed_domains", "Example.com, *.partner.test")
    assert r.exit_code == 0, r.stderr
    shown = wess("config", "show", "--json").json["autodiscover_allowed_domains"]
    assert shown == ["example.com", "partner.test"]
    for bad in ("10.0.0.1", "com", "https://x.test", "a..b"):
        r = wess("config", "set", "autodiscover_allowed_domains", bad)
        assert r.exit_code == 2, bad
        assert "autodiscover_allowed_domains" in one_line(r.stderr)
    assert wess("config", "set", "autodiscover_allowed_domains", "").exit_code == 0
    assert wess("config", "show", "--json").json["autodiscover_allowed_domains"] == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://autodiscover.example.com/autodiscover/autodiscover.svc", True),
        ("https://example.com/autodiscover/autodiscover.svc", True),
        ("https://mail.corp.example.net/EWS/Exchange.asmx", True),  # the configured host's
        ("https://10.1.2.3/EWS/Exchange.asmx", True),  # configured IP
        ("https://10.1.2.4/EWS/Exchange.asmx", False),  # another IP
        ("https://example.com.evil.test/EWS/Exchange.asmx", False),
        ("https://notexample.com/EWS/Exchange.asmx", False),
        ("https://other.co.uk/EWS/Exchange.asmx", False),
        ("http://example.com/EWS/Exchange.asmx", False),
        ("https://a:b@example.com/EWS/Exchange.asmx", False),
        ("https://example.com:0/EWS/Exchange.asmx", False),
        ("https://autodiscover-s.outlook.com/autodiscover/autodiscover.svc", True),
        ("https://outlook.office365.com/EWS/Exchange.asmx", True),
        ("https://outlook.office365.com.evil.test/EWS/Exchange.asmx", False),
    ],
)
def test_default_boundary(url, allowed):
    limits = endpoints.make_boundary(
        [
            "https://ad.corp.example.net/autodiscover/autodiscover.svc",
            "https://10.1.2.3/EWS/Exchange.asmx",
            "https://shop.example.co.uk/EWS/Exchange.asmx",
        ],
        ["alice@example.com"],
    )
    assert limits.domains == (
        "corp.example.net",
        "example.co.uk",
        "example.com",
        "outlook.com",
        "office365.com",
    )
    assert (limits.refusal(url) is None) is allowed
