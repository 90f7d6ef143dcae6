"""The scheduler: who is due, which worker syncs them and when, the per-server cap, and
stopping.

One pass takes every eligible user, and hands each to a worker lane
(``wess_core.service.workers``: threads of this process, or a few worker processes)
while two budgets allow it: the lane's free workers, and the user's server's
``throttle_cap`` — at most that many users of one Exchange server (or one service
account on it) sync at once, in threads and in processes alike, because the cap is
counted here, in the one place that hands out work, and a worker never waits for a
slot (a user of a capped server waits in the queue while users of other servers go).
Exchange throttles per server and per account, and a burst of parallel logins against
one server only earns ErrorServerBusy.

A stop (SIGTERM / Ctrl-C in ``wess run``) hands out nothing more, cuts the requests in
flight and waits for the syncs under way to end (what they applied is saved);
:class:`Scheduler` closes its worker processes when it is closed, so ``wess run --once``
exits when its pass is done.

With ``wess run --push`` (``wess_core.service.push``), users whose mailbox changed are
handed out before everyone waiting, in a pass under way or in a pass of their own
between passes; one under way when its change came syncs once more after.

Two schedulers on one home never sync one user at once:
the per-user run lock (``wess_core.service.sync.user_lock``) skips a user the other
one holds.
"""

from __future__ import annotations

import os
import queue as queue_module
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wess_core.service.accounts import load_account, setting
from wess_core.service.context import Context
from wess_core.service.push import Urgent
from wess_core.service.queue import Queue, server_of
from wess_core.service.sync import sync_one
from wess_core.service.users import list_profiles, scheduled
from wess_core.service.workers import ProcessPool, ThreadPool, Workers

#: Scheduler threads per worker process: one Python process runs on one core at a time
#: (the GIL), and an idle user costs milliseconds of client CPU (XML, TLS, files), so
#: more workers than this are spread over processes, at most one per CPU.
THREADS_PER_PROCESS = 8
#: How long the dispatcher waits for a report before checking ``stop`` and its lanes.
POLL_SECONDS = 0.2
#: Between passes, how long ``run_forever`` waits for a streamed change before it looks
#: at ``stop`` again (``wess run --push``).
URGENT_WAIT_SECONDS = 0.5


def process_count(workers: int) -> int:
    """How many processes ``workers`` scheduler workers run in."""
    wanted = -(-max(1, workers) // THREADS_PER_PROCESS)
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may use
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(wanted, cpus))


def eligible_logins(ctx: Context) -> list[str]:
    """Users the scheduler syncs: eligible and not paused for a credential problem."""
    account = load_account(ctx)
    return [p.login for p in list_profiles(ctx) if scheduled(account, p)]


def new_outcome() -> dict[str, Any]:
    """A pass's outcome: who synced, who failed and why, who was skipped and why."""
    return {"synced": [], "failed": {}, "skipped": {}}


class Scheduler:
    """Passes over every eligible user with ``workers`` workers; owns its worker
    processes (kept from one pass to the next) until :meth:`close`."""

    def __init__(
        self,
        ctx: Context,
        workers: int = 4,
        transport_factory: Callable[[Any], Any] | None = None,
    ) -> None:
        ctx.require_admin()
        self.ctx = ctx
        self.workers = max(1, workers)
        self.transport_factory = transport_factory
        #: A transport factory is an object of this process: threads only.
        self.processes = 1 if transport_factory is not None else process_count(self.workers)
        self._pool: Workers | None = None

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _workers(self) -> Workers:
        """This scheduler's pool, started on first use and again after a child died."""
        if self._pool is not None and not self._pool.dead_lanes():
            return self._pool
        self.close()
        if self.processes > 1:
            threads = -(-self.workers // self.processes)
            self._pool = ProcessPool(self.ctx.home, self.processes, threads)
        else:
            factory = self.transport_factory
            self._pool = ThreadPool(self.workers, lambda login: sync_one(self.ctx, login, factory))
        return self._pool

    def run_pass(
        self,
        stop: threading.Event | None = None,
        *,
        only: list[str] | None = None,
        urgent: Urgent | None = None,
    ) -> dict[str, Any]:
        """One pass over every eligible user (``only``: over those of them). A failing
        user does not stop the others; a user another process is syncing is skipped this
        pass. Users ``urgent`` names meanwhile go first (``wess run --push``)."""
        stop = stop or threading.Event()
        account = load_account(self.ctx)
        # the account and profiles read once (a pushed change runs a pass of its own)
        eligible = [p for p in list_profiles(self.ctx) if scheduled(account, p)]
        servers = {p.login: server_of(account, p) for p in eligible}
        logins = list(servers) if only is None else [x for x in dict.fromkeys(only) if x in servers]
        cap = int(setting(self.ctx, "throttle_cap"))
        board = Queue(self.ctx, cap, servers, waiting=logins)
        outcome = new_outcome()
        board.publish(force=True)
        try:
            if logins:
                _Dispatch(self._workers(), board, stop, outcome, urgent).run(logins)
        finally:
            board.publish(force=True, active=False)
        outcome["synced"] = sorted(set(outcome["synced"]))  # synced again (--push): once
        return outcome

    def close(self) -> None:
        """End the worker processes (threads finish their syncs first)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


@dataclass
class _Dispatch:
    """One pass's hand-out: a queue per lane and server, the cap counted per server."""

    pool: Workers
    board: Queue
    stop: threading.Event
    outcome: dict[str, Any]
    #: Users whose mailbox changed (``wess run --push``): handed out before the others.
    urgent: Urgent | None = None
    #: Users under way that changed again meanwhile: one more sync when they end.
    again: set[str] = field(default_factory=set)
    #: Users of each server under way.
    running: Counter[str] = field(default_factory=Counter)
    #: The lane each user under way was given to.
    flying: dict[str, int] = field(default_factory=dict)
    #: Free workers per lane.
    free: list[int] = field(default_factory=list)
    #: Per lane, per server (in the pass's order): users not handed out yet.
    pending: list[dict[str, deque[str]]] = field(default_factory=list)

    def run(self, logins: list[str]) -> None:
        self.free = list(self.pool.capacities)
        self.pending = [{} for _ in self.free]
        for login in logins:
            lane = self.pool.lane_of(login)
            self.pending[lane].setdefault(self.board.servers[login], deque()).append(login)
        self.pool.begin_pass()
        while True:
            if self.stop.is_set():
                self.pool.halt()
                self._drop(range(len(self.free)), "skipped", "stopping")
            elif self.urgent is not None:
                self._hurry(self.urgent.take())
            for lane in range(len(self.free)):
                self._fill(lane)
            if not self.flying:
                return
            try:
                _, login, status, message = self.pool.reports.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                self._bury(self.pool.dead_lanes())
                continue
            if login in self.flying:
                self._ended(login, status, message)

    def _fill(self, lane: int) -> None:
        """Hand ``lane`` users while it has free workers and their server is under the cap."""
        waiting = self.pending[lane]
        cap = self.board.cap
        while self.free[lane] > 0 and waiting:
            server = next((s for s in waiting if self.running[s] < cap), None)
            if server is None:
                return
            login = waiting[server].popleft()
            if not waiting[server]:
                del waiting[server]
            self.free[lane] -= 1
            self.running[server] += 1
            self.flying[login] = lane
            self.board.begin(login)
            self.pool.submit(lane, login)

    def _hurry(self, logins: list[str]) -> None:
        """``logins`` (oldest change first) to the front of their lanes; one already
        under way syncs once more when it ends; one waiting is not queued twice."""
        for login in reversed(logins):
            server = self.board.servers.get(login)
            if server is None:  # not eligible (any more)
                continue
            if login in self.flying:
                self.again.add(login)
                continue
            lane = self.pool.lane_of(login)
            waiting = self.pending[lane]
            queue = waiting.pop(server, None) or deque()
            if login in queue:
                queue.remove(login)
            queue.appendleft(login)
            self.pending[lane] = {server: queue, **waiting}
            self.board.requeue(login)

    def _ended(self, login: str, status: str, message: str) -> None:
        lane = self.flying.pop(login)
        self.free[lane] += 1
        self.running[self.board.servers[login]] -= 1
        self.board.end(login)
        self._record(login, status, message)
        if login in self.again and not self.stop.is_set():
            self.again.discard(login)
            self._hurry([login])

    def _record(self, login: str, status: str, message: str) -> None:
        if status == "synced":
            self.outcome["synced"].append(login)
        else:
            self.outcome[status][login] = message

    def _drop(self, lanes: Any, status: str, message: str) -> None:
        """Users not handed out yet on ``lanes``: not synced this pass."""
        for lane in lanes:
            for waiting in self.pending[lane].values():
                for login in waiting:
                    self.board.done(login)
                    self._record(login, status, message)
            self.pending[lane].clear()

    def _bury(self, dead: set[int]) -> None:
        """A worker process died (killed, out of memory): its users fail or are skipped;
        the next pass starts a new pool."""
        for login, lane in list(self.flying.items()):
            if lane in dead:
                self._ended(login, "failed", "the worker process syncing this user ended")
        self._drop(dead, "skipped", "the worker process for this user ended")
        for lane in dead:
            self.free[lane] = 0


def run_once(
    ctx: Context,
    workers: int = 4,
    stop: threading.Event | None = None,
    transport_factory: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """One pass over every eligible user, ``workers`` at a time, then the workers end."""
    with Scheduler(ctx, workers, transport_factory) as scheduler:
        return scheduler.run_pass(stop)


def run_forever(
    ctx: Context,
    workers: int,
    interval: float,
    stop: threading.Event,
    on_pass: Callable[[dict[str, Any]], None] | None = None,
    urgent: Urgent | None = None,
) -> None:
    """Passes every ``interval`` seconds until ``stop`` is set (SIGTERM / Ctrl-C).

    With ``urgent`` (``wess run --push``), users it names are synced as they come: first
    in a pass under way, in a pass of their own between passes."""
    report = on_pass or (lambda outcome: None)
    with Scheduler(ctx, workers) as scheduler:
        while not stop.is_set():
            report(scheduler.run_pass(stop, urgent=urgent))
            if urgent is None:
                stop.wait(interval)
                continue
            due = time.monotonic() + interval
            while not stop.is_set() and (left := due - time.monotonic()) > 0:
                changed = urgent.wait(min(left, URGENT_WAIT_SECONDS))
                if changed and not stop.is_set():
                    report(scheduler.run_pass(stop, only=changed, urgent=urgent))
