"""Sync Now on a distributed deployment (``wess sync LOGIN`` with a broker): the task
goes ahead of every task the beat queued (priority 0 against 9) and the caller waits for
the worker's answer — the same document ``wess sync`` prints — or, ``wait=False``,
returns at once with the task's id."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from wess_core.distributed import keys, tasks
from wess_core.errors import WessError

#: How long one wait for the answer blocks in Redis before it looks again.
BLOCK_SECONDS = 2


class RemoteSyncFailed(WessError):
    """The worker's sync failed; the exit code is the one ``wess sync`` would use."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def sync_now(
    ctx: Any, broker_url: str, login: str, *, wait: bool = True, dry_run: bool = False
) -> dict[str, Any]:
    """Queue ``login``'s sync first in line; its ``wess sync`` document when ``wait``,
    else ``{"login", "queued", "task_id"}``."""
    from wess_core.account_settings import setting_of
    from wess_core.distributed.broker import masked, redis_client, unavailable
    from wess_core.service.accounts import load_account
    from wess_core.service.users import get_profile

    ctx.require_self_or_admin(login)
    get_profile(ctx, login)  # an unknown user: its error here, not from a worker
    account = load_account(ctx)
    app = tasks.make_app(broker_url)
    r = redis_client(broker_url)
    task_id = uuid.uuid4().hex
    try:
        try:
            app.send_task(
                tasks.TASK,
                args=[login],
                kwargs={"reply": True, "dry_run": dry_run},
                priority=keys.NOW_PRIORITY,
                task_id=task_id,
            )
        except Exception as exc:
            raise unavailable(broker_url, exc) from None
        if not wait:
            return {"login": login, "queued": True, "task_id": task_id}
        limit = (
            float(setting_of(account, "run_deadline_seconds"))
            + float(setting_of(account, "worker_lost_seconds"))
            + 60.0
        )
        answer = _answer(r, task_id, limit)
    finally:
        r.close()
        app.close()
    if answer is None:
        raise WessError(
            f"no worker synced {login} within {limit:.0f} s (is 'wess worker' running on "
            f"{masked(broker_url)}?); task {task_id} stays queued"
        )
    if answer.get("data") is None:
        raise RemoteSyncFailed(answer["message"], int(answer.get("exit_code") or 1))
    return answer["data"]


def _answer(r: Any, task_id: str, limit: float) -> dict[str, Any] | None:
    """The worker's answer, waiting up to ``limit`` seconds (through a Redis restart)."""
    import redis

    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            found = r.blpop([keys.reply(task_id)], timeout=BLOCK_SECONDS)
        except redis.RedisError:
            time.sleep(0.5)
            continue
        if found is not None:
            return json.loads(found[1])
    return None
