"""``wess serve`` for the web tests: a real server process (or, for a test plugin that
must live in the test process, a thread), found through the JSON line it prints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: Passwords the web tests use; none may appear in a response or the server's log.
ADMIN_WEB_PW = "Root-Web-Pw-1"
ALICE_WEB_PW = "Alice-Web-Pw-1"
BOB_WEB_PW = "Bob-Web-Pw-1"
WEB_SECRETS = (ADMIN_WEB_PW, ALICE_WEB_PW, BOB_WEB_PW)


@dataclass
class WebServer:
    url: str
    log_path: Path | None = None
    process: subprocess.Popen | None = None
    responses: list[str] = field(default_factory=list)

    def client(self) -> httpx.Client:
        """A client that keeps every response's text (for the no-secret checks)."""

        def keep(response: httpx.Response) -> None:
            response.read()
            self.responses.append(str(response.headers) + response.text)

        return httpx.Client(base_url=self.url, timeout=60, event_hooks={"response": [keep]})

    def login(self, login: str, password: str) -> tuple[httpx.Client, dict]:
        """A client logged in as ``login``, and the session document."""
        client = self.client()
        r = client.post("/api/session", json={"login": login, "password": password})
        assert r.status_code == 200, r.text
        return client, r.json()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""

    def stop(self) -> int | None:
        """SIGTERM, as a service manager stops it; the exit status."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_server(home: Path, log_path: Path, *args: str) -> WebServer:
    """``wess serve --port 0 ARGS`` for ``home``; returns once it printed its URL."""
    argv = [sys.executable, "-m", "wess_core.cli", "--home", str(home), "serve", "--port", "0"]
    env = {**os.environ, "WESS_AUTODISCOVER_DNS": "0"}
    env.pop("WESS_SECRET_KEY", None)
    log = open(log_path, "wb")  # the child writes to it until it ends
    proc = subprocess.Popen([*argv, *args], stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    log.close()
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        raise AssertionError(f"wess serve exited {proc.returncode}: {log_path.read_text()}")
    return WebServer(json.loads(line)["url"], log_path, proc)


class ThreadServer:
    """The app on uvicorn in a thread of the test process (plugins registered here apply)."""

    def __init__(self, home: Path, session_seconds: float = 3600) -> None:
        import uvicorn

        from wess_web.app import create_app
        from wess_web.server import bind, url_of

        app = create_app(home, session_seconds=session_seconds, secure_cookies=False)
        self._sock = bind("127.0.0.1", 0)
        self.web = WebServer(url_of(self._sock))
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> WebServer:
        self._thread.start()
        return self.web

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


def autodiscover_on_emulator(wess, emu, alice_password: str) -> None:
    """The account discovers by autodiscover at the emulator; alice's Exchange password is
    stored unchecked (the discovery is what the test checks)."""
    trust = ("--ca-bundle", emu.ca_cert, "--skip-check")
    r = wess("connection", "set", "--autodiscover-url", emu.autodiscover_url, *trust)
    assert r.exit_code == 0, r.stderr
    r = wess("connection", "set", "--discovery", "autodiscover", "--skip-check")
    assert r.exit_code == 0, r.stderr
    r = wess("users", "set", "alice", "--password-stdin", "--skip-check", input=alice_password)
    assert r.exit_code == 0, r.stderr
