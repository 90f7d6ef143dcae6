"""A hostile web server for the trust-boundary tests, and loopback names for DNS.

:class:`HostileServer` logs every request it gets (method, path, ``Authorization``
header) and answers as a credential phisher would: ``401`` with ``WWW-Authenticate:
Basic`` to a request without credentials (so a client that probes first sends them
next), then ``302`` to ``location`` when set, else ``500``. Plain HTTP or HTTPS with a
certificate from the test CA for the names given. Threads are daemons; ``stop`` ends
them; every request is bounded by a socket timeout.

:func:`loopback_names` maps host names to loopback servers without touching
``/etc/hosts`` or public DNS: ``socket.getaddrinfo`` (what urllib3 connects through)
answers the mapped ``(name, port)`` pairs with a loopback address and the server's
real port and refuses every other name, and dnspython's resolver (exchangelib's A and
SRV look-ups) knows only the mapped names.
"""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    authorization: str | None


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = 10
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        auth = self.headers.get("Authorization")
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(Request(self.command, self.path, auth))
        if owner.location and (auth or owner.redirect_anyone):
            self.send_response(302)
            self.send_header("Location", owner.location)
        elif not auth:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="hostile"')
        else:
            self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = _answer


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: HostileServer

    def finish_request(self, request, client_address):
        request.settimeout(10)
        if self.owner.context is not None:
            try:
                request = self.owner.context.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return  # a client that does not trust us: nothing to log
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client hanging up mid-request is not the test's business


class HostileServer:
    """Records what it receives; see the module docstring."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        ca=None,
        names: tuple[str, ...] = (),
        location: str | None = None,
        redirect_anyone: bool = False,
    ) -> None:
        self.host = host
        self.location = location
        self.redirect_anyone = redirect_anyone
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.context: ssl.SSLContext | None = None
        if ca is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ca.leaf(*(names or (host,))).configure_cert(self.context)
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"hostile-{host}-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def scheme(self) -> str:
        return "https" if self.context is not None else "http"

    def url(self, path: str = "/autodiscover/autodiscover.svc") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    @property
    def credentials(self) -> list[str]:
        """Every Authorization header received (what must stay empty)."""
        with self.lock:
            return [r.authorization for r in self.requests if r.authorization]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def loopback_names(monkeypatch, names: dict[tuple[str, int], tuple[str, int]]) -> None:
    """``{(name, port): (loopback ip, real port)}``: see the module docstring."""
    import dns.rdatatype
    import dns.resolver

    real_getaddrinfo = socket.getaddrinfo
    known = {name for name, _ in names}

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        key = ((name or "").lower().rstrip("."), int(port or 0))
        if key in names:
            ip, real_port = names[key]
            return real_getaddrinfo(ip, real_port, *args, **kwargs)
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in (name or "") else socket.AF_INET, name)
        except (OSError, TypeError):
            if name not in (None, "localhost"):
                raise socket.gaierror(socket.EAI_NONAME, f"{name}: not a test name") from None
        return real_getaddrinfo(host, port, *args, **kwargs)

    def resolve(self, qname, rdtype="A", *args, **kwargs):
        name = str(qname).rstrip(".").lower().split(":")[0]  # exchangelib passes HOST:PORT
        if dns.rdatatype.RdataType.make(rdtype) == dns.rdatatype.A and name in known:
            return [name]
        raise dns.resolver.NXDOMAIN()

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(dns.resolver.Resolver, "resolve", resolve)
