"""exchangelib's HTTP sessions read the environment once (proxies, CA bundle, netrc) rather
than on every request, and only when that cannot change what a request does."""

from __future__ import annotations

import sys

import pytest
import requests

from wess_core import tls

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    import os

    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("NETRC", raising=False)
    return monkeypatch


def _env_settings(session: requests.Session, url: str) -> dict:
    return session.merge_environment_settings(url, {}, None, None, None)


def test_exchangelib_sessions_are_settled_and_behave_the_same(clean_env, ews_account, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    tls.install()
    protocol = ews_account.protocol
    session = protocol.create_session()
    try:
        assert session.trust_env is False
        fresh = requests.Session()  # what requests would use, reading the environment
        url = protocol.service_endpoint
        assert _env_settings(session, url) == _env_settings(fresh, url)
        assert _env_settings(session, url)["verify"] == str(bundle)
    finally:
        session.close()
    ews_account.inbox.all().count()  # requests still verify against the emulator's CA


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "NO_PROXY", "all_proxy"])
def test_a_proxy_variable_leaves_the_session_reading_the_environment(clean_env, name):
    clean_env.setenv(name, "http://proxy.example:3128")
    session = tls.settle_environment(requests.Session())
    assert session.trust_env is True
    assert session.verify is True


def test_a_netrc_file_leaves_the_session_reading_the_environment(clean_env, tmp_path):
    (tmp_path / ".netrc").write_text("machine x login a password b\n")
    assert tls.settle_environment(requests.Session()).trust_env is True
    (tmp_path / ".netrc").unlink()
    settled = tls.settle_environment(requests.Session())
    assert settled.trust_env is False and settled.verify is True


def test_users_of_one_server_share_its_connections(ews_server, ews_account_factory):
    """Basic-auth requests of different users go over one pooled connection: one TLS
    handshake for both, and each still reads only their own mailbox."""
    from wess_core.strategies import NewItem
    from wess_plugins.transport_ews.transport import EwsTransport

    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    tls.install()
    alice = EwsTransport(connection=None, account=ews_account_factory())
    bob = EwsTransport(
        connection=None, account=ews_account_factory("bob@example.com", "Bob-Pass-1")
    )
    ews_server.reset_counts()
    for _ in range(3):
        for transport in (alice, bob):
            for folder in ("contacts", "tasks"):
                assert transport.changes(folder, None).changes == []
    assert ews_server.counts["SyncFolderItems"] == 12
    assert ews_server.handshakes == 1  # one connection served both users
    alice.create("contacts", [NewItem(fields={"given_name": "Ann"}, crm_id="crm-a")])
    assert [c.item.crm_id for c in alice.changes("contacts", None).changes] == ["crm-a"]
    assert bob.changes("contacts", None).changes == []


def test_connection_bound_auth_keeps_its_own_connection():
    class Request:
        url = "https://exchange.example/EWS/Exchange.asmx"

        def __init__(self, auth):
            self.headers = {"Authorization": auth} if auth else {}

    assert tls._shareable(Request("Basic YTpi"), {}, None)
    assert tls._shareable(Request("Bearer t0ken"), None, None)
    for auth in (None, "NTLM TlRMTVNTUAAB", "Negotiate YII="):
        assert not tls._shareable(Request(auth), {}, None)
    assert not tls._shareable(Request("Basic YTpi"), {"https": "http://proxy:3128"}, None)
    assert not tls._shareable(Request("Basic YTpi"), {}, ("c.pem", "k.pem"))
