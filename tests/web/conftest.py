"""A WESS home for the web tests, set up through the CLI, its account pointing at the EWS
emulator; ``serve`` starts ``wess serve`` on it (stopped with SIGTERM afterwards)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.web import (
    ADMIN_WEB_PW,
    ALICE_WEB_PW,
    BOB_WEB_PW,
    WebServer,
    start_server,
)


@pytest.fixture
def web_home(admin_home, emu, home):
    """alice (licensed, sync enabled, no Exchange password yet) and bob with web
    passwords, the web admin ``root``; the account's EWS URL is the emulator's."""
    wess = admin_home
    trust = ("--ca-bundle", emu.ca_cert, "--skip-check")
    assert wess("connection", "set", "--ews-url", emu.ews_url, *trust).exit_code == 0
    assert wess("users", "enable", "alice").exit_code == 0
    for login, pw in (("alice", ALICE_WEB_PW), ("bob", BOB_WEB_PW)):
        r = wess("users", "set", login, "--web-password-stdin", input=pw + "\n")
        assert r.exit_code == 0, r.stderr
    assert wess("admins", "add", "root", "--password-stdin", input=ADMIN_WEB_PW).exit_code == 0
    return wess


@pytest.fixture
def serve(web_home, home, tmp_path) -> Iterator[Callable[..., WebServer]]:
    """``serve(*args)``: a running ``wess serve``; each ends by SIGTERM and must exit 0."""
    started: list[WebServer] = []

    def start(*args: str) -> WebServer:
        server = start_server(home, tmp_path / f"serve-{len(started)}.log", *args)
        started.append(server)
        return server

    yield start
    for server in started:
        assert server.stop() == 0, server.log()
