"""History appends to a journal: bounded, newest first, a torn last line ignored, and a
file written whole by an older WESS is read and taken over."""

from __future__ import annotations

import json

from wess_core.service import Context, history
from wess_core.store import write_json_atomic


def test_history_stays_bounded_and_newest_first(tmp_path, monkeypatch):
    ctx = Context(home=tmp_path)
    monkeypatch.setattr(history, "MAX_ENTRIES", 50)
    monkeypatch.setattr(history, "JOURNAL_MIN_BYTES", 2048)
    for n in range(400):
        history.record(ctx, "alice", "sync", f"run {n}", result={"n": n, "pad": "x" * 50})
    rows = history._all(ctx, "history/alice")
    assert len(rows) <= 2 * 50 + 40  # folded as the journal outgrows the snapshot
    assert history.last_entry(ctx, "alice")["message"] == "run 399"
    newest = [r["message"] for r in reversed(rows[-50:])]
    assert newest[0] == "run 399" and newest[-1] == "run 350"
    assert history.last_entry(ctx, "alice", "error") is None


def test_a_torn_last_line_is_skipped_and_cut_off_by_the_next_append(tmp_path):
    ctx = Context(home=tmp_path)
    history.record(ctx, "alice", "sync", "one")
    history.record(ctx, "alice", "sync", "two")
    journal = ctx.store.journal_path("history/alice")
    with open(journal, "ab") as fh:
        fh.write(b'{"g":"x","e":{"kind":"sync","mess')  # a process killed mid-append
    assert history.last_entry(ctx, "alice")["message"] == "two"
    history.record(ctx, "alice", "error", "three")
    assert [e["message"] for e in history._all(ctx, "history/alice")] == ["one", "two", "three"]
    for line in journal.read_bytes().splitlines():
        json.loads(line)


def test_a_file_written_whole_is_taken_over(tmp_path):
    ctx = Context(home=tmp_path)
    old = {
        "history": {
            "1": {"time": "2024-01-01T00:00:00.000+00:00", "kind": "sync", "message": "old"}
        }
    }
    write_json_atomic(ctx.store.path("history/alice"), old)
    history.record(ctx, "alice", "sync", "new")
    assert [e["message"] for e in history._all(ctx, "history/alice")] == ["old", "new"]
    history.record(ctx, "alice", "sync", "newer")
    assert history.last_entry(ctx, "alice")["message"] == "newer"
    assert ctx.store.journal_path("history/alice").exists()
