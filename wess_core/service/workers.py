"""Where the scheduler's users sync: lanes of worker threads, in this process or in a few
long-lived worker processes.

A pool has lanes, each with a capacity (how many users it syncs at once), and one
report queue on which every lane puts ``("end", login, status, message)`` when a user it
was given is done. The scheduler (``wess_core.service.scheduler``) decides who goes
where and when; a lane never waits for anything but its own syncs.

* :class:`ThreadPool`: one lane of ``workers`` threads in this process.
* :class:`ProcessPool`: one Python process runs Python on one core at a time, and an
  idle user's sync is mostly client CPU (EWS XML, TLS, the user's files), so many
  workers on a multi-core machine run as a few processes, one lane each. The processes
  outlive a pass (the scheduler keeps them for its lifetime) and a user always goes to
  the same lane (a hash of the login), so exchangelib's per-user connection pool (TLS
  sessions, the server version it guessed) is reused from one pass to the next. Children
  are started with ``spawn`` (nothing shared by accident, e.g. pooled HTTPS
  connections), ignore SIGTERM / Ctrl-C (the parent decides when to stop) and die with
  the parent (Linux ``PR_SET_PDEATHSIG``), so a killed scheduler leaves no orphan
  syncing on. ``halt`` cuts the requests in flight in every child; ``close`` ends them
  and waits, so nothing depends on the order of exit hooks. A child's metrics reach
  the parent's ``/metrics`` through the multiprocess directory
  (``wess_core.service.metrics``) when the parent prepared one before starting it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from wess_core import deadlines
from wess_core.service import metrics
from wess_core.service.context import Context
from wess_core.service.sync import sync_one

#: How long ``ProcessPool.close`` waits for its children before killing them.
CLOSE_SECONDS = 5.0
#: A halted child's cut thread re-checks its event this often.
HALT_POLL_SECONDS = 0.2

Report = tuple[str, str, str, str]


class Workers(Protocol):
    """What the scheduler needs of a pool: lanes with capacities, and their reports."""

    #: How many users each lane syncs at once.
    capacities: list[int]
    #: ``("end", login, status, message)`` per user handed out (``get(timeout=)``).
    reports: Any

    def lane_of(self, login: str) -> int: ...
    def begin_pass(self) -> None: ...
    def submit(self, lane: int, login: str) -> None: ...
    def halt(self) -> None: ...
    def dead_lanes(self) -> set[int]: ...
    def close(self) -> None: ...


def _report_of(login: str, run: Callable[[str], tuple[str, str]]) -> Report:
    """Run one user's sync; its report whatever happens (one user's bug is never lost)."""
    try:
        status, message = run(login)
    except BaseException as exc:  # noqa: BLE001 - reported, never lost
        status, message = "failed", f"{type(exc).__name__}: {exc}"
    return ("end", login, status, message)


class ThreadPool:
    """One lane of ``workers`` threads in this process."""

    def __init__(self, workers: int, run: Callable[[str], tuple[str, str]]) -> None:
        self.capacities = [max(1, workers)]
        self.reports: Any = queue_module.Queue()
        self._run = run
        self._threads = ThreadPoolExecutor(max(1, workers), thread_name_prefix="wess-worker")

    def lane_of(self, login: str) -> int:
        return 0

    def begin_pass(self) -> None:
        """Nothing to reset: a stop here is the caller's (``deadlines.abort_all``)."""

    def submit(self, lane: int, login: str) -> None:
        self._threads.submit(lambda: self.reports.put(_report_of(login, self._run)))

    def halt(self) -> None:
        """The CLI's signal handler cuts this process's requests itself."""

    def dead_lanes(self) -> set[int]:
        return set()

    def close(self) -> None:
        self._threads.shutdown(wait=True)


@dataclass(frozen=True)
class ChildSpec:
    """What a worker process is started with (pickled once, at spawn)."""

    home: str
    index: int
    threads: int
    parent: int
    pipe: Any
    reports: Any
    halt: Any


class ProcessPool:
    """``processes`` worker processes (lanes) of ``threads`` threads for one WESS home."""

    def __init__(self, home: str | Path, processes: int, threads: int) -> None:
        mp = multiprocessing.get_context("spawn")
        self.capacities = [max(1, threads)] * processes
        self.reports: Any = mp.Queue()
        self._halt = mp.Event()
        self._pipes: list[Any] = []
        self.children: list[Any] = []
        #: Lanes whose dead child's metrics were marked dead.
        self._buried: set[int] = set()
        for index in range(processes):
            mine, theirs = mp.Pipe()
            spec = ChildSpec(
                home=str(home),
                index=index,
                threads=max(1, threads),
                parent=os.getpid(),
                pipe=theirs,
                reports=self.reports,
                halt=self._halt,
            )
            name = f"wess-worker-{index}"
            child = mp.Process(target=_child, args=(spec,), daemon=True, name=name)
            child.start()
            theirs.close()
            self._pipes.append(mine)
            self.children.append(child)

    def lane_of(self, login: str) -> int:
        return zlib.crc32(login.encode()) % len(self.children)

    def begin_pass(self) -> None:
        """A new pass: requests are accepted again after a halted one."""
        self._halt.clear()
        for lane in range(len(self._pipes)):
            self._send(lane, ("pass",))

    def submit(self, lane: int, login: str) -> None:
        self._send(lane, ("sync", login))

    def _send(self, lane: int, message: tuple[str, ...]) -> None:
        """A child that died meanwhile gets nothing: ``dead_lanes`` reports it, and the
        scheduler fails the users it had."""
        with contextlib.suppress(OSError):
            self._pipes[lane].send(message)

    def halt(self) -> None:
        self._halt.set()

    def dead_lanes(self) -> set[int]:
        dead = {i for i, child in enumerate(self.children) if not child.is_alive()}
        for lane in dead - self._buried:
            self._buried.add(lane)
            metrics.process_ended(self.children[lane].pid)
        return dead

    def close(self) -> None:
        """End the children: ask, drain their reports meanwhile (a child whose report
        queue is full cannot exit), kill whoever is still there after ``CLOSE_SECONDS``."""
        for lane in range(len(self._pipes)):
            self._send(lane, ("exit",))
        deadline = time.monotonic() + CLOSE_SECONDS
        while any(c.is_alive() for c in self.children) and time.monotonic() < deadline:
            with contextlib.suppress(queue_module.Empty, OSError, ValueError):
                self.reports.get(timeout=0.05)
        for child in self.children:
            if child.is_alive():
                child.kill()
            child.join(timeout=CLOSE_SECONDS)
            metrics.process_ended(child.pid)
        for pipe in self._pipes:
            pipe.close()
        self.reports.close()
        self.reports.cancel_join_thread()


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent dies (a killed scheduler)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _cut_when_halted(halt: Any) -> None:
    """The parent is stopping: cut the requests in flight, once per halt."""
    while True:
        halt.wait()
        deadlines.abort_all("stopped: the scheduler is stopping")
        while halt.is_set():
            time.sleep(HALT_POLL_SECONDS)


def _child(spec: ChildSpec) -> None:
    """A worker process: sync each user the parent sends with one of ``threads``
    threads, report each, until the parent says exit (or goes away)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != spec.parent:  # the parent died before that took effect
        return
    cutter = threading.Thread(target=_cut_when_halted, args=(spec.halt,), daemon=True)
    cutter.start()
    ctx = Context(home=Path(spec.home))

    def one(login: str) -> None:
        if spec.halt.is_set():
            spec.reports.put(("end", login, "skipped", "stopping"))
            return
        spec.reports.put(_report_of(login, lambda name: sync_one(ctx, name)))

    with ThreadPoolExecutor(spec.threads, thread_name_prefix="wess-worker") as threads:
        while True:
            try:
                message = spec.pipe.recv()
            except (EOFError, OSError):
                return
            if message[0] == "pass":
                if not spec.halt.is_set():
                    deadlines.reset()
            elif message[0] == "sync":
                threads.submit(one, message[1])
            else:
                return
