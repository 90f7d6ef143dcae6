"""The Celery app (built in code, no config module) and its one task: a user's sync.

Delivery: tasks are acknowledged when they end (``acks_late``), so a worker killed
mid-sync leaves its messages with the broker, which hands them to another worker after
the account's ``worker_lost_seconds`` (kombu's visibility timeout). That can be short
because a sync under way keeps its own message visible: its heartbeat moves the
message's timestamp in kombu's ``unacked_index`` along with the user's lock and server
slot (:mod:`.locks`), so a long sync is never handed out twice.

A task never waits for a budget: a user another worker syncs, a server at its
``throttle_cap`` or asking to back off — the task is retried after a countdown (at most
half of ``worker_lost_seconds``: a message waiting in a worker's memory must not look
lost) and the worker's thread goes on with the next user.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from pathlib import Path
from typing import Any

from wess_core.distributed import budgets, keys, locks

log = logging.getLogger("wess.worker")

TASK = "wess.sync"
#: Seconds before a task whose user another worker syncs tries again.
LOCKED_RETRY_SECONDS = 2.0
#: Seconds before a task whose server is at its cap tries again (jittered).
SLOT_RETRY_SECONDS = 1.0
#: How long a finished task keeps trying to record its outcome while Redis is away.
FINISH_SECONDS = 60.0
#: How long a beat pass's outcome and a Sync Now answer stay in Redis.
OUTCOME_SECONDS = 24 * 3600
REPLY_SECONDS = 3600

# the pass's outcome and the end of the marker in one step: a beat that sees the marker
# gone and no outcome knows the task was lost (a Redis restart), never a race
_FINISH = """
if ARGV[2] ~= '' then
  redis.call('hset', KEYS[2], ARGV[3], ARGV[4])
  redis.call('expire', KEYS[2], ARGV[5])
end
if ARGV[1] ~= '' and redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
end
return 1
"""

#: Syncs running in this process (the worker's heartbeat reports it).
active = 0
_active_lock = threading.Lock()


def make_app(broker_url: str, *, worker_lost_seconds: int = 60, home: Path | None = None) -> Any:
    """The Celery app on ``broker_url``; ``home``: the WESS home a worker's tasks sync
    (None in a process that only sends tasks)."""
    from celery import Celery

    app = Celery("wess", set_as_current=False)
    app.conf.update(
        broker_url=broker_url,
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=keys.QUEUE,
        task_default_priority=keys.BEAT_PRIORITY,
        broker_transport_options={
            "visibility_timeout": worker_lost_seconds,
            "priority_steps": keys.PRIORITY_STEPS,
            "sep": keys.PRIORITY_SEP,
            "queue_order_strategy": "priority",
            # look for lost messages every second (one ZRANGE), not every 100 s
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,
        task_send_sent_event=False,
    )
    app.wess_worker_lost_seconds = worker_lost_seconds  # type: ignore[attr-defined]
    if home is not None:
        _register(app, Path(home))
    return app


def _register(app: Any, home: Path) -> None:
    redis_holder: list[Any] = []

    def redis_of() -> Any:
        if not redis_holder:
            from wess_core.distributed.broker import redis_client

            redis_holder.append(redis_client(app.conf.broker_url))
        return redis_holder[0]

    @app.task(
        name=TASK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        max_retries=None,  # waits for a lock, a slot or a busy server are not failures
        Request=_request_class(),
    )
    def sync(
        task: Any,
        login: str,
        marker: str | None = None,
        pass_id: str | None = None,
        reply: bool = False,
        dry_run: bool = False,
    ) -> None:
        from celery.exceptions import Retry

        job = _Job(task, redis_of(), home, login, marker, pass_id, reply, dry_run)
        try:
            job.run()
        except Retry:
            raise
        except Exception as exc:  # a bug of ours: the user fails, the pass still ends
            log.exception("wess: the task syncing %s failed", login)
            job.finish(_failed(exc), account=None, busy=None)


class _Job:
    """One delivery of a user's sync task."""

    def __init__(
        self,
        task: Any,
        r: Any,
        home: Path,
        login: str,
        marker: str | None,
        pass_id: str | None,
        reply: bool,
        dry_run: bool,
    ) -> None:
        self.task, self.r, self.home, self.login = task, r, home, login
        self.marker, self.pass_id, self.reply, self.dry_run = marker, pass_id, reply, dry_run
        self.lost_seconds = float(getattr(task.app, "wess_worker_lost_seconds", 60))

    def retry_later(self, seconds: float) -> None:
        """Hand the task back with a countdown (never longer than half the time after
        which a message held by a worker counts as lost)."""
        countdown = min(max(0.1, seconds), self.lost_seconds / 2)
        raise self.task.retry(countdown=countdown * random.uniform(1.0, 1.3), max_retries=None)

    def run(self) -> None:
        from wess_core.account_settings import setting_of
        from wess_core.service import Context
        from wess_core.service.accounts import load_account
        from wess_core.service.queue import server_of
        from wess_core.service.users import get_profile

        ctx = Context(home=self.home)
        try:
            account = load_account(ctx)
            server = server_of(account, get_profile(ctx, self.login))
        except Exception as exc:  # e.g. the user was removed since it was queued
            self.finish(_failed(exc), account=None, busy=None)
            return
        wait = budgets.busy_for(self.r, server)
        if wait > 0:
            self.retry_later(wait)
        holder = locks.token()
        if not locks.take_user(self.r, self.login, holder):
            self.retry_later(LOCKED_RETRY_SECONDS)
        try:
            cap = int(setting_of(account, "throttle_cap"))
            if not locks.take_slot(self.r, server, holder, cap):
                self.retry_later(SLOT_RETRY_SECONDS)
            try:
                outcome, busy = self.sync(ctx, server, holder)
            finally:
                _quietly(locks.release_slot, self.r, server, holder)
        finally:
            _quietly(locks.release_user, self.r, self.login, holder)
        self.finish(outcome, account=account, busy=(server, busy))

    def sync(self, ctx: Any, server: str, holder: str) -> tuple[Any, Any]:
        from wess_core.service.sync import attempt

        global active
        seen: list[Any] = []
        tag = getattr(self.task.request, "wess_delivery_tag", None)
        beat = _MessageHeartbeat(self.r, self.login, server, holder, self.marker, tag)
        with _active_lock:
            active += 1
        try:
            with beat:
                outcome = attempt(ctx, self.login, dry_run=self.dry_run, observe=seen.append)
        finally:
            with _active_lock:
                active -= 1
        busy = seen[0].busy if seen else None
        return outcome, busy

    def finish(self, outcome: Any, *, account: Any, busy: Any) -> None:
        """Record the outcome in Redis (failures, the server's back-off, the pass, the
        marker, Sync Now's answer), trying again while Redis is restarting."""
        import redis

        deadline = time.monotonic() + FINISH_SECONDS
        while True:
            try:
                self._record(outcome, account, busy)
                return
            except redis.RedisError as exc:
                if time.monotonic() > deadline:
                    log.warning(
                        "wess: the outcome of %s's sync was not recorded: %s", self.login, exc
                    )
                    return
                time.sleep(0.5)

    def _record(self, outcome: Any, account: Any, busy: Any) -> None:
        from wess_core.account_settings import setting_of

        server_busy = busy is not None and busy[1] is not None
        if account is not None and not self.dry_run and not server_busy:
            # a busy server is nobody's failure: it never dead-letters a user
            budgets.record(
                self.r,
                self.login,
                outcome.status,
                outcome.message,
                interval=float(setting_of(account, "sync_interval")),
                limit=int(setting_of(account, "dead_letter_after")),
            )
        if server_busy:
            budgets.hold_server(self.r, busy[0], busy[1].retry_after)
        doc = json.dumps({"status": outcome.status, "message": outcome.message})
        self.r.eval(
            _FINISH,
            2,
            keys.queued(self.login),
            keys.pass_outcome(self.pass_id or "-"),
            self.marker or "",
            self.pass_id or "",
            self.login,
            doc,
            OUTCOME_SECONDS,
        )
        if self.reply:
            answer = {
                "status": outcome.status,
                "message": outcome.message,
                "data": outcome.data,
                "exit_code": outcome.exit_code,
            }
            name = keys.reply(self.task.request.id)
            self.r.pipeline().rpush(name, json.dumps(answer)).expire(name, REPLY_SECONDS).execute()


class _MessageHeartbeat(locks.Heartbeat):
    """The sync's heartbeat, which also keeps its message from looking lost."""

    def __init__(self, r: Any, login: str, server: str, holder: str, marker: Any, tag: Any):
        super().__init__(r, login, server, holder, marker)
        self.tag = tag

    def beat(self) -> None:
        super().beat()
        if self.tag:
            self.r.zadd(keys.UNACKED_INDEX, {self.tag: time.time()}, xx=True)


def _request_class() -> type:
    """Celery's request, which also hands the task its message's delivery tag (the
    heartbeat keeps that message from looking lost)."""
    from celery.worker.request import Request

    class WessRequest(Request):
        def __init__(self, message: Any, *args: Any, **kwargs: Any) -> None:
            super().__init__(message, *args, **kwargs)
            self._request_dict["wess_delivery_tag"] = message.delivery_tag

    return WessRequest


def _failed(exc: BaseException) -> Any:
    from wess_core.errors import WessError
    from wess_core.service.sync import Attempt

    code = exc.exit_code if isinstance(exc, WessError) else 1
    return Attempt("failed", str(exc) or type(exc).__name__, exit_code=code)


def _quietly(call: Any, *args: Any) -> None:
    """Give back a lock or slot; when Redis is away it expires on its own."""
    import redis

    with contextlib.suppress(redis.RedisError):
        call(*args)
