"""Everything a home holds, in PostgreSQL (issue 18): with ``WESS_DATABASE_URL`` set,
the account, the users, each user's sync state, history and ledger live in the
database and nowhere in the home; another process sees a change at once; a user's state
and its ledger entries are written together or not at all, also when the database
connection is cut in the middle of the commit; the next sync converges, duplicating
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg
import pytest

from tests.support import listing, sync_ok

WESS = [sys.executable, "-m", "wess_core.cli"]
PEOPLE = [("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing")]


@pytest.fixture
def pg_url(monkeypatch, postgres_server) -> str:
    """A new database named by WESS_DATABASE_URL, before any home fixture runs."""
    url = postgres_server.create_database()
    monkeypatch.setenv("WESS_DATABASE_URL", url)
    return url


def _one(url: str, query: str, *args: object) -> object:
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchone()[0]


def _add_people(crm) -> list[str]:
    return [
        crm.add("people", first_name=first, last_name=last, email=f"{first.lower()}@example.com")
        for first, last in PEOPLE
    ]


def _stored(url: str) -> tuple[object, ...]:
    """Alice's status rows, ledger entries and stored contacts folder (0 or 1)."""
    return (
        _one(url, "select count(*) from sync_rows where login = 'alice'"),
        _one(url, "select count(*) from ledger where login = 'alice'"),
        _one(
            url,
            "select count(*) from sync_folders where login = 'alice' and item_type = 'contacts'",
        ),
    )


def _contacts_converged(mailbox, crm) -> None:
    """One contact per person on each side: nothing lost, nothing duplicated."""
    assert len(listing(mailbox, "contacts")) == len(crm.list("people")) == len(PEOPLE)


def test_the_home_keeps_no_store_file_and_another_process_sees_changes(
    pg_url, synced_home, home, crm, mailbox
):
    _add_people(crm)
    sync_ok(synced_home)
    files = {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}
    kept = {"users.json", "account.json", "admins.json", "wess.sqlite"}
    assert not files & kept and not any(f.startswith("state/") for f in files), files
    assert {f for f in files if not f.startswith(".locks/")} == {"secret.key"}, files
    assert _one(pg_url, "select doc->>'exchange_email' from documents where key = 'alice'")
    assert _one(pg_url, "select count(*) from documents where store = 'account'") == 1
    rows, ledger, folders = _stored(pg_url)
    assert (rows, folders) == (len(PEOPLE), 1) and ledger >= len(PEOPLE)
    token = _one(pg_url, "select doc->>'password' from documents where key = 'alice'")
    assert token and token.startswith("gAAAA")  # a Fernet token, as in the users file
    # a change made here shows at once in another process
    assert synced_home("users", "disable", "alice").exit_code == 0
    shown = subprocess.run(
        [*WESS, "--home", str(home), "users", "show", "alice", "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(shown.stdout)["sync_enabled"] is False
    _contacts_converged(mailbox, crm)


FAILING_LEDGER = """
CREATE FUNCTION wess_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'ledger refused by the test'; END $$;
CREATE TRIGGER wess_test_fault BEFORE INSERT ON ledger
    FOR EACH ROW EXECUTE FUNCTION wess_test_fault();
"""
SLEEPING_LEDGER = """
CREATE FUNCTION wess_test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(120); RETURN NEW; END $$;
CREATE TRIGGER wess_test_fault BEFORE INSERT ON ledger
    FOR EACH ROW EXECUTE FUNCTION wess_test_fault();
"""
REPAIR = "DROP TRIGGER wess_test_fault ON ledger; DROP FUNCTION wess_test_fault();"


def _execute(url: str, script: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script)


def test_a_ledger_write_that_fails_leaves_no_state_either(pg_url, synced_home, crm, mailbox):
    _add_people(crm)
    _execute(pg_url, FAILING_LEDGER)
    result = synced_home("sync", "alice", "--json")
    assert result.exit_code == 1
    assert "ledger refused by the test" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert _stored(pg_url) == (0, 0, 0)  # the contacts created in Exchange: not recorded
    _execute(pg_url, REPAIR)
    sync_ok(synced_home)
    assert _stored(pg_url)[0] == len(PEOPLE)
    _contacts_converged(mailbox, crm)  # re-linked by the stored CRM id: no duplicate


def _terminate_the_sleeper(url: str, deadline: float) -> int:
    """Cut the connection of the backend sleeping in the trigger; its pid."""
    while time.monotonic() < deadline:
        pid = _one(
            url,
            "select coalesce(max(pid), 0) from pg_stat_activity "
            "where datname = current_database() and wait_event = 'PgSleep'",
        )
        if pid:
            assert _one(url, "select pg_terminate_backend(%s)", pid)
            return int(pid)
        time.sleep(0.05)
    pytest.fail("the sync never reached its commit")


def test_a_connection_cut_mid_commit_writes_nothing_and_the_next_sync_converges(
    pg_url, synced_home, home, crm, mailbox
):
    _add_people(crm)
    _execute(pg_url, SLEEPING_LEDGER)
    sync = subprocess.Popen(
        [*WESS, "--home", str(home), "sync", "alice"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        _terminate_the_sleeper(pg_url, time.monotonic() + 120)
        out, err = sync.communicate(timeout=120)
    finally:
        sync.kill()
    assert sync.returncode == 1, out + err
    assert "Traceback" not in err and "pw-" not in err, err  # no password either
    errors = [line for line in err.splitlines() if line.startswith("wess: ")]
    assert len(errors) == 1 and "cannot reach the PostgreSQL database" in errors[0], err
    assert _stored(pg_url) == (0, 0, 0)  # neither the state nor its ledger entries
    _execute(pg_url, REPAIR)
    sync_ok(synced_home)
    rows, ledger, _ = _stored(pg_url)
    assert rows == len(PEOPLE) and ledger >= len(PEOPLE)
    _contacts_converged(mailbox, crm)
