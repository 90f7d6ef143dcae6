"""``wess worker``: a Celery worker syncing the users of this home (and of
``WESS_DATABASE_URL`` when set), with a heartbeat in Redis that ``wess status`` shows.

The pool is threads by default: a sync spends most of its time waiting for Exchange,
and threads share one process's connection pools and caches. SIGTERM (or Ctrl-C) is
Celery's warm shutdown: no new task is taken, the syncs under way finish, exit 0.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import threading
from typing import Any

from wess_core.distributed import keys, tasks

#: How often a worker writes its heartbeat, and how long it lives without one.
HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 3 * HEARTBEAT_SECONDS


def run_worker(ctx: Any, broker_url: str, *, concurrency: int, pool: str = "threads") -> int:
    """Run a worker until SIGTERM / Ctrl-C; its exit code."""
    from wess_core.account_settings import setting_of
    from wess_core.service.accounts import load_account

    ctx.require_admin()
    lost = int(setting_of(load_account(ctx), "worker_lost_seconds"))
    app = tasks.make_app(broker_url, worker_lost_seconds=lost, home=ctx.home)
    name = f"wess@{socket.gethostname()}.{os.getpid()}"
    beat = _Heartbeat(broker_url, name, concurrency, pool)
    beat.start()
    try:
        worker = app.Worker(
            hostname=name,
            concurrency=concurrency,
            pool=pool,
            loglevel="WARNING",
            quiet=True,
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            optimization="fair",
        )
        worker.start()
        return int(worker.exitcode or 0)
    finally:
        beat.stop()


class _Heartbeat(threading.Thread):
    """Writes ``wess:worker:NAME`` every few seconds while the worker runs."""

    def __init__(self, broker_url: str, name: str, concurrency: int, pool: str) -> None:
        super().__init__(daemon=True, name="wess-worker-heartbeat")
        from wess_core.distributed.broker import redis_client

        self.r = redis_client(broker_url)
        self.doc = {
            "name": name,
            "pid": os.getpid(),
            "concurrency": concurrency,
            "pool": pool,
            "started": _now(),
        }
        self._stop = threading.Event()

    def run(self) -> None:
        import redis

        while True:
            with contextlib.suppress(redis.RedisError):
                doc = {**self.doc, "heartbeat": _now(), "active": tasks.active}
                self.r.set(
                    keys.worker(self.doc["name"]),
                    json.dumps(doc),
                    ex=int(HEARTBEAT_TTL_SECONDS),
                )
            if self._stop.wait(HEARTBEAT_SECONDS):
                return

    def stop(self) -> None:
        import redis

        self._stop.set()
        with contextlib.suppress(redis.RedisError):
            self.r.delete(keys.worker(self.doc["name"]))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
