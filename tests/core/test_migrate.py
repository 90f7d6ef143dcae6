"""``wess migrate --to postgresql://...``: a home kept in files copied into a real
PostgreSQL database through the product's own stores; the counts agree, the next sync
changes nothing, a second run or a run after ``kill -9`` leaves the same database, the
password never on the command line nor in any output, and the home's files refused
without the URL once migrated (and the un-migrated home refused with it)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.support import sync_ok
from wess_core.cli import cli
from wess_core.service import Context, history
from wess_core.store import Store
from wess_core.sync.state_db import StoreSyncState
from wess_core.sync.state_tables import DatabaseSyncState
from wess_core.sync.status import StatusRow
from wess_core.tables import core_tables, schema
from wess_core.tables.engine import Database, close_databases
from wess_core.tables.rows import ledger_row
from wess_emulator.bench.processes import contact_record
from wess_emulator.emulator import EmulatorServer
from wess_emulator.pytest_plugin import EWS_PASSWORD
from wess_emulator.redis_server import free_port
from wess_plugins.crm_local import local

#: Every kind ``wess migrate`` counts.
KINDS = {
    "account",
    "users",
    "admins",
    "states",
    "folder states",
    "status rows",
    "watch records",
    "history",
    "ledger",
    "jobs",
    "boards",
    "plugin_storage",
    "crm_databases",
    "crm_records",
}


def _database_counts(url: str) -> dict[str, int]:
    """Rows per table of the database, read directly (not through WESS)."""
    tables = (
        "documents",
        "sync_folders",
        "sync_rows",
        "sync_watch",
        "history",
        "ledger",
        "crm_records",
        "plugin_storage",
    )
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in tables}


def _agreeing(result: dict) -> dict[str, int]:
    assert set(result["counts"]) == KINDS
    assert result["differ"] == []
    for kind, pair in result["counts"].items():
        assert pair["home"] == pair["database"], kind
    return {kind: pair["home"] for kind, pair in result["counts"].items()}


@pytest.fixture
def pg_url(postgres_server, monkeypatch) -> str:
    """A new database's URL (with its password); the home is made without it."""
    monkeypatch.delenv("WESS_DATABASE_URL", raising=False)
    return postgres_server.create_database()


def test_a_synced_home_migrates_and_the_next_sync_changes_nothing(
    synced_home, home, crm, pg_url, monkeypatch, postgres_server
):
    wess = synced_home
    crm.add("people", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    first = sync_ok(wess)
    assert first["folders"]["contacts"]["to_exchange"]["created"] == 1
    added = wess("admins", "add", "root", "--password-stdin", input="S3cret-admin-pw\n")
    assert added.exit_code == 0, added.stderr

    monkeypatch.setenv("WESS_DATABASE_URL", pg_url)
    refused = wess("users", "list")  # the tables still in the file: refused, naming the way
    assert refused.exit_code == 1 and "wess migrate --to" in refused.stderr
    assert postgres_server.password not in refused.stderr

    bare = pg_url.replace(f":{postgres_server.password}@", "@")  # the password: from the env
    result = wess("migrate", "--to", bare, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["to"] == bare
    counts = _agreeing(result.json)
    assert counts["users"] == 2 and counts["admins"] == 1 and counts["states"] == 1
    assert counts["status rows"] >= 1 and counts["history"] >= 1 and counts["ledger"] >= 1
    assert counts["crm_records"] >= 1
    assert postgres_server.password not in result.stdout + result.stderr
    assert "S3cret" not in result.stdout + result.stderr
    assert EWS_PASSWORD not in result.stdout + result.stderr
    # the documents as the files hold them: secrets still the same ciphertexts
    with psycopg.connect(pg_url) as conn:
        stored = dict(conn.execute("select key, doc from documents where store = 'users'"))
    users_file = json.loads((home / "users.json").read_text())
    in_file = {d["login"]: d for d in users_file["users"].values()}
    assert stored == in_file and in_file["alice"]["password"]  # a Fernet token, as in the file
    assert EWS_PASSWORD not in json.dumps(stored)

    # with the URL: the database, whose next sync is idle (nothing to write either side)
    ledger_before = _database_counts(pg_url)["ledger"]
    again = sync_ok(wess)
    for name, folder in again["folders"].items():
        for side in ("to_exchange", "to_crm"):
            assert not any(folder[side].values()), (name, side, folder[side])
    assert _database_counts(pg_url)["ledger"] == ledger_before
    newest = wess("history", "alice", "--json").json[0]
    assert newest.get("idle_runs") == 1, newest
    listed = wess("users", "list", "--json")
    assert listed.exit_code == 0 and {u["login"] for u in listed.json} == {"alice", "bob"}

    # without it: refused, naming the database (masked), never a fresh empty home
    monkeypatch.delenv("WESS_DATABASE_URL")
    close_databases()
    alone = wess("users", "list")
    assert alone.exit_code == 1 and "this home was migrated to" in alone.stderr
    assert postgres_server.password not in alone.stderr
    assert f"127.0.0.1:{postgres_server.port}/" in alone.stderr

    # with a URL naming another database: refused too, naming both; nothing copied there
    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    elsewhere = wess("users", "list")
    assert elsewhere.exit_code == 1 and "but WESS_DATABASE_URL names" in elsewhere.stderr
    moved = wess("migrate")
    assert moved.exit_code == 1 and "migrated to" in moved.stderr and "out of date" in moved.stderr
    assert postgres_server.password not in elsewhere.stderr + moved.stderr

    # a second run copies nothing: the same database
    monkeypatch.setenv("WESS_DATABASE_URL", pg_url)
    before = _database_counts(pg_url)
    second = wess("migrate", "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json["already"]
    assert _database_counts(pg_url) == before


def test_a_password_in_to_is_refused_and_an_unreachable_server_is_one_masked_line(
    admin_home, home, pg_url, monkeypatch, postgres_server
):
    wess = admin_home
    refused = wess("migrate", "--to", pg_url)
    assert refused.exit_code == 2
    assert "must not contain a password" in refused.stderr
    assert postgres_server.password not in refused.stderr + refused.stdout

    dead = f"postgresql://wess:Hidden-pw-1@127.0.0.1:{free_port()}/nowhere"
    monkeypatch.setenv("WESS_DATABASE_URL", dead)
    failed = wess("migrate")
    assert failed.exit_code == 1
    assert len(failed.stderr.strip().splitlines()) == 2, failed.stderr  # progress + error
    assert "cannot reach" in failed.stderr and "Hidden-pw-1" not in failed.stderr
    assert not (home / "migrated.json").exists()


def test_a_database_holding_another_deployment_is_not_copied_over(
    admin_home, home, tmp_path, pg_url, monkeypatch
):
    monkeypatch.setenv("WESS_DATABASE_URL", pg_url)
    other = CliRunner().invoke(cli, ["--home", str(tmp_path / "other"), "init"])
    assert other.exit_code == 0, other.stderr  # a home started on the database
    before = _database_counts(pg_url)
    refused = admin_home("migrate")
    assert refused.exit_code == 1 and "already holds a WESS deployment" in refused.stderr
    assert _database_counts(pg_url) == before and not (home / "migrated.json").exists()


#: Users of the round trip (besides alice and bob, whom ``synced_home`` adds).
MANY = 1000
#: History and ledger entries seeded per copied user.
HISTORY_EACH, LEDGER_EACH = 3, 5


def _many_users_home(wess, home: Path, crm) -> list[str]:
    """alice synced through the emulator (a CRM record made a contact); ``MANY`` more
    users imported in one ``wess users import``, each given a copy of alice's state and
    some history and ledger entries; and one user's state in the older TinyDB file."""
    crm.add("people", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    sync_ok(wess)
    logins = [f"u{n:04d}" for n in range(MANY)]
    users_file = home.parent / "users.json"
    users_file.write_text(json.dumps([{"login": u, "email": f"{u}@example.com"} for u in logins]))
    imported = wess("users", "import", str(users_file))
    assert imported.exit_code == 0, imported.stderr
    state = home / "state"
    for login in logins:
        shutil.copyfile(state / "alice.sqlite", state / f"{login}.sqlite")
        os.chmod(state / f"{login}.sqlite", 0o600)
    now = datetime.now(UTC).isoformat()
    history = [
        {"login": u, "kind": "sync", "entry": {"kind": "sync", "message": f"run {n}", "time": now}}
        for u in logins
        for n in range(HISTORY_EACH)
    ]
    ledger = [
        ledger_row(u, {"op": "create", "crm_id": str(n), "item_id": f"{u}-{n}", "time": now})
        for u in logins
        for n in range(LEDGER_EACH)
    ]
    with core_tables(home).write() as conn:
        conn.execute(sa.insert(schema.history), history)
        conn.execute(sa.insert(schema.ledger), ledger)
    _legacy_state(home)
    close_databases()
    return logins


def _reads_back_the_same(home: Path, url: str, logins: list[str]) -> None:
    """Each user's state from the database as from the file: meta and every row."""
    target = Database(url, "test")
    try:
        for login in logins:
            source = StoreSyncState(Store(home), login)
            stored = DatabaseSyncState(lambda: target, login)
            assert stored.item_types() == source.item_types(), login
            for item_type in source.item_types():
                a, b = source.load(item_type), stored.load(item_type)
                assert a.meta() == b.meta(), (login, item_type)
                assert sorted(map(vars, a.rows.all()), key=str) == sorted(
                    map(vars, b.rows.all()), key=str
                ), (login, item_type)
            assert stored.load_watch() == source.load_watch(), login
            source.close()
    finally:
        target.dispose()


#: The service account that impersonates the round trip's users.
SERVICE, SERVICE_PASSWORD = "svc-migrate@example.com", "Svc-Migrate-Pw-1"
#: The requests that write to a mailbox or its folders (the emulator's counters).
EWS_WRITES = (
    "CreateItem",
    "UpdateItem",
    "DeleteItem",
    "MoveItem",
    "SendItem",
    "CreateFolder",
    "DeleteFolder",
)


@pytest.fixture
def mailboxes(ews_ca) -> Iterator[EmulatorServer]:
    """The EWS emulator without its schema check (``ews_server`` checks every request
    of the contract tests; here the same requests, for 1,000 users, would cost a quarter
    of the test); an error inside it still fails the test."""
    server = EmulatorServer(validate=False, ca=ews_ca)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.errors, "EWS emulator errors:\n" + "\n".join(server.errors)


def _legacy_state(home: Path) -> None:
    """One user's state in the older TinyDB file (``oldtimer``, no profile)."""
    row = StatusRow(
        pair_id="p1",
        crm_id="7",
        crm_rev=3,
        crm_hash="h",
        item_id="i1",
        changekey="ck",
        item_hash="ih",
    )
    folder = {"type": "contacts", "version": 1, "token": "t", "rows": {"p1": vars(row)}}
    (home / "state" / "oldtimer.json").write_text(json.dumps({"folders": {"1": folder}}))


def _synced_mailbox_home(wess, home: Path, server) -> list[str]:
    """``MANY`` users, each with a mailbox holding one contact and a CRM database holding
    one person, imported over impersonation in one ``wess users import`` and synced for
    real by one ``wess run --once``: each side then holds both. Plus the older file's
    state of one user without a profile."""
    logins = [f"u{n:04d}" for n in range(MANY)]
    for n, login in enumerate(logins):
        server.add_user(f"{login}@example.com", EWS_PASSWORD)
        server.mailbox(f"{login}@example.com").add_items("contacts", [contact_record(n)])
    server.add_user(SERVICE, SERVICE_PASSWORD, impersonator=True)
    assert wess("init").exit_code == 0
    assert wess("module", "activate").exit_code == 0
    assert wess("licences", "add", str(MANY)).exit_code == 0
    connection = ("--ews-url", server.ews_url, "--ca-bundle", server.ca_cert)
    service = ("--auth", "impersonation", "--impersonation-user", SERVICE)
    made = wess(
        "connection", "set", *connection, *service, "--password-stdin", input=SERVICE_PASSWORD
    )
    assert made.exit_code == 0, made.stderr
    rows = [{"login": u, "email": f"{u}@example.com", "database": f"db-{u}"} for u in logins]
    users_file = home.parent / "users.json"
    users_file.write_text(json.dumps(rows))
    imported = wess("users", "import", str(users_file), "--allocate", "--enable")
    assert imported.exit_code == 0, imported.stderr
    for n, login in enumerate(logins):
        local.create_database(home, f"db-{login}")
        person = {
            "first_name": "Crm",
            "last_name": f"Person{n:04d}",
            "email": f"crm{n}@example.com",
        }
        local.add_record(home, f"db-{login}", "people", person)

    first = wess("run", "--once", "--json")
    assert first.exit_code == 0, first.stderr
    assert sorted(first.json["synced"]) == logins and not first.json["failed"]
    assert server.counts["CreateItem"] >= MANY  # the write counter sees each CRM person
    for login in logins:  # the CRM's person in the mailbox beside its own contact
        assert len(server.mailbox(f"{login}@example.com").folder("contacts").items) == 2, login
    _legacy_state(home)
    close_databases()
    return logins


def _people(home: Path, login: str) -> list[str]:
    """The people of ``login``'s CRM database, every field, in a comparable form."""
    records = local.list_records(home, f"db-{login}", "people")
    return sorted(json.dumps(r, sort_keys=True) for r in records)


@pytest.mark.slow
def test_a_home_of_a_thousand_synced_users_migrates_whole_and_the_next_sync_is_idle(
    wess, home, mailboxes, pg_url, monkeypatch
):
    logins = _synced_mailbox_home(wess, home, mailboxes)
    people = {login: _people(home, login) for login in logins}
    assert all(len(names) == 2 for names in people.values())

    monkeypatch.setenv("WESS_DATABASE_URL", pg_url)
    result = wess("migrate", "--json")
    assert result.exit_code == 0, result.stderr
    counts = _agreeing(result.json)
    assert counts["users"] == MANY and counts["states"] == MANY + 1  # and the older file's
    assert counts["crm_databases"] == MANY + 1  # and the "main" one ``wess init`` makes
    assert counts["crm_records"] == 2 * MANY
    assert counts["history"] >= MANY and counts["ledger"] >= 2 * MANY  # one create each way
    assert counts["status rows"] >= 2 * MANY
    assert "sync state: " in result.stderr  # progress, on stderr
    _reads_back_the_same(home, pg_url, ["oldtimer", *logins])

    before = _database_counts(pg_url)
    second = wess("migrate", "--json")
    assert second.exit_code == 0 and second.json["already"]
    assert _database_counts(pg_url) == before

    # the next pass over all 1,000 users, from the database: each synced, nothing to do
    mailboxes.reset_counts()
    run = wess("run", "--once", "--json")
    assert run.exit_code == 0, run.stderr
    assert sorted(run.json["synced"]) == logins and not run.json["failed"]
    writes = {op: n for op, n in mailboxes.counts.items() if op in EWS_WRITES and n}
    assert writes == {}, writes
    assert mailboxes.counts["GetEvents"] == MANY  # one poll of each user's subscription
    assert _database_counts(pg_url)["ledger"] == before["ledger"]
    newest = history.newest_by_kind(Context(home=home), logins)
    not_idle = {u: newest.get(u, {}).get("sync") for u in logins}
    not_idle = {u: e for u, e in not_idle.items() if (e or {}).get("idle_runs") != 1}
    assert not not_idle, dict(list(not_idle.items())[:3])
    # each user's CRM records read back from the database, as they were in the files
    assert {login: _people(home, login) for login in logins} == people


@pytest.mark.slow
def test_a_migration_killed_mid_way_finishes_when_run_again(
    synced_home, home, crm, pg_url, monkeypatch, postgres_server
):
    wess = synced_home
    _many_users_home(wess, home, crm)
    env = {**os.environ, "WESS_DATABASE_URL": pg_url}
    argv = [sys.executable, "-m", "wess_core.cli", "--home", str(home), "migrate"]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:  # killed once a few users' states are in the database
        seen.append(line)
        if line.startswith("sync state: "):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert not (home / "migrated.json").exists()
    half = _database_counts(pg_url)
    assert 0 < half["sync_folders"] and half["history"] == 0  # stopped in the states

    monkeypatch.setenv("WESS_DATABASE_URL", pg_url)
    result = wess("migrate", "--json")
    assert result.exit_code == 0, result.stderr
    counts = _agreeing(result.json)
    assert counts["users"] == MANY + 2 and counts["states"] == MANY + 2
    assert (home / "migrated.json").exists()
    assert postgres_server.password not in (home / "migrated.json").read_text()
