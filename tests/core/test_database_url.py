"""The tables in PostgreSQL (``WESS_DATABASE_URL``) as on the home's SQLite file: the
ledger, jobs, board and plugin storage behave the same, read-then-write transactions
from many writers at once still serialise, a wrong URL or an unreachable server is one
line without the password, and a real ``wess sync`` stores its history and ledger in
PostgreSQL and nothing in the home's ``wess.sqlite``."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from cryptography.fernet import Fernet

from tests.support import sync_ok
from wess_core.errors import JobRunning, StoreError
from wess_core.plugin_storage import HomeStorage
from wess_core.service import Context, history, jobs
from wess_core.service.queue import read_board, write_board
from wess_core.store import Store
from wess_core.sync.ledger import StoreLedger
from wess_core.tables import DB_FILE
from wess_core.tables.engine import close_databases
from wess_core.tables.postgresql import parse_url
from wess_emulator.redis_server import free_port
from wess_plugins.crm_local import local


def _at_once(count: int, work) -> list[BaseException | None]:
    """Run ``work(n)`` in ``count`` threads released together; each one's exception."""
    start = threading.Barrier(count)
    outcome: list[BaseException | None] = [None] * count

    def run(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


@pytest.mark.usefixtures("database")
def test_the_ledger_keeps_the_newest_within_the_retention(tmp_path):
    ledger = StoreLedger(Store(tmp_path), "alice", retention_days=30, max_entries=5)
    now = datetime.now(UTC)
    old = {"op": "create", "crm_id": "1", "item_id": "old", "time": (now - timedelta(days=60))}
    ledger.write([{**old, "time": old["time"].isoformat()}])
    entries = [
        {"op": "update", "crm_id": str(n), "item_id": f"i{n}", "time": now.isoformat()}
        for n in range(8)
    ]
    ledger.write(entries)
    assert [e["item_id"] for e in ledger.entries()] == [f"i{n}" for n in range(3, 8)]
    assert [e["crm_id"] for e in ledger.entries(item="i6")] == ["6"]
    other = StoreLedger(Store(tmp_path), "bob")
    assert other.entries() == []


@pytest.mark.usefixtures("database")
def test_only_one_of_many_simultaneous_job_claims_wins(tmp_path):
    ctx = Context(home=tmp_path)
    now = datetime.now(UTC)
    history.record(ctx, "alice", "sync", "the tables exist before the race")

    def claim(n: int) -> None:
        jobs.claim(ctx, "alice", "discovery", (now + timedelta(seconds=n)).isoformat())

    outcome = _at_once(8, claim)
    assert sum(exc is None for exc in outcome) == 1
    assert all(isinstance(exc, JobRunning) for exc in outcome if exc is not None)
    assert len(jobs.running_jobs(ctx, "alice")) == 1


@pytest.mark.usefixtures("database")
def test_simultaneous_crm_writers_each_get_their_own_records(tmp_path):
    local.add_record(tmp_path, "main", "people", {"first_name": "First"})

    def add(n: int) -> None:
        for k in range(5):
            local.add_record(tmp_path, "main", "people", {"first_name": f"T{n}-{k}"})

    assert _at_once(4, add) == [None] * 4
    names = sorted(
        r["fields"]["first_name"] for r in local.list_records(tmp_path, "main", "people")
    )
    assert names == sorted(["First", *(f"T{n}-{k}" for n in range(4) for k in range(5))])


@pytest.mark.usefixtures("database")
def test_board_and_plugin_storage_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("WESS_SECRET_KEY", Fernet.generate_key().decode())
    ctx = Context(home=tmp_path)
    write_board(ctx, {"running": ["alice"], "waiting": []})
    write_board(ctx, {"running": [], "waiting": ["bob"]})
    assert read_board(ctx) == {"running": [], "waiting": ["bob"]}
    storage = HomeStorage(tmp_path, "demo")
    storage.set("token", b"\x00\xffvalue")
    assert storage.get("token") == b"\x00\xffvalue"
    storage.set("token", b"second", secret=True)
    assert storage.get("token") == b"second"
    storage.delete("token")
    assert storage.get("token") is None


def test_a_url_that_is_not_postgresql_is_refused_without_repeating_it(monkeypatch, tmp_path):
    for url in ("mysql://u:sekret@h/db", "postgresql://u:sekret@h:notaport/db", "nonsense"):
        monkeypatch.setenv("WESS_DATABASE_URL", url)
        with pytest.raises(StoreError) as err:
            history.record(Context(home=tmp_path), "alice", "sync", "x")
        assert "sekret" not in str(err.value) and "\n" not in str(err.value)
        assert "WESS_DATABASE_URL" in str(err.value)
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"


def test_an_unreachable_server_is_one_line_naming_it_without_the_password(
    pg_url, admin_home, monkeypatch, postgres_server
):
    wess = admin_home
    port = free_port()  # nothing listens there: a stopped server
    monkeypatch.setenv("WESS_DATABASE_URL", f"postgresql://wess:sekret-pw@127.0.0.1:{port}/wessdb")
    result = wess("history", "alice", "--json")
    assert result.exit_code != 0
    line = result.stderr.strip()
    assert "\n" not in line and "sekret-pw" not in result.stderr + result.stdout
    assert f"127.0.0.1:{port}" in line and "'wessdb'" in line and "server is running" in line
    wrong = postgres_server.url("postgres", password="sekret-pw")
    monkeypatch.setenv("WESS_DATABASE_URL", wrong)
    result = wess("history", "alice", "--json")
    assert result.exit_code != 0 and "sekret-pw" not in result.stderr + result.stdout
    assert "password authentication failed" in result.stderr


def test_database_url_option_refuses_a_password_and_takes_it_from_the_environment(
    pg_url, admin_home, home, monkeypatch, postgres_server
):
    wess, url = admin_home, pg_url
    monkeypatch.setenv("WESS_DATABASE_URL", "")  # the option sets it for this process
    result = wess("--database-url", url, "history", "alice")
    assert result.exit_code == 2 and postgres_server.password not in result.stderr
    assert "must not contain a password" in result.stderr
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    bare = url.replace(f":{postgres_server.password}@", "@")
    result = wess("--database-url", bare, "history", "alice", "--json")
    assert result.exit_code == 0, result.stderr
    assert not (home / DB_FILE).exists()  # the option's database, not the home's file


@pytest.fixture
def pg_url(monkeypatch, postgres_server) -> str:
    """A new PostgreSQL database named by WESS_DATABASE_URL (before any home fixture)."""
    url = postgres_server.create_database()
    monkeypatch.setenv("WESS_DATABASE_URL", url)
    return url


def test_a_sync_stores_history_and_ledger_in_postgresql_only(pg_url, synced_home, home, crm):
    url = pg_url
    crm.add("people", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    data = sync_ok(synced_home)
    assert data["folders"]
    with psycopg.connect(url) as conn:
        kinds = [row[0] for row in conn.execute("select kind from history where login = 'alice'")]
        ledger = conn.execute("select count(*) from ledger where login = 'alice'").fetchone()[0]
        people = conn.execute("select count(*) from crm_records where type = 'people'").fetchone()
    assert "sync" in kinds and ledger >= 1 and people[0] >= 1
    assert not (home / DB_FILE).exists()


def test_a_home_with_its_tables_in_a_file_is_not_left_for_an_empty_database(
    tmp_path, monkeypatch, postgres_server
):
    monkeypatch.delenv("WESS_DATABASE_URL", raising=False)
    ctx = Context(home=tmp_path)
    history.record(ctx, "alice", "sync", "kept in the file")
    close_databases()
    url = postgres_server.create_database()
    monkeypatch.setenv("WESS_DATABASE_URL", url)
    with pytest.raises(StoreError, match="wess migrate --to") as err:
        history.record(ctx, "alice", "sync", "would be split off")
    assert postgres_server.password not in str(err.value) and "***" in str(err.value)
    monkeypatch.delenv("WESS_DATABASE_URL")
    assert [e["message"] for e in history._newest(ctx, "alice", None, 10)] == ["kept in the file"]


_FIRST_WRITER = """
import os, sys, time
from pathlib import Path
from wess_core.service import Context, history
Path(sys.argv[3]).touch()  # imported: ready
while not os.path.exists(sys.argv[4]):
    time.sleep(0.005)
for n in range(5):
    history.record(Context(home=sys.argv[1]), "alice", "sync", f"{sys.argv[2]} {n}")
"""


@pytest.mark.usefixtures("database")
def test_processes_opening_a_new_database_at_once_create_it_once(tmp_path):
    home, go = tmp_path / "home", tmp_path / "go"
    ready = [tmp_path / f"ready{p}" for p in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_WRITER, str(home), f"p{p}", str(ready[p]), str(go)]
        )
        for p in range(3)
    ]
    while not all(path.exists() for path in ready):
        time.sleep(0.01)
    go.touch()
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0]
    found = history._newest(Context(home=home), "alice", None, 100)
    assert sorted(e["message"] for e in found) == sorted(
        f"p{p} {n}" for p in range(3) for n in range(5)
    )
