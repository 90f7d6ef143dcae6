"""A hostile HTTPS server for deadline tests: it answers slowly or without end.

``TrickleServer(ca, mode="trickle")`` listens on 127.0.0.1 with a certificate from the
test CA (so TLS is verified as with the emulator), reads each request, sends a valid
HTTP header announcing a body, then one body byte every ``interval`` seconds. Each
read the client makes is answered well within any per-read timeout, so only an
overall deadline ends the request (``mode="headers"``: the header itself trickles,
one byte of a never-ending header line at a time). ``mode="huge"`` sends ``huge_mib`` MiB as fast as
the client reads, as a body that ends when the connection closes (with
``announce_length``: a Content-Length says how much is coming). Both are bounded: a
connection is dropped after ``limit`` seconds or once the client hangs up, and
:meth:`stop` ends them all.
``sent`` counts the body bytes written, ``connections`` the requests served.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from typing import Any

__all__ = ["TrickleServer"]


class TrickleServer:
    def __init__(
        self,
        ca: Any,
        mode: str = "trickle",
        interval: float = 1.0,
        limit: float = 60.0,
        huge_mib: int = 256,
        announce_length: bool = False,
    ) -> None:
        self.mode = mode
        self.interval = interval
        self.limit = limit
        self.huge_mib = huge_mib
        self.announce_length = announce_length
        self.sent = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.leaf("127.0.0.1", "localhost").configure_cert(self._context)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}/EWS/Exchange.asmx"
        self._threads: list[threading.Thread] = []

    def start(self) -> TrickleServer:
        thread = threading.Thread(target=self._accept, daemon=True, name="trickle-accept")
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(timeout=5)
        self._listener.close()

    def __enter__(self) -> TrickleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        ends = time.monotonic() + self.limit
        raw.settimeout(5)
        with contextlib.suppress(OSError, ssl.SSLError), raw:
            conn = self._context.wrap_socket(raw, server_side=True)
            with conn:
                while not self._stop.is_set() and time.monotonic() < ends:
                    if not self._read_request(conn):
                        return
                    with self._lock:
                        self.connections += 1
                    if self.mode == "huge":
                        self._huge(conn, ends)
                    elif self.mode == "headers":
                        self._trickle(conn, ends, start=b"HTTP/1.1 200 OK\r\nX-Slow: ", byte=b"a")
                    else:
                        self._trickle(conn, ends)
                    return

    def _read_request(self, conn: ssl.SSLSocket) -> bool:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            body += chunk
        return True

    def _trickle(
        self, conn: ssl.SSLSocket, ends: float, *, start: bytes = b"", byte: bytes = b" "
    ) -> None:
        """Send ``start`` (by default a 200 head announcing a long body), then ``byte``
        every ``interval`` seconds until ``ends`` or stop."""
        conn.sendall(
            start
            or b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
            b"Content-Length: 1000000\r\n\r\n<"
        )
        while not self._stop.is_set() and time.monotonic() < ends:
            if self._stop.wait(self.interval):
                return
            conn.sendall(byte)
            with self._lock:
                self.sent += 1

    def _huge(self, conn: ssl.SSLSocket, ends: float) -> None:
        total = self.huge_mib * 1024 * 1024
        length = f"Content-Length: {total}" if self.announce_length else "Connection: close"
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
            + f"{length}\r\n\r\n".encode()
        )
        block = b"<a>" + b" " * (1024 * 1024 - 3)
        left = total
        while left > 0 and not self._stop.is_set() and time.monotonic() < ends:
            piece = block[: min(len(block), left)]
            conn.sendall(piece)
            left -= len(piece)
            with self._lock:
                self.sent += len(piece)
