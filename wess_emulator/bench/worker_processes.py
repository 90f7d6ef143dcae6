"""The distributed case's ``wess worker`` processes: N of them on one broker, each its own
process, waited for until every one is taking tasks, and stopped with SIGTERM (Celery's
warm shutdown) so each one's CPU and peak memory can be read from ``wait4``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import proc_cpu_s
from .scale_home import wess_argv

#: How long N workers have to start taking tasks.
READY_SECONDS = 120.0
#: How long a worker has to exit after SIGTERM before it is killed.
STOP_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerUsage:
    """One stopped worker: its exit code, CPU (user + system, its start included) and
    peak memory."""

    exit_code: int
    cpu_s: float
    peak_rss_mib: float


def consuming(broker_url: str) -> int:
    """Redis clients blocked in BRPOP (a Celery worker waiting for its next task on the
    Redis transport); a worker whose consumer is up has one such connection."""
    import redis

    client = redis.Redis.from_url(broker_url)
    try:
        return sum(1 for c in client.client_list() if c.get("cmd") in ("brpop", "blpop"))
    finally:
        client.close()


class WorkerProcesses:
    """``count`` ``wess worker --broker URL --concurrency C`` processes of ``home``."""

    def __init__(self, home: Path, broker_url: str, *, count: int, concurrency: int) -> None:
        self.home, self.broker_url = home, broker_url
        self.count, self.concurrency = count, concurrency
        self.procs: list[subprocess.Popen[bytes]] = []
        self.usage: list[WorkerUsage] = []

    def start(self) -> None:
        """Start every worker, then wait until each one waits for a task."""
        args = ["worker", "--broker", self.broker_url, "--concurrency", str(self.concurrency)]
        for n in range(self.count):
            log = self.home.parent / f"{self.home.name}-worker{self.count}-{n}.txt"
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        wess_argv(self.home, *args),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + READY_SECONDS
        while consuming(self.broker_url) < self.count:
            dead = [p.pid for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"wess worker exited at start (pids {dead}); see its log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.count} wess workers not ready in {READY_SECONDS} s")
            time.sleep(0.1)

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the live workers have used so far."""
        return sum(filter(None, (proc_cpu_s(p.pid) for p in self.procs)))

    def stop(self) -> list[WorkerUsage]:
        """SIGTERM every worker, wait for each (kill one that outstays ``STOP_SECONDS``);
        each one's usage."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for proc in self.procs:
            self.usage.append(_reap(proc, deadline))
        self.procs = []
        return self.usage

    def __enter__(self) -> WorkerProcesses:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.procs:
            self.stop()


def _reap(proc: subprocess.Popen[bytes], deadline: float) -> WorkerUsage:
    if proc.returncode is not None:  # reaped by poll(): exited early, usage unknown
        return WorkerUsage(exit_code=proc.returncode, cpu_s=0.0, peak_rss_mib=0.0)
    status, usage = _wait4(proc.pid, deadline)
    if usage is None:
        os.killpg(proc.pid, signal.SIGKILL)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return WorkerUsage(
        exit_code=proc.returncode,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,
    )


def _wait4(pid: int, deadline: float) -> tuple[int, Any]:
    while time.monotonic() < deadline:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        time.sleep(0.05)
    return 0, None
