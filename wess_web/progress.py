"""Sync Now's progress, for the page that waits on it: which folder a user's running
sync is at, kept in this server process (a sync started here reports here).

``run(ctx, login, ...)`` wraps ``sync_user`` with the ``progress`` callback the service
already offers; ``of(login)`` is what ``GET /api/users/{login}/sync`` answers.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_lock = threading.Lock()
_running: dict[str, dict[str, Any]] = {}


def run(ctx: Any, login: str, **options: Any) -> dict[str, Any]:
    """``sync_user`` for ``login``, its progress visible through ``of(login)`` meanwhile.

    With ``WESS_BROKER_URL`` set a worker syncs (Sync Now, ahead of the beat's tasks, as
    ``wess sync`` does there) and the page waits for its answer."""
    from wess_core import plugins
    from wess_core.distributed.broker import configured
    from wess_core.service import sync

    broker_url = configured(None)
    if broker_url is not None:
        from wess_core.distributed.now import sync_now

        return sync_now(ctx, broker_url, login, dry_run=bool(options.get("dry_run")))

    total = len(plugins.synced_folders())  # one progress step each
    state = {"folder": None, "done": 0, "total": total, "started": time.time()}

    def step(folder: str) -> None:
        with _lock:
            if state["folder"] is not None:
                state["done"] += 1
            state["folder"] = folder

    with _lock:
        _running[login] = state
    try:
        return sync.sync_user(ctx, login, progress=step, **options)
    finally:
        with _lock:
            if _running.get(login) is state:
                del _running[login]


def of(login: str) -> dict[str, Any]:
    """``{"running": False}``, or the folder the sync is at and how many are done."""
    with _lock:
        state = _running.get(login)
        if state is None:
            return {"running": False}
        return {
            "running": True,
            "folder": state["folder"],
            "folders_done": state["done"],
            "folders_total": state["total"],
            "seconds": round(time.time() - state["started"], 1),
        }
