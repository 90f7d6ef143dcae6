"""A real redis-server for the tests and the bench: started on a free 127.0.0.1 port in a
temporary folder, no persistence (``--save ''``, ``--appendonly no``), answering PING
before it is handed out; ``restart`` brings it back on the same port (a Redis outage), and
``stop`` ends it and removes its folder.

A machine without redis-server gets one line saying how to install it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL = "apt-get install redis-server (Debian/Ubuntu; .ci/run does it when missing)"
#: How long a started server has to answer PING.
START_SECONDS = 10.0


class RedisMissing(RuntimeError):
    """redis-server is not installed."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pings(port: int) -> bool:
    """True when a Redis server on ``port`` answers PING (raw RESP: no client needed)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process; ``url`` for clients (database 0)."""

    def __init__(self, *, persistent: bool = False) -> None:
        program = shutil.which("redis-server")
        if program is None:
            raise RedisMissing(f"redis-server is not installed: {INSTALL}")
        self.program = program
        self.persistent = persistent
        self.root = Path(tempfile.mkdtemp(prefix="wess-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        argv = [self.program, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.root), "--protected-mode", "no", "--daemonize", "no"]
        argv += ["--logfile", str(self.root / "log"), "--databases", "16"]
        if self.persistent:
            return [*argv, "--appendonly", "yes", "--appendfsync", "no"]
        return [*argv, "--save", "", "--appendonly", "no"]

    def start(self) -> None:
        """Start the server (again, after ``stop``) on its port; wait for PING."""
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            self._argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + START_SECONDS
        while not _pings(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.root / "log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                self.kill()
                raise RuntimeError(f"redis-server did not start on port {self.port}: {tail}")
            time.sleep(0.02)

    def kill(self) -> None:
        """End the server at once (as a crash would); its folder stays for a restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        """Stop the server at once and start it again on the same port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """End the server and remove its folder."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
