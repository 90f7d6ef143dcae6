"""Store files: atomic writes, real concurrent processes, corrupt files never overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from wess_core.errors import StoreCorrupt, StoreError
from wess_core.store import Store

ADD_USERS = textwrap.dedent(
    """
    import sys
    from wess_core.service import Context, users
    ctx = Context(home=sys.argv[1])
    prefix, count = sys.argv[2], int(sys.argv[3])
    for i in range(count):
        users.add_user(ctx, f"{prefix}{i}", f"{prefix}{i}@example.com")
    """
)


@pytest.mark.usefixtures("database")  # the users file, or PostgreSQL's documents
def test_two_processes_adding_users_lose_nothing(admin_home, home):
    procs = [
        subprocess.Popen([sys.executable, "-c", ADD_USERS, str(home), prefix, "40"])
        for prefix in ("p", "q", "r")
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    logins = {u["login"] for u in admin_home("users", "list", "--json").json}
    expected = {f"{p}{i}" for p in "pqr" for i in range(40)} | {"alice", "bob"}
    assert logins == expected


def test_corrupt_file_gives_clear_error_and_is_not_overwritten(admin_home, home):
    users_file = home / "users.json"
    truncated = users_file.read_bytes()[:-7]
    users_file.write_bytes(truncated)
    for argv in (("users", "list"), ("users", "add", "carol", "--email", "c@example.com")):
        result = admin_home(*argv)
        assert result.exit_code == 1
        assert str(users_file) in result.stderr
        assert "corrupt" in result.stderr
        assert "Traceback" not in result.stderr
    assert users_file.read_bytes() == truncated


def test_empty_file_is_corrupt_not_empty_store(tmp_path):
    store = Store(tmp_path)
    store.path("users").write_text("")
    with pytest.raises(StoreCorrupt, match="empty"):
        store.read("users")


def test_failed_transaction_writes_nothing(tmp_path):
    store = Store(tmp_path)
    with store.write("things") as db:
        db.insert({"n": 1})
    before = store.path("things").read_bytes()
    with pytest.raises(RuntimeError), store.write("things") as db:
        db.insert({"n": 2})
        raise RuntimeError("boom")
    assert store.path("things").read_bytes() == before


def test_write_error_leaves_previous_state_and_no_temp_file(tmp_path, monkeypatch):
    store = Store(tmp_path)
    with store.write("things") as db:
        db.insert({"n": 1})
    before = store.path("things").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(StoreError, match="No space left on device; nothing was changed"):
        with store.write("things") as db:
            db.insert({"n": 2})
    monkeypatch.undo()
    assert store.path("things").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_files_are_private(admin_home, home):
    for path in home.glob("*.json"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_one_transaction_writes_once(tmp_path, monkeypatch):
    import wess_core.store as store_module

    writes = []
    real = store_module.write_json_atomic
    monkeypatch.setattr(
        store_module, "write_json_atomic", lambda p, d: (writes.append(p), real(p, d))
    )
    store = Store(tmp_path)
    with store.write("batch") as db:
        for i in range(50):
            db.insert({"i": i})
    assert len(writes) == 1
    assert len(json.loads(store.path("batch").read_text())["_default"]) == 50


def test_file_lock_excludes_every_other_holder_and_interoperates_with_filelock(tmp_path):
    import threading
    import time

    import filelock

    from wess_core.store import LockTimeout, file_lock

    path = tmp_path / "x.lock"
    with file_lock(path, 0):
        with pytest.raises(LockTimeout), file_lock(path, 0):  # a second holder, same thread
            pass
        with pytest.raises(filelock.Timeout):  # a filelock user waits for us too
            filelock.FileLock(str(path), timeout=0, thread_local=False).acquire()
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from pathlib import Path\n"
                "from wess_core.store import LockTimeout, file_lock\n"
                "try:\n    file_lock(Path(sys.argv[1]), 0.05).__enter__()\n"
                "except LockTimeout:\n    sys.exit(3)\n",
                str(path),
            ],
            timeout=60,
        )
        assert proc.returncode == 3  # another process is refused
    other = filelock.FileLock(str(path), timeout=0, thread_local=False)
    other.acquire()
    with pytest.raises(LockTimeout), file_lock(path, 0.02):
        pass
    threading.Timer(0.1, other.release).start()
    started = time.monotonic()
    with file_lock(path, 10):  # waits for the release, then holds it
        assert time.monotonic() - started >= 0.05
    assert path.exists()  # left in place: waiters share the inode


def test_a_removed_lock_leaves_no_file_and_never_two_holders(tmp_path):
    """A lock whose file is deleted on release (one per user): a waiter that opened the
    old file takes the lock on the file the path names now, so a third taker is still
    refused while it holds."""
    import threading
    import time

    from wess_core.store import LockTimeout, file_lock

    path = tmp_path / "run__alice.lock"
    holding, release = threading.Event(), threading.Event()

    def wait_then_hold() -> None:
        with file_lock(path, 10, remove=True):
            holding.set()
            release.wait(10)

    first = file_lock(path, 0, remove=True)
    first.__enter__()
    waiter = threading.Thread(target=wait_then_hold)
    waiter.start()
    time.sleep(0.2)  # the waiter has opened the file and polls its flock
    first.__exit__(None, None, None)
    assert holding.wait(10)
    try:
        with pytest.raises(LockTimeout), file_lock(path, 0, remove=True):
            pass
    finally:
        release.set()
        waiter.join(10)
    assert not path.exists()
    with file_lock(path, 0, remove=True):  # free again
        assert path.exists()
    assert not path.exists()


def test_paths_are_remembered_and_bad_names_still_refused(tmp_path):
    from wess_core.errors import ValidationError

    store = Store(tmp_path)
    assert store.path("state/alice") == tmp_path / "state" / "alice.json"
    assert store.path("state/alice") is store.path("state/alice")
    for bad in ("../x", "state/../x", "a/.", ""):
        for _ in range(2):
            with pytest.raises(ValidationError):
                store.path(bad)
    store.PATH_CACHE_SIZE = 3  # bounded
    for n in range(10):
        assert store.path(f"u{n}") == tmp_path / f"u{n}.json"
    assert len(store._paths) <= 3
