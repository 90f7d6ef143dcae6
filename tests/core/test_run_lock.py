"""A user's run lock on a shared database (``WESS_DATABASE_URL``): one lock for every
machine, whatever its home, released when its holder dies; no file in any home."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from wess_core.errors import SyncLocked
from wess_core.service import Context
from wess_core.service.sync import user_lock

HOLD = """
import sys, time
from pathlib import Path
from wess_core.service import Context
from wess_core.service.sync import user_lock
with user_lock(Context(home=Path(sys.argv[1])), "alice"):
    print("held", flush=True)
    time.sleep(300)
"""


@pytest.fixture
def machines(tmp_path, postgres_server, monkeypatch) -> tuple[Context, Context]:
    """Two machines' contexts: homes of their own, one database."""
    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    return Context(home=tmp_path / "a"), Context(home=tmp_path / "b")


def _files(ctx: Context) -> list[str]:
    return [str(p) for p in ctx.home.rglob("*") if p.is_file()] if ctx.home.exists() else []


def test_a_user_synced_on_one_machine_is_locked_on_every_other(machines):
    a, b = machines
    with user_lock(a, "alice"):
        with pytest.raises(SyncLocked, match="alice is already running"), user_lock(b, "alice"):
            pass
        with user_lock(b, "bob"):  # another user is not held up
            pass
    with user_lock(b, "alice"):  # released when the run ended
        pass
    assert _files(a) == [] and _files(b) == []


def test_a_killed_holder_releases_the_user(machines):
    a, b = machines
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(a.home)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(SyncLocked), user_lock(b, "alice"):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10
        while True:
            try:
                with user_lock(b, "alice"):
                    break
            except SyncLocked:
                assert time.monotonic() < deadline, "the dead holder's lock was never released"
                time.sleep(0.1)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_the_run_lock_works_again_after_the_database_restarts(machines, postgres_server):
    a, b = machines
    with user_lock(a, "alice"):  # leaves its connection idle for the next lock
        pass
    postgres_server.stop()
    postgres_server.start()
    with user_lock(a, "alice"):
        with pytest.raises(SyncLocked), user_lock(b, "alice"):
            pass
