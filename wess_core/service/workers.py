"""Scheduler worker processes: a pass's users spread over a few long-lived processes.

One Python process runs Python on one core at a time, and an idle user's sync is mostly
client CPU (building and parsing EWS XML, TLS, the user's files), so a scheduler with
many workers on a multi-core machine runs them as several processes of
``THREADS_PER_PROCESS`` threads (``wess_core.service.sync.run_once`` decides).

* **Long-lived and sticky.** The processes outlive a pass (``wess run`` keeps them for
  its lifetime) and a user always goes to the same process (a hash of the login), so
  exchangelib's per-user connection pool (TLS sessions, the server version it guessed)
  is reused from one pass to the next, as it is with threads in one process. Within a
  process, its threads take its users one at a time.
* **The per-server cap** (``throttle_cap``) holds across processes: a slot is an
  exclusive ``flock`` on one of ``cap`` lock files per server under ``.locks/queue``
  (two schedulers on one home share the cap too).
* **Reports.** Children report each user's start and end to the parent, which keeps
  the board and the pass's outcome. SIGTERM / Ctrl-C reach the parent, which tells the
  children to start no new user and to cut the requests in flight (what a running
  sync applied is saved, as with threads).
  Children ignore those signals and die with the parent (Linux ``PR_SET_PDEATHSIG``),
  so a killed scheduler leaves no orphan syncing on. A child that dies fails the users
  it was syncing; its pool is dropped and the next pass starts a new one.
* Children are started with ``spawn`` (nothing shared by accident, e.g. pooled HTTPS
  connections), about half a second of start-up each, once.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wess_core import safefile
from wess_core.service.context import Context

#: A server slot's lock file: never through a link planted at its name.
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | safefile.NOFOLLOW | safefile.CLOEXEC
#: How long the parent waits for a report before checking its children and ``stop``.
POLL_SECONDS = 0.2

_pools: dict[tuple[str, int, int], WorkerPool] = {}
_pools_lock = threading.Lock()


def run_in_processes(
    ctx: Context,
    logins: list[str],
    workers: int,
    processes: int,
    board: Any,
    stop: threading.Event,
    outcome: dict[str, Any],
) -> None:
    """Sync ``logins`` with ``workers`` threads spread over ``processes`` processes;
    fill ``outcome`` as ``run_once`` does. ``board`` is the pass's ``Queue``."""
    threads = -(-workers // processes)
    key = (str(ctx.home), processes, threads)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or not pool.healthy():
            if pool is not None:
                pool.close()
            pool = _pools[key] = WorkerPool(ctx.home, processes, threads)
            _close_at_exit()
    ok = pool.run(logins, board, stop, outcome)
    if not ok:
        with _pools_lock:
            if _pools.get(key) is pool:
                del _pools[key]
        pool.close()


_exit_hook: list[bool] = []


def _close_at_exit() -> None:
    """Close the pools at exit *before* multiprocessing's own exit hook, which terminates
    daemonic children (ours ignore SIGTERM) and then joins them without a timeout: a
    scheduler stopped by SIGTERM hung there. atexit runs last-registered first, so this
    registers once multiprocessing's hook is in place."""
    if not _exit_hook:
        import multiprocessing.util  # noqa: F401  (registers its exit hook first)

        atexit.register(_close_all)
        _exit_hook.append(True)


def _close_all() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


class WorkerPool:
    """``processes`` worker processes of ``threads`` threads for one WESS home."""

    def __init__(self, home: str | Path, processes: int, threads: int) -> None:
        mp = multiprocessing.get_context("spawn")
        self.reports: Any = mp.Queue()
        self.halt = mp.Event()
        self.pipes = []
        self.children = []
        for index in range(processes):
            mine, theirs = mp.Pipe()
            child = mp.Process(
                target=_child,
                args=(str(home), index, threads, theirs, self.reports, self.halt, os.getpid()),
                daemon=True,
                name=f"wess-worker-{index}",
            )
            child.start()
            theirs.close()
            self.pipes.append(mine)
            self.children.append(child)
        self.lock = threading.Lock()  # one pass at a time

    def healthy(self) -> bool:
        return all(c.is_alive() for c in self.children)

    def run(self, logins: list[str], board: Any, stop: threading.Event,
            outcome: dict[str, Any]) -> bool:  # fmt: skip
        """One pass; False when a child died (the pool should not be used again)."""
        with self.lock:
            return self._run(logins, board, stop, outcome)

    def _run(self, logins: list[str], board: Any, stop: threading.Event,
             outcome: dict[str, Any]) -> bool:  # fmt: skip
        shares: list[list[str]] = [[] for _ in self.children]
        for login in logins:
            shares[zlib.crc32(login.encode()) % len(shares)].append(login)
        self.halt.clear()
        busy = set()
        for index, share in enumerate(shares):
            servers = {login: board.servers[login] for login in share}
            self.pipes[index].send(("pass", share, servers, board.cap))
            busy.add(index)
        pending, started = set(logins), set()
        ok = True
        while busy:
            if stop.is_set():
                self.halt.set()
            try:
                report = self.reports.get(timeout=POLL_SECONDS)
            except queue_module.Empty:
                dead = {i for i in busy if not self.children[i].is_alive()}
                if dead:
                    ok = False
                    busy -= dead
                continue
            if report[0] == "idle":
                busy.discard(report[1])
            else:
                _take(report, board, outcome, pending, started)
        for login in sorted(pending):  # a worker process died (killed, out of memory)
            if login in started:
                outcome["failed"][login] = "the worker process syncing this user ended"
                board.end(login)
            else:
                outcome["skipped"][login] = "the worker process for this user ended"
                board.done(login)
        return ok

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(Exception):
                pipe.send(("exit",))
        for child in self.children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
                child.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()


def _take(report: tuple[Any, ...], board: Any, outcome: dict[str, Any], pending: set[str],
          started: set[str]) -> None:  # fmt: skip
    kind, login = report[0], report[1]
    if kind == "start":
        started.add(login)
        board.begin(login)
        return
    status, message = report[2], report[3]
    pending.discard(login)
    if login in started:
        board.end(login)
    else:
        board.done(login)
    if status == "synced":
        outcome["synced"].append(login)
    else:
        outcome[status][login] = message


_last_slot = threading.local()


@contextlib.contextmanager
def server_slot(home: Path, server: str, cap: int, halt: Any = None) -> Iterator[bool]:
    """Hold one of ``cap`` slots of ``server`` (an exclusive ``flock`` on one of its lock
    files), across threads and processes. When all are taken, wait (blocked, no polling)
    for one of them. Yields False when ``halt`` was set meanwhile (start nothing then)."""
    folder = home / ".locks" / "queue"
    safefile.ensure_dir(folder)
    stem = hashlib.sha256(server.encode()).hexdigest()[:16]
    slots = max(1, cap)
    fd = -1
    # the slot this thread held last first: it is usually free (each thread keeps to its
    # own), so a slot costs one try, not one per slot other threads hold
    last = getattr(_last_slot, "value", 0) % slots
    for slot in (last, *(n for n in range(slots) if n != last)):
        fd = os.open(folder / f"{stem}.{slot}.lock", _LOCK_FLAGS, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _last_slot.value = slot
            break
        except BlockingIOError:
            os.close(fd)
            fd = -1
    if fd < 0:  # all taken: queue on one (spread over the slots)
        slot = threading.get_ident() % slots
        fd = os.open(folder / f"{stem}.{slot}.lock", _LOCK_FLAGS, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield not (halt is not None and halt.is_set())
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (a killed scheduler)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _child(home: str, index: int, threads: int, pipe: Any, reports: Any, halt: Any,
           parent: int) -> None:  # fmt: skip
    """A worker process: for each pass the parent sends, ``threads`` threads sync its
    users; then it reports idle and waits for the next."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before that took effect
        return
    from wess_core import deadlines
    from wess_core.service.sync import sync_one

    def cut_when_halted() -> None:  # the parent is stopping: cut the requests in flight
        while True:
            halt.wait()
            deadlines.abort_all("stopped: the scheduler is stopping")
            while halt.is_set():
                time.sleep(POLL_SECONDS)

    threading.Thread(target=cut_when_halted, daemon=True, name="wess-halt").start()
    ctx = Context(home=Path(home))
    while True:
        try:
            message = pipe.recv()
        except EOFError:
            return
        if message[0] != "pass":
            return
        if not halt.is_set():
            deadlines.reset()
        _, logins, servers, cap = message
        left = iter(list(logins))
        take = threading.Lock()

        def work(left: Iterator[str] = left, servers: dict[str, str] = servers,
                 cap: int = cap, take: threading.Lock = take) -> None:  # fmt: skip
            while True:
                with take:
                    login = next(left, None)
                if login is None:
                    return
                if halt.is_set():
                    reports.put(("end", login, "skipped", "stopping"))
                    continue
                with server_slot(ctx.home, servers[login], cap, halt) as held:
                    if not held:
                        reports.put(("end", login, "skipped", "stopping"))
                        continue
                    reports.put(("start", login))
                    try:
                        status, text = sync_one(ctx, login)
                    except BaseException as exc:  # reported, never lost
                        status, text = "failed", f"{type(exc).__name__}: {exc}"
                    reports.put(("end", login, status, text))

        pool = [threading.Thread(target=work, daemon=True) for _ in range(max(1, threads))]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        reports.put(("idle", index))
