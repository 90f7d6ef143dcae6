"""Honest reporting: a run with errors is reported and counted as failed (issue 13, §6)."""

from __future__ import annotations

import contextlib
import json
import sqlite3

from tests.support import sync_ok
from wess_core.tables import DB_FILE


def _unstorable_people(crm, count):
    """CRM people Exchange cannot store (U+0001 in a name): each fails alone."""
    return [
        crm.add("people", first_name=f"P{i}\x01", email=f"p{i}@example.com") for i in range(count)
    ]


def test_sync_with_items_in_error_exits_1_and_says_how_many(synced_home, crm):
    bad = _unstorable_people(crm, 3)
    crm.add("tasks", subject="Fine task")

    result = synced_home("sync", "alice", "--json")
    assert result.exit_code == 1, result.stdout + result.stderr
    data = result.json
    assert data["items_in_error"] == 3 and data["ok"] is False
    assert sorted(e["crm_id"] for e in data["folders"]["contacts"]["errors"]) == sorted(bad)
    assert data["folders"]["tasks"]["to_exchange"]["created"] == 1  # the rest synced
    assert "3 item(s) in error (see wess ledger alice)" in result.stderr

    text = synced_home("sync", "alice")  # the items are retried, and fail again
    assert text.exit_code == 1
    last = text.stdout.splitlines()[-1]
    assert last.startswith("Synced alice with errors in ")
    assert last.endswith(": 3 item(s) in error (see wess ledger alice).")
    assert "errors: 3" in text.stdout


def test_run_counts_a_user_with_items_in_error_as_failed(synced_home, crm):
    _unstorable_people(crm, 2)
    result = synced_home("run", "--once", "--json")
    assert result.exit_code == 0, result.stderr  # the scheduler itself ran
    outcome = json.loads(result.stdout)
    assert outcome["synced"] == []
    assert outcome["failed"] == {"alice": "2 item(s) in error (see wess ledger alice)"}
    text = synced_home("run", "--once")
    assert text.stdout.splitlines()[0] == "synced 0, failed 1, skipped 0"


def test_run_counts_a_user_whose_every_folder_failed_as_failed(synced_home, crm, home):
    crm.add("people", first_name="Ann")
    sync_ok(synced_home)
    database = home / DB_FILE

    def move_records(old: str, new: str) -> None:
        with contextlib.closing(sqlite3.connect(database)) as db:
            db.execute(f"ALTER TABLE {old} RENAME TO {new}")
            db.commit()

    move_records("crm_records", "crm_records_away")  # the CRM side is unreadable

    result = synced_home("run", "--once", "--json")
    human = synced_home("run", "--once")
    sync = synced_home("sync", "alice")
    outcome = json.loads(result.stdout)
    assert outcome["synced"] == [] and list(outcome["failed"]) == ["alice"]
    every = "failed for calendar, contacts, email-inbox, email-sent, tasks"
    assert every in outcome["failed"]["alice"]
    assert human.stdout.splitlines()[0] == "synced 0, failed 1, skipped 0"
    assert sync.exit_code == 1
    assert "Synced alice with errors in " in sync.stdout
    assert "failed: calendar, contacts, email-inbox, email-sent, tasks." in sync.stdout
    assert "wess: sync of alice finished with errors: failed for " in sync.stderr
    move_records("crm_records_away", "crm_records")
    sync_ok(synced_home)  # and the next run, the CRM readable again, is clean
