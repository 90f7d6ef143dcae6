"""The HTTP layer: a threading HTTPS server on loopback whose handler passes every
request to the emulator, and the request body reader with its size limit."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .soap import XML_HEADERS, fault_bytes
from .xmlutil import MAX_BODY_BYTES

log = logging.getLogger(__name__)


class HttpResponse(Exception):
    """Raised inside request handling to answer with a given HTTP response."""

    def __init__(self, status: int, body: bytes = b"", headers=None, close=False):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.close = close


class ConnectionReset(Exception):
    """The connection was dropped on purpose (an injected fault): send nothing more."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = 30

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def do_POST(self):
        self.server.emulator.dispatch(self, "POST")

    def do_GET(self):
        self.server.emulator.dispatch(self, "GET")

    def do_PATCH(self):
        self.server.emulator.dispatch(self, "PATCH")

    def do_DELETE(self):
        self.server.emulator.dispatch(self, "DELETE")

    def do_HEAD(self):
        self.server.emulator.dispatch(self, "HEAD")

    def send_raw(self, status: int, body: bytes, headers: dict, head_only=False) -> None:
        """Write status line, headers and body in one buffered write (no Nagle stalls)."""
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", "Server: Microsoft-IIS/10.0"]
        lines.append(f"Date: {self.date_time_string()}")
        for k, v in headers.items():
            if isinstance(v, list | tuple):
                lines.extend(f"{k}: {x}" for x in v)
            else:
                lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if head_only else head + body)

    def send_chunked(self, status: int, chunks, headers: dict) -> None:
        """A streaming answer: each chunk written (and sent) as soon as it is made."""
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", "Server: Microsoft-IIS/10.0"]
        lines.append(f"Date: {self.date_time_string()}")
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        lines.append("Transfer-Encoding: chunked")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True


class HttpServer(ThreadingHTTPServer):
    """TLS on each accepted connection (in its thread), and the open connections kept so
    that stopping the server closes them too."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, emulator, ssl_context):
        self.emulator = emulator
        self.ssl_context = ssl_context
        self.active: set = set()
        self.active_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.settimeout(10)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            request.close()
            return
        self.emulator.count_handshake()
        with self.active_lock:
            self.active.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self.active_lock:
                self.active.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log.debug("Connection error from %s", client_address, exc_info=True)

    def close_active(self):
        with self.active_lock:
            conns = list(self.active)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def read_body(handler: Handler) -> bytes:
    """The request body (Content-Length or chunked), refused beyond ``MAX_BODY_BYTES``."""
    te = (handler.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        chunks, total = [], 0
        for _ in range(100000):
            line = handler.rfile.readline(1024)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline(1024)
                break
            total += size
            if total > MAX_BODY_BYTES:
                raise _too_large()
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline(1024)
        return b"".join(chunks)
    try:
        length = int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        raise HttpResponse(400, b"Bad Content-Length", close=True) from None
    if length > MAX_BODY_BYTES:
        raise _too_large()
    return handler.rfile.read(length) if length else b""


def _too_large() -> HttpResponse:
    body = fault_bytes(
        "ErrorInvalidRequest",
        f"The request body exceeds the {MAX_BODY_BYTES} byte limit.",
    )
    return HttpResponse(413, body, dict(XML_HEADERS), close=True)
