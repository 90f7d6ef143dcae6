"""A home written by the code before the SQL tables (tests/data/legacy_home, see its
README) opens with the current code: its history, ledger, job marker, scheduler board and
CRM databases are imported once, nothing is lost, and the old files are gone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from wess_core.service import Context, history
from wess_core.service.jobs import running_jobs
from wess_core.service.queue import read_board
from wess_core.store import Store
from wess_core.sync.ledger import StoreLedger
from wess_core.tables.engine import close_databases
from wess_plugins.crm_local import local
from wess_plugins.crm_local.local import LocalCrm

LEGACY = Path(__file__).parent.parent / "data" / "legacy_home"

#: Each test on the home's SQLite file and on PostgreSQL (tests/support/postgres.py).
pytestmark = pytest.mark.usefixtures("database")


@pytest.fixture
def old_home(home):
    shutil.copytree(LEGACY, home)
    for folder, _dirs, files in os.walk(home):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)
    return home


def _everything(home):
    ctx = Context(home=home)
    crm = LocalCrm(home, "main")
    return {
        "alice": [e["message"] for e in history.entries(ctx, "alice")],
        "bob": [(e["kind"], e["message"], e.get("code")) for e in history.entries(ctx, "bob")],
        "ledger": [
            (e["op"], e["crm_id"], e["item_id"])
            for e in StoreLedger(Store(home), "alice", retention_days=36_500).entries()
        ],
        "jobs": [(j["kind"], j["started"]) for j in running_jobs(ctx, "alice")],
        "board": read_board(ctx),
        "people": crm.list("people"),
        "meetings": crm.list("meetings"),
        "emails": crm.list("emails"),
        "sales": local.list_records(home, "sales", "tasks"),
    }


def test_an_old_home_is_imported_once_and_loses_nothing(old_home, wess, database):
    found = _everything(old_home)
    assert found["alice"] == [f"run {n}" for n in range(4, -1, -1)]  # snapshot + journal
    assert found["bob"] == [("error", "bob failed", "ErrorServerBusy")]
    assert found["ledger"] == [("create", str(n + 1), f"item{n}") for n in range(3)]
    assert found["jobs"] == [("discovery", "2024-01-01T00:00:00+00:00")]
    assert found["board"]["running"] == ["alice"] and found["board"]["waiting"] == ["bob"]
    people = {r["id"]: r for r in found["people"]}
    assert len(people) == 1099 and "3" not in people  # 1,100 in two shards, one deleted
    assert people["2"]["fields"]["job_title"] == "CEO"
    assert people["1100"]["fields"] == {"first_name": "P1100", "email": "p1100@example.com"}
    assert [m["fields"]["subject"] for m in found["meetings"]] == ["Kick-off"]
    assert found["emails"][0]["people_ids"] == ["1"]
    assert [t["fields"]["subject"] for t in found["sales"]] == ["Call back"]
    # the tombstone is still in the change feed, the counter goes on where it was
    crm = LocalCrm(old_home, "main")
    assert "3" in {c.id for c in crm.changes("people", "1100")[0]}
    added = local.add_record(old_home, "main", "people", {"first_name": "New"})
    assert (added["id"], added["revision"]) == ("1101", 1105)
    for gone in ("history", "ledger", "jobs", "crm", "scheduler.json"):
        assert not (old_home / gone).exists(), gone
    # the account and users stay in the home's files, or move into the shared database
    in_files = database == "sqlite"
    assert (old_home / "users.json").exists() == (old_home / "account.json").exists() == in_files
    assert wess("history", "alice", "--json").json[0]["message"] == "run 4"


def test_files_left_behind_after_the_import_are_not_read_again(old_home):
    before = _everything(old_home)
    close_databases()
    (old_home / "history").mkdir(mode=0o700)  # as if the removal had been cut short
    shutil.copy(LEGACY / "history" / "alice.json", old_home / "history" / "alice.json")
    os.chmod(old_home / "history" / "alice.json", 0o600)
    assert _everything(old_home) == before
