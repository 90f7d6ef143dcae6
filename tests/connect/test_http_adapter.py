"""The adapter of ``wess_core.http`` reads each answer itself (for the size cap and the
deadline) and hands requests exactly what requests would have read: the decoded body, and
the cookies for the session's jar (Exchange's affinity cookies ride there)."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from wess_core import deadlines, http

BODY = bytes(range(256)) * 4096  # 1 MiB, several chunks


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        packed = gzip.compress(BODY)
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(packed)))
        self.send_header("Set-Cookie", "X-BackEndCookie=affinity-1; Path=/")
        self.end_headers()
        self.wfile.write(packed)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/answer"
    finally:
        server.shutdown()
        server.server_close()


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", http.TrustAdapter())
    return session


def test_the_body_and_the_cookies_reach_requests_as_they_would_without_the_adapter(url):
    plain = requests.Session()
    plain.trust_env = False
    expected = plain.get(url, timeout=10)
    with _session() as session:
        answer = session.get(url, timeout=10)
        assert answer.content == expected.content == BODY
        assert answer.headers["Content-Encoding"] == "gzip"
        assert session.cookies.get("X-BackEndCookie") == "affinity-1"
        assert answer.cookies.get("X-BackEndCookie") == "affinity-1"
        assert session.get(url, timeout=10).content == BODY  # and the next answer too


def test_the_cap_applies_to_the_decoded_body(url):
    with (
        _session() as session,
        deadlines.scope(max_response_mib=0.5),
        pytest.raises(deadlines.ResponseTooLarge, match="larger than 0.5 MiB"),
    ):
        session.get(url, timeout=10)  # 1 MiB decoded, far less on the wire
