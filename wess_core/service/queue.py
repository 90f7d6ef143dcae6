"""The scheduler's board, which ``wess status`` reads to show who is waiting, who is
running, and on which server; and the server key a user's sync counts against in
``throttle_cap`` (the scheduler, ``wess_core.service.scheduler``, holds the cap).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from wess_core import plugins
from wess_core.models import Account, UserProfile
from wess_core.service.context import Context
from wess_core.tables import core_tables
from wess_core.tables.schema import boards

BOARD = "scheduler"
WRITE_EVERY_SECONDS = 0.5


def server_of(account: Account, profile: UserProfile) -> str:
    """Which server (and service account) a user's sync talks to, without any request."""
    url = profile.ews_url or (account.ews_url if account.discovery == "manual" else None)
    url = url or profile.discovered_ews_url
    if url:
        parts = urlsplit(url)
        host = f"{parts.hostname}:{parts.port or 443}"
    else:
        host = "autodiscover:" + profile.effective_exchange_email.rpartition("@")[2]
    auth = profile.auth or account.auth
    methods = plugins.auth_methods()
    if auth in methods and getattr(methods.get(auth), "uses_service_credentials", False):
        # one service principal for every user: count its connections together
        name = getattr(methods.get(auth), "principal_setting", None)
        principal = (account.strategy_settings.get(auth) or {}).get(name) if name else None
        return f"{host} as {principal or auth}"
    return host


class Queue:
    """The board of one scheduler pass: who waits, who runs, on which server."""

    def __init__(
        self,
        ctx: Context,
        cap: int,
        servers: dict[str, str],
        waiting: Iterable[str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.cap = cap
        self.servers = servers  # login -> server key
        self._lock = threading.Lock()
        #: Who this pass syncs (default: everyone in ``servers``).
        self.waiting: set[str] = set(servers if waiting is None else waiting)
        self.running: dict[str, str] = {}
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._last_write = 0.0

    def begin(self, login: str) -> None:
        """``login`` was handed to a worker and runs (the scheduler counts the cap)."""
        with self._lock:
            self.waiting.discard(login)
            self.running[login] = self.servers[login]
        self.publish()

    def requeue(self, login: str) -> None:
        """``login`` waits again (a change streamed in: one more sync this pass)."""
        with self._lock:
            self.waiting.add(login)

    def end(self, login: str) -> None:
        with self._lock:
            self.running.pop(login, None)
        self.publish()

    def done(self, login: str) -> None:
        with self._lock:
            self.waiting.discard(login)

    def snapshot(self, active: bool = True) -> dict[str, Any]:
        with self._lock:
            per_server: dict[str, dict[str, int]] = {}
            for login, key in self.servers.items():
                entry = per_server.setdefault(key, {"running": 0, "waiting": 0, "cap": self.cap})
                if login in self.running:
                    entry["running"] += 1
                elif login in self.waiting:
                    entry["waiting"] += 1
            return {
                "active": active,
                "started": self.started,
                "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "running": sorted(self.running),
                "waiting": sorted(self.waiting),
                "servers": per_server,
            }

    def publish(self, force: bool = False, active: bool = True) -> None:
        """Write the board at most every half second (and always when forced)."""
        now = time.monotonic()
        if not force and now - self._last_write < WRITE_EVERY_SECONDS:
            return
        self._last_write = now
        board = self.snapshot(active)
        try:
            write_board(self.ctx, board)
        except Exception:  # the board is informative: never fail a sync over it
            pass


def write_board(ctx: Context, board: dict[str, Any]) -> None:
    """Replace the board ``wess status`` shows (table ``boards``, one row)."""
    with core_tables(ctx.home).write() as conn:
        conn.execute(sa.delete(boards).where(boards.c.name == BOARD))
        conn.execute(sa.insert(boards).values(name=BOARD, doc=board))


def read_board(ctx: Context) -> dict[str, Any] | None:
    """The last board a scheduler wrote, or None."""
    with core_tables(ctx.home).read() as conn:
        found = conn.scalar(sa.select(boards.c.doc).where(boards.c.name == BOARD))
    return dict(found) if found else None
