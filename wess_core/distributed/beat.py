"""``wess run --executor celery``: the beat. Every pass enqueues one task per eligible
user — never a second one for a user whose task is queued or running (a marker in Redis,
set only when absent, expiring; the task removes it when it ends) — and, with ``--once``,
waits until every task of the pass has ended and reports what ``wess run --once``
reports.

A task can be lost with the broker's memory (Redis restarted without persistence): its
marker is gone and it left no outcome (the task writes both in one step), so the waiting
beat enqueues it again; syncs are idempotent, a second run of a user changes nothing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wess_core.distributed import budgets, keys, tasks

#: How often a waiting ``--once`` reads the outcomes.
POLL_SECONDS = 0.25
#: How often it looks for tasks lost with the broker's memory.
LOST_CHECK_SECONDS = 3.0
ALREADY_QUEUED = "a sync of this user is already queued or running"


@dataclass
class Pass:
    """One pass of the beat: the tasks it queued (login -> marker) and who it did not
    queue, and why."""

    id: str
    queued: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


class Beat:
    """Enqueues passes over the eligible users of ``ctx``'s home on ``broker_url``."""

    def __init__(self, ctx: Any, broker_url: str) -> None:
        from wess_core.distributed.broker import redis_client

        ctx.require_admin()
        self.ctx = ctx
        self.app = tasks.make_app(broker_url)
        self.r = redis_client(broker_url)

    def enqueue_pass(self, *, hold_failing: bool) -> Pass:
        """One task per eligible user not queued or running, not dead-lettered and (with
        ``hold_failing``) not held back after failures."""
        from wess_core.service.scheduler import eligible_logins

        run = Pass(id=uuid.uuid4().hex)
        logins = eligible_logins(self.ctx)
        dead = budgets.dead_letters(self.r)
        held = budgets.held_until(self.r) if hold_failing else {}
        for login in logins:
            if login in dead:
                run.skipped[login] = (
                    f"dead-lettered after {dead[login]['failures']} failed syncs; "
                    f"'wess sync {login}' or 'wess dead-letter release {login}' brings it back"
                )
            elif login in held:
                run.skipped[login] = "held back after failed syncs; tried again later"
            elif not self._enqueue(login, run):
                run.skipped[login] = ALREADY_QUEUED
        return run

    def _enqueue(self, login: str, run: Pass) -> bool:
        marker = uuid.uuid4().hex
        if not self.r.set(keys.queued(login), marker, nx=True, ex=keys.MARKER_SECONDS):
            return False
        self.app.send_task(
            tasks.TASK,
            args=[login],
            kwargs={"marker": marker, "pass_id": run.id},
            priority=keys.BEAT_PRIORITY,
        )
        run.queued[login] = marker
        return True

    def wait(self, run: Pass, stop: threading.Event) -> dict[str, Any]:
        """Until every task of ``run`` has ended (or ``stop``): the outcome
        ``wess run --once`` prints (synced, failed, skipped)."""
        import redis
        from kombu.exceptions import OperationalError

        from wess_core.service.scheduler import new_outcome

        ended: dict[str, dict[str, str]] = {}
        last_check = time.monotonic()
        while len(ended) < len(run.queued) and not stop.is_set():
            try:
                for login, doc in self.r.hgetall(keys.pass_outcome(run.id)).items():
                    ended.setdefault(login, json.loads(doc))
                if time.monotonic() - last_check > LOST_CHECK_SECONDS:
                    last_check = time.monotonic()
                    self._requeue_lost(run, ended)
            except (redis.RedisError, OperationalError):
                pass  # Redis restarting: look again
            stop.wait(POLL_SECONDS)
        outcome = new_outcome()
        for login in run.queued:
            done = ended.get(login, {"status": "skipped", "message": "stopping"})
            if done["status"] == "synced":
                outcome["synced"].append(login)
            else:
                outcome[done["status"]][login] = done["message"]
        outcome["skipped"].update(run.skipped)
        outcome["synced"].sort()
        return outcome

    def _requeue_lost(self, run: Pass, ended: dict[str, Any]) -> None:
        """Queue again the users whose task left neither a marker nor an outcome."""
        for login in [x for x in run.queued if x not in ended]:
            if self.r.exists(keys.queued(login)):
                continue
            if self.r.hexists(keys.pass_outcome(run.id), login):
                continue  # it just ended
            del run.queued[login]
            if not self._enqueue(login, run):  # someone else queued it meanwhile
                run.queued[login] = ""
                ended[login] = {"status": "skipped", "message": ALREADY_QUEUED}

    def close(self) -> None:
        self.r.close()
        self.app.close()


def run_once(ctx: Any, broker_url: str, stop: threading.Event) -> dict[str, Any]:
    """``wess run --executor celery --once``: one pass, waited for."""
    import redis
    from kombu.exceptions import OperationalError

    from wess_core.distributed.broker import unavailable

    beat = Beat(ctx, broker_url)
    try:
        try:
            run = beat.enqueue_pass(hold_failing=False)
        except (redis.RedisError, OperationalError) as exc:
            raise unavailable(broker_url, exc) from None
        return beat.wait(run, stop)
    finally:
        beat.close()


def run_forever(
    ctx: Any,
    broker_url: str,
    interval: float,
    stop: threading.Event,
    on_pass: Callable[[dict[str, Any]], None],
) -> None:
    """A pass every ``interval`` seconds until ``stop``; ``on_pass`` gets what it queued
    and whom it skipped. A pass Redis could not take is reported and tried next time."""
    import redis
    from kombu.exceptions import OperationalError

    from wess_core.distributed.broker import unavailable

    beat = Beat(ctx, broker_url)
    try:
        while not stop.is_set():
            try:
                run = beat.enqueue_pass(hold_failing=True)
                on_pass({"queued": sorted(run.queued), "skipped": run.skipped})
            except (redis.RedisError, OperationalError) as exc:
                on_pass({"error": str(unavailable(broker_url, exc))})
            stop.wait(interval)
    finally:
        beat.close()
