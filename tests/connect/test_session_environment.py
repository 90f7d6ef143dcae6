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
