"""``kill -9`` of a real ``wess sync`` at many points: a clean rerun repairs everything.

The emulator runs in the test process; each ``wess sync`` is a real child process
killed with SIGKILL once the emulator has answered a chosen number of requests (or
after a random delay, to land between requests too). After every kill a clean run
must leave both sides equal, without duplicates, and every store file readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.support import assert_no_orphan_workers, listing
from wess_core.strategies import ItemUpdate, NewItem
from wess_plugins.crm_local import local

pytestmark = pytest.mark.slow


SYNC = ("sync", "alice", "--json")
RUN = ("run", "--once", "--workers", "2")
RUN_PROCESSES = ("run", "--once", "--workers", "16")  # worker processes


def _spawn(home, argv=SYNC):
    env = {**os.environ, "WESS_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "wess_core.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after(server, home, requests: int | None, delay: float | None, argv=SYNC) -> None:
    start = sum(server.counts.values())
    proc = _spawn(home, argv)
    deadline = time.monotonic() + 30
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if requests is not None and sum(server.counts.values()) - start >= requests:
                break
            if delay is not None and time.monotonic() - (deadline - 30) >= delay:
                break
            time.sleep(0.0005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _clean_sync(home) -> None:
    env = {**os.environ, "WESS_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", "sync", "alice", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    for name, folder in result["folders"].items():
        assert not folder["failed"], (name, folder["failed"])


def _assert_equal_sides(home, mailbox):
    for path in home.rglob("*.json"):
        json.loads(path.read_text())  # no store file is corrupt
    for path in home.rglob("*.sqlite"):  # nor a state database
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",), path
    for record_type, folder, key in (
        ("people", "contacts", "email"),
        ("tasks", "tasks", "subject"),
    ):
        records = local.list_records(home, "main", record_type)
        items = listing(mailbox, folder)
        crm_keys = sorted(r["fields"][key] for r in records)
        assert len(crm_keys) == len(set(crm_keys)), f"duplicate {record_type} in the CRM"
        if folder == "contacts":
            ex_keys = sorted(i.fields["email_addresses"][0]["email"] for i in items)
        else:
            ex_keys = sorted(i.fields["subject"] for i in items)
        assert len(ex_keys) == len(set(ex_keys)), f"duplicate {folder} in Exchange"
        assert crm_keys == ex_keys, f"{record_type} differ"


def test_kill_nine_during_initial_and_incremental_sync(synced_home, home, ews_server, mailbox):
    rng = random.Random(20261128)
    ews_server.set_latency(0.003)
    people = [{"first_name": f"P{i}", "email": f"p{i}@crm.example"} for i in range(260)]
    local.import_records(home, "main", "people", people)
    tasks = [{"subject": f"crm task {i}"} for i in range(40)]
    local.import_records(home, "main", "tasks", tasks)
    created = mailbox.create(
        "contacts",
        [
            NewItem(
                {
                    "given_name": f"E{i}",
                    "email_addresses": [{"label": "EmailAddress1", "email": f"e{i}@ex.example"}],
                },
                crm_id="",
            )
            for i in range(150)
        ],
    )
    assert not [r for r in created if isinstance(r, Exception)]
    mailbox.create("tasks", [NewItem({"subject": f"ex task {i}"}, crm_id="") for i in range(30)])

    kills = 0
    # initial sync: kill after 1, 2, 3 ... requests, then at random moments
    for requests in (1, 2, 3, 4, 5, 6, 8, 10, 12):
        _kill_after(ews_server, home, requests, None)
        kills += 1
    for _ in range(5):
        _kill_after(ews_server, home, None, rng.uniform(0.3, 1.5))
        kills += 1
    _clean_sync(home)
    _clean_sync(home)  # reads back the echoes of the first clean run
    _assert_equal_sides(home, mailbox)

    # incremental: edits on both sides, then more kills
    for record in rng.sample(local.list_records(home, "main", "people"), 40):
        local.update_record(home, "main", "people", record["id"], {"job_title": "VP"})
    for record in rng.sample(local.list_records(home, "main", "people"), 10):
        local.delete_record(home, "main", "people", record["id"])
    items = listing(mailbox, "contacts")
    mailbox.update(
        "contacts",
        [ItemUpdate(i.item_id, {"job_title": "Boss"}, i.changekey) for i in rng.sample(items, 30)],
    )
    for requests in (1, 2, 3, 4, 5, 7):
        _kill_after(ews_server, home, requests, None)
        kills += 1
    for _ in range(4):
        _kill_after(ews_server, home, None, rng.uniform(0.3, 1.2))
        kills += 1
    # the scheduler killed mid-pass too
    for record in rng.sample(local.list_records(home, "main", "people"), 10):
        local.update_record(home, "main", "people", record["id"], {"job_title": "CFO"})
    for requests in (1, 3):
        _kill_after(ews_server, home, requests, None, RUN)
        kills += 1
    _kill_after(ews_server, home, None, rng.uniform(0.3, 1.0), RUN)
    kills += 1
    for record in rng.sample(local.list_records(home, "main", "people"), 10):
        local.update_record(home, "main", "people", record["id"], {"job_title": "CIO"})
    _kill_after(ews_server, home, 2, None, RUN_PROCESSES)
    _kill_after(ews_server, home, None, rng.uniform(0.5, 1.5), RUN_PROCESSES)
    kills += 2
    assert_no_orphan_workers(home)
    _clean_sync(home)
    _clean_sync(home)
    _assert_equal_sides(home, mailbox)
    assert kills >= 29
