"""``wess migrate --to postgresql://...``: a home kept in files copied into a real
PostgreSQL database through the product's own stores; the counts agree, the next sync
changes nothing, a second run or a run after ``kill -9`` leaves the same database, the
password never on the command line nor in any output, and the home's files refused
without the URL once migrated (and the un-migrated home refused with it)."""

from __future__ import annotations

import psycopg
import pytest

from tests.support import sync_ok
from tests.support.postgres import _free_port
from wess_core.tables.engine import close_databases

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

    result = wess("migrate", "--json")
    assert result.exit_code == 0, result.stderr
    counts = _agreeing(result.json)
    assert counts["users"] == 2 and counts["admins"] == 1 and counts["states"] == 1
    assert counts["status rows"] >= 1 and counts["history"] >= 1 and counts["ledger"] >= 1
    assert counts["crm_records"] >= 1
    assert postgres_server.password not in result.stdout + result.stderr
    assert "S3cret" not in result.stdout + result.stderr

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

    dead = f"postgresql://wess:Hidden-pw-1@127.0.0.1:{_free_port()}/nowhere"
    monkeypatch.setenv("WESS_DATABASE_URL", dead)
    failed = wess("migrate")
    assert failed.exit_code == 1
    assert len(failed.stderr.strip().splitlines()) == 2, failed.stderr  # progress + error
    assert "cannot reach" in failed.stderr and "Hidden-pw-1" not in failed.stderr
    assert not (home / "migrated.json").exists()
