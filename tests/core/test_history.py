"""History is bounded (the newest entries per user), newest first, and appends from
threads and processes at once all land."""

from __future__ import annotations

import subprocess
import sys
import threading

from wess_core.service import Context, history


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
