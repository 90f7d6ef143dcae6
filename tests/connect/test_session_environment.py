"""exchangelib's HTTP sessions read the environment as requests does (proxies, CA bundle,
netrc), and the account's CA still verifies its server whatever the environment says."""

from __future__ import annotations

import requests

from wess_plugins.transport_ews import adapter


def _env_settings(session: requests.Session, url: str) -> dict:
    return session.merge_environment_settings(url, {}, None, None, None)


def test_exchangelib_sessions_read_the_environment_as_requests_does(
    monkeypatch, ews_account, tmp_path
):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    adapter.install()
    protocol = ews_account.protocol
    session = protocol.create_session()
    try:
        fresh = requests.Session()  # what requests would use, reading the environment
        url = protocol.service_endpoint
        assert _env_settings(session, url) == _env_settings(fresh, url)
        assert _env_settings(session, url)["verify"] == str(bundle)
        other = "https://mail.example.net/EWS/Exchange.asmx"
        assert _env_settings(session, other)["proxies"]["https"] == "http://proxy.example:3128"
    finally:
        session.close()
    ews_account.inbox.all().count()  # requests still verify against the emulator's CA
