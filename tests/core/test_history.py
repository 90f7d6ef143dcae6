"""History is bounded (the newest entries per user), newest first, and appends from
threads and processes at once all land."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from wess_core.service import Context, history

#: Each test on the home's SQLite file and on PostgreSQL (tests/support/postgres.py).
pytestmark = pytest.mark.usefixtures("database")


def test_history_stays_bounded_and_newest_first(tmp_path, monkeypatch):
    ctx = Context(home=tmp_path)
    monkeypatch.setattr(history, "MAX_ENTRIES", 50)
    for n in range(400):
        history.record(ctx, "alice", "sync", f"run {n}", result={"n": n, "pad": "x" * 50})
    history.record(ctx, "bob", "error", "bob's only entry")
    monkeypatch.setattr(history, "MAX_ENTRIES", 1000)  # what is stored, not what is shown
    messages = [e["message"] for e in history._newest(ctx, "alice", None, 1000)]
    assert messages == [f"run {n}" for n in range(399, 349, -1)]
    assert history.last_entry(ctx, "alice")["message"] == "run 399"
    assert history.last_entry(ctx, "alice", "error") is None
    assert history.last_entry(ctx, "bob")["message"] == "bob's only entry"


_APPENDER = """
import sys
from wess_core.service import Context, history
ctx = Context(home=sys.argv[1])
for n in range(int(sys.argv[3])):
    history.record(ctx, "alice", "sync", f"{sys.argv[2]} {n}")
"""


def test_concurrent_appends_from_threads_and_processes_lose_nothing(tmp_path):
    ctx = Context(home=tmp_path)
    history.record(ctx, "alice", "sync", "first")  # the tables exist before the race
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(tmp_path), f"proc{p}", "30"])
        for p in range(3)
    ]

    def append(name: str) -> None:
        for n in range(30):
            history.record(ctx, "alice", "sync", f"{name} {n}")

    threads = [threading.Thread(target=append, args=(f"thread{t}",)) for t in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(proc.wait(timeout=120) == 0 for proc in procs)
    messages = {e["message"] for e in history._newest(ctx, "alice", None, 1000)}
    writers = [f"proc{p}" for p in range(3)] + [f"thread{t}" for t in range(3)]
    assert messages == {"first"} | {f"{w} {n}" for w in writers for n in range(30)}
    newest_first = [e["message"] for e in history._newest(ctx, "alice", None, 1000)]
    for writer in writers:  # each writer's entries in the order it wrote them
        mine = [m for m in reversed(newest_first) if m.startswith(writer + " ")]
        assert mine == [f"{writer} {n}" for n in range(30)]


def test_idle_runs_fold_and_other_entries_break_the_fold(tmp_path):
    ctx = Context(home=tmp_path)
    for _ in range(4):
        history.record(ctx, "alice", "sync", "nothing", idle=True, result={"n": 0})
    history.record(ctx, "bob", "sync", "nothing", idle=True)  # another user's fold
    (entry,) = history._newest(ctx, "alice", None, 10)
    assert entry["idle_runs"] == 4 and entry["first"] <= entry["last"] == entry["time"]
    assert entry["message"].startswith("4 runs, nothing to sync, ")
    assert entry["result"] == {"n": 0}
    history.record(ctx, "alice", "error", "sync failed")
    history.record(ctx, "alice", "sync", "nothing", idle=True)
    kinds = [(e["kind"], e.get("idle_runs")) for e in history._newest(ctx, "alice", None, 10)]
    assert kinds == [("sync", 1), ("error", None), ("sync", 4)]


def test_concurrent_idle_runs_are_all_counted(tmp_path):
    ctx = Context(home=tmp_path)
    history.record(ctx, "alice", "sync", "nothing", idle=True)

    def idle_runs() -> None:
        for _ in range(25):
            history.record(ctx, "alice", "sync", "nothing", idle=True)

    threads = [threading.Thread(target=idle_runs) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (entry,) = history._newest(ctx, "alice", None, 10)
    assert entry["idle_runs"] == 101


def test_idle_line_names_the_count_and_the_span():
    ten = "2026-01-02T10:00:00.000+00:00"
    assert history.idle_line(1, ten, ten) == "1 run, nothing to sync, 10:00:00 UTC"
    line = history.idle_line(12, ten, "2026-01-03T11:00:00.000+00:00")
    assert line == "12 runs, nothing to sync, 2026-01-02 10:00:00–2026-01-03 11:00:00 UTC"
