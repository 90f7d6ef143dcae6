"""exchangelib's sessions prepare requests without requests' generic merging, and the
requests they prepare are the ones requests itself would have prepared."""

from __future__ import annotations

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.auth import HTTPBasicAuth

from wess_core import tls
from wess_core.lean_session import LeanSession, make_lean

URL = "https://mail.example.com/EWS/Exchange.asmx"


class _SigningAuth(requests.auth.AuthBase):
    """An auth that changes headers and registers a response hook, as NTLM does."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["X-Signed"] = str(len(r.body or b""))
        r.register_hook("response", self.on_response)
        return r

    def on_response(self, response, **kwargs):  # pragma: no cover - compared, not called
        return response


_SIGNING = _SigningAuth()


def _sessions(configure) -> tuple[requests.Session, requests.Session]:
    plain, lean = requests.Session(), make_lean(requests.Session())
    for s in (plain, lean):
        s.trust_env = False
        s.headers.update({"Content-Type": "text/xml; charset=utf-8", "User-Agent": "ua/1"})
        configure(s)
    return plain, lean


def _wire(p: requests.PreparedRequest) -> tuple:
    """Everything of a prepared request that reaches the server or the response hooks."""
    return (p.method, p.url, list(p.headers.items()), p.body, p.hooks, p._cookies.items())


def _same(configure, monkeypatch, lean_path=True, **request) -> None:
    plain, lean = _sessions(configure)
    assert isinstance(lean, LeanSession)
    build = dict(method="POST", url=URL, data=b"<soap/>") | request
    expected = plain.prepare_request(requests.Request(**build))
    with monkeypatch.context() as m:
        if lean_path:  # requests' own preparation must not be what made it right

            def generic(*args, **kwargs):
                raise AssertionError("prepared by requests.Session.prepare_request")

            m.setattr(requests.Session, "prepare_request", generic)
        got = lean.prepare_request(requests.Request(**build))
    assert _wire(got) == _wire(expected)


def _basic(s):
    s.auth = HTTPBasicAuth("alice@example.com", "pw")


def _cookie(s):
    _basic(s)
    s.cookies.set("X-BackEndCookie", "abc", domain="mail.example.com", path="/EWS")


CASES = {
    "basic auth": (_basic, {}),
    "auth tuple": (lambda s: setattr(s, "auth", ("a", "b")), {}),
    "auth that signs and hooks": (lambda s: setattr(s, "auth", _SIGNING), {}),
    "request auth wins": (_basic, {"auth": ("other", "pw")}),
    "credentials in the URL": (lambda s: None, {"url": "https://u:p@mail.example.com/EWS/x"}),
    "a session cookie": (_cookie, {}),
    "headers override in other case": (_basic, {"headers": {"content-type": "text/plain"}}),
    "a None header drops the session's": (_basic, {"headers": {"User-Agent": None}}),
    "str body": (_basic, {"data": "<soap>é</soap>"}),
    "unicode URL": (_basic, {"url": "https://bücher.example/EWS/ä x.asmx"}),
    "a response hook": (_basic, {"hooks": {"response": [print]}}),
    # not plain: requests' own preparation, still the same
    "params": (_basic, {"params": {"a": "1"}}),
    "json": (_basic, {"data": None, "json": {"a": 1}}),
    "request cookies": (_basic, {"cookies": {"c": "1"}}),
    "form data": (_basic, {"data": {"a": "1"}}),
}


NOT_PLAIN = {"params", "json", "request cookies", "form data"}


@pytest.mark.parametrize("name", CASES)
def test_prepared_requests_are_the_ones_requests_prepares(name, monkeypatch):
    configure, request = CASES[name]
    _same(configure, monkeypatch, lean_path=name not in NOT_PLAIN, **request)


_header_names = st.sampled_from(
    [
        "Content-Type",
        "content-type",
        "User-Agent",
        "X-AnchorMailbox",
        "Prefer",
        "Accept",
        "accept-encoding",
    ]
)
_header_values = st.none() | st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=20
).filter(lambda v: v == v.strip())


@settings(max_examples=200, deadline=None)
@given(
    session_headers=st.dictionaries(_header_names, _header_values, max_size=4),
    request_headers=st.dictionaries(_header_names, _header_values, max_size=4),
    body=st.binary(max_size=64),
)
def test_any_headers_merge_as_requests_merges_them(session_headers, request_headers, body):
    def configure(s):
        _basic(s)
        s.headers.update(session_headers)

    with pytest.MonkeyPatch.context() as monkeypatch:
        _same(configure, monkeypatch, headers=request_headers, data=body)


def test_exchangelib_sessions_are_lean_and_talk_to_the_server(ews_account):
    tls.install()
    session = ews_account.protocol.create_session()
    try:
        assert isinstance(session, LeanSession)
    finally:
        session.close()
    assert ews_account.inbox.all().count() == 0  # a real request over the lean session


def test_a_session_subclass_keeps_its_own_preparation():
    class OAuthLike(requests.Session):
        pass

    assert type(make_lean(OAuthLike())) is OAuthLike


@pytest.mark.parametrize(
    ("session_proxies", "proxies", "stream", "verify", "cert"),
    [
        ({}, {}, False, None, None),
        ({}, {}, None, "/ca.pem", ("c.pem", "k.pem")),
        ({"https": "http://p:3128", "http": None}, {"https": None, "ftp": "x"}, True, False, None),
        ({"https": "http://a:1"}, {"https": "http://b:2"}, None, None, "c.pem"),
    ],
)
def test_environment_settings_merge_as_requests_merges_them(
    monkeypatch, session_proxies, proxies, stream, verify, cert
):
    plain, lean = _sessions(lambda s: setattr(s, "proxies", dict(session_proxies)))
    expected = plain.merge_environment_settings(URL, dict(proxies), stream, verify, cert)
    monkeypatch.setattr(requests.Session, "merge_environment_settings", None)  # not used
    got = lean.merge_environment_settings(URL, dict(proxies), stream, verify, cert)
    assert got == expected
