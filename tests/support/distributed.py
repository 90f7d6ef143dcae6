"""A distributed deployment for the tests: real ``wess worker`` processes and the beat
(``wess run --executor celery``) on a real redis-server (``redis_server`` fixture),
against the EWS emulator. Every process started here is killed at the end of the test,
whatever happened."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wess_core.distributed import keys
from wess_plugins.crm_local import local

#: The longest one command of these tests may take.
COMMAND_SECONDS = 240


class Cluster:
    """Workers and commands on one home and one broker."""

    def __init__(self, home: Path, broker_url: str) -> None:
        self.home = home
        self.broker_url = broker_url
        self.workers: list[subprocess.Popen[str]] = []
        self.others: list[subprocess.Popen[str]] = []
        self.logs: list[Path] = []

    @property
    def env(self) -> dict[str, str]:
        return self.env_of(self.home)

    def env_of(self, home: Path) -> dict[str, str]:
        """The environment of a process on the machine whose WESS home is ``home``."""
        return {**os.environ, "WESS_HOME": str(home), "WESS_BROKER_URL": self.broker_url}

    def start_worker(
        self, concurrency: int = 8, pool: str = "threads", *more: str, home: Path | None = None
    ) -> subprocess.Popen[str]:
        """A ``wess worker`` process (``more``: further options; ``home``: its machine's
        own home, else the cluster's); waits until its heartbeat is in Redis."""
        log = self.home.parent / f"worker-{len(self.workers)}.log"
        self.logs.append(log)
        argv = ["worker", "--concurrency", str(concurrency), "--pool", pool, *more]
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "wess_core.cli", *argv],
                env=self.env_of(home or self.home),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.workers.append(proc)
        r = self.redis()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            k.endswith(f".{proc.pid}") for k in r.scan_iter(keys.worker("*"))
        ):
            assert proc.poll() is None, self.worker_log()
            time.sleep(0.05)
        return proc

    def wess(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "wess_core.cli", *argv],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
        )

    def spawn(self, *argv: str, home: Path | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wess_core.cli", *argv],
            env=self.env_of(home or self.home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.others.append(proc)
        return proc

    def run_once(self) -> dict[str, Any]:
        """``wess run --executor celery --once --json``: its outcome."""
        done = self.wess("run", "--executor", "celery", "--once", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def redis(self):  # -> redis.Redis
        from wess_core.distributed.broker import redis_client

        return redis_client(self.broker_url)

    def worker_log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.logs if p.exists())

    def close(self) -> None:
        for proc in [*self.workers, *self.others]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture
def cluster(home: Path, redis_server) -> Iterator[Cluster]:
    made = Cluster(home, redis_server.url)
    try:
        yield made
    finally:
        made.close()


def sync_entries(home: Path, login: str) -> list[dict[str, Any]]:
    """``login``'s history entries of kind "sync", oldest first."""
    from wess_core.service import Context, history

    rows = history.entries(Context(home=home), login, None)
    return sorted((r for r in rows if r["kind"] == "sync"), key=lambda r: r["time"])


def assert_converged(home: Path, server, logins: list[str], people: int) -> None:
    """Each user's CRM people are in their mailbox, once each, and nothing else."""
    for login in logins:
        names = sorted(r["fields"]["first_name"] for r in local.list_records(home, login, "people"))
        assert names == [f"{login}-{i}" for i in range(people)], login
        mailbox = server.mailbox(f"{login}@example.com")
        items = mailbox.folder("contacts").items.values()
        given = sorted(i.field_text("GivenName") for i in items)
        assert given == names, (login, given)


def overlapping(entries: list[dict[str, Any]]) -> bool:
    """Two syncs of one user whose [start, end] intervals overlap."""
    import datetime as dt

    spans = sorted(
        (
            dt.datetime.fromisoformat(e["time"]).timestamp() - float(e.get("seconds") or 0),
            dt.datetime.fromisoformat(e["time"]).timestamp(),
        )
        for e in entries
    )
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
