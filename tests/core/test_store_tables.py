"""The tables that hold the account, profiles and sync state in a shared database:
created once, by their own migration component, and never in a home kept in files."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from wess_core.service import Context
from wess_core.tables import DB_FILE, core_tables, store_tables
from wess_core.tables.engine import close_databases
from wess_core.tables.schema import schema_version
from wess_core.tables.store_schema import COMPONENT
from wess_core.tables.store_upgrade import STEPS

STORE_TABLES = {"documents", "sync_folders", "sync_rows", "sync_watch"}


def test_the_store_tables_are_created_in_postgresql_with_their_version(
    tmp_path, postgres_server, monkeypatch
):
    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    db = store_tables(tmp_path)
    with db.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
        version = conn.scalar(
            sa.select(schema_version.c.version).where(schema_version.c.component == COMPONENT)
        )
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("sync_rows")}
    assert STORE_TABLES <= names
    assert version == len(STEPS)
    assert {"sync_rows_by_crm", "sync_rows_by_item"} <= indexes


def test_a_home_in_files_gets_none_of_them(tmp_path, monkeypatch):
    monkeypatch.delenv("WESS_DATABASE_URL", raising=False)
    db = core_tables(tmp_path)
    with db.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert not STORE_TABLES & names


def _documents(tmp_path, monkeypatch, postgres_server, key="login"):
    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    return Context(home=tmp_path).stores.documents("users", "users", key)


def test_a_document_transaction_writes_what_changed_or_nothing(
    tmp_path, postgres_server, monkeypatch
):
    """Put, delete, a change in place (as ``_resume_everyone`` does) are written at the
    end; a body that raises writes nothing; ``list`` keeps the order of creation."""
    docs = _documents(tmp_path, monkeypatch, postgres_server)
    with docs.transaction() as tx:
        for login in ("carol", "alice", "bob"):
            tx.put({"login": login, "paused_reason": "x"})
    with docs.transaction() as tx:
        for doc in tx.list():
            doc["paused_reason"] = None if doc["login"] != "bob" else "kept"
        tx.delete("alice")
    assert [(d["login"], d["paused_reason"]) for d in docs.list()] == [
        ("carol", None),
        ("bob", "kept"),
    ]
    with pytest.raises(RuntimeError), docs.transaction() as tx:
        tx.put({"login": "dave"})
        tx.get("carol")["paused_reason"] = "lost"
        raise RuntimeError("boom")
    assert docs.get("dave") is None and docs.get("carol")["paused_reason"] is None
    account = Context(home=tmp_path).stores.documents("account", "account", None)
    with account.transaction() as tx:
        assert tx.get() is None
        tx.put({"licences_total": 3})
    assert account.get() == {"licences_total": 3} and account.list() == [account.get()]


def test_writers_of_different_users_state_do_not_wait_for_each_other(
    tmp_path, postgres_server, monkeypatch
):
    """A user's state writer holds only that user's lock: another user's save goes
    through while it is open; the same user's waits."""
    import threading

    from wess_core.sync.status import FolderState
    from wess_core.tables.postgresql import sync_state_lock

    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    stores = Context(home=tmp_path).stores
    stores.sync_state("bob").save(FolderState("contacts", token="b0"))  # tables made
    db = stores.database()
    saved = threading.Event()

    def save_alice() -> None:
        stores.sync_state("alice").save(FolderState("contacts", token="a1"))
        saved.set()

    with db.write(sync_state_lock("alice")):  # alice's writer, mid-transaction
        stores.sync_state("bob").save(FolderState("contacts", token="b1"))
        waiting = threading.Thread(target=save_alice)
        waiting.start()
        assert not saved.wait(0.5)  # alice's own save queues behind it
    waiting.join(10)
    assert saved.is_set()
    assert stores.sync_state("bob").load("contacts").token == "b1"
    assert stores.sync_state("alice").load("contacts").token == "a1"


def test_a_home_in_files_moves_into_the_shared_database_once(
    admin_home, home, postgres_server, monkeypatch
):
    """The account, users and each user's state file are moved in when the database is
    first opened for the home (its tables' file moved aside: copying those is ``wess
    migrate``'s); the files are gone, the secrets still decrypt."""
    from wess_core.service.users import get_profile
    from wess_core.sync.status import FolderState, StatusRow
    from wess_core.sync.watch_record import WatchRecord

    monkeypatch.delenv("WESS_DATABASE_URL", raising=False)
    assert (
        admin_home(
            "users", "set", "alice", "--password-stdin", "--skip-check", input="s3cret\n"
        ).exit_code
        == 0
    )
    rows = {"p1": StatusRow("p1", "1", 7, "h", "item1", "ck", "h2")}
    files = Context(home=home).stores.sync_state("alice")
    files.save(FolderState("contacts", token="t1", rows=rows))
    files.save_watch(WatchRecord("sub1", frozenset({"contacts"})))
    files.close()
    close_databases()
    (home / DB_FILE).rename(home.parent / "tables-moved-aside.sqlite")  # as the refusal says
    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    ctx = Context(home=home)
    assert get_profile(ctx, "alice").licence_allocated
    assert ctx.secrets.decrypt(get_profile(ctx, "alice").password) == "s3cret"
    state = ctx.stores.sync_state("alice")
    assert state.load("contacts").by_item("item1") == rows["p1"]
    assert state.load_watch() == WatchRecord("sub1", frozenset({"contacts"}))
    assert admin_home("users", "list", "--json").json[0]["login"] == "alice"
    left = {p.name for p in home.iterdir()}
    assert not left & {"users.json", "account.json", "state"}, left


def test_too_many_clients_is_one_line_saying_what_to_change(wess, postgres_server, monkeypatch):
    """A server (here: a role) out of connections: one line naming the pool setting, not
    'cannot reach'; never the password."""
    import psycopg

    url = postgres_server.create_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE ROLE limited LOGIN PASSWORD 'limited-pw' CONNECTION LIMIT 1")
        conn.execute("GRANT ALL ON SCHEMA public TO limited")
    limited = url.replace(f"wess:{postgres_server.password}@", "limited:limited-pw@")
    monkeypatch.setenv("WESS_DATABASE_URL", limited)
    with psycopg.connect(limited):  # the role's only connection, taken
        result = wess("init")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "limited-pw" not in result.stderr
    assert "too many clients" in result.stderr and "WESS_DATABASE_POOL_SIZE" in result.stderr


def test_a_busy_pool_is_one_line_and_the_pool_is_bounded(tmp_path, postgres_server, monkeypatch):
    from wess_core.errors import StoreError
    from wess_core.tables import postgresql

    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    monkeypatch.setenv("WESS_DATABASE_POOL_SIZE", "1")
    monkeypatch.setattr(postgresql, "POOL_TIMEOUT_SECONDS", 0.2)
    db = core_tables(tmp_path)
    with db.read(), db.read():  # the pool's one connection and its one overflow
        with pytest.raises(StoreError, match="all 2 connections of this process") as err:
            with db.read():
                pass
    assert postgres_server.password not in str(err.value)


@pytest.mark.parametrize("kind", ["history", "ledger", "jobs"])
def test_one_users_history_ledger_and_jobs_writers_wait_only_for_that_user(
    tmp_path, postgres_server, monkeypatch, kind
):
    """While alice's writer of ``kind`` is mid-transaction, bob's write of it goes
    through and alice's own queues; every other writer still shares the one lock."""
    import threading

    from wess_core.service import history, jobs
    from wess_core.store import Store
    from wess_core.sync.ledger import StoreLedger
    from wess_core.tables.postgresql import HISTORY_SPACE, JOBS_SPACE, SYNC_SPACE, lock_key

    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    ctx = Context(home=tmp_path)
    entry = {"op": "create", "crm_id": "1", "item_id": "i1", "time": "2030-01-01T00:00:00Z"}
    write, space = {
        "history": (lambda login: history.record(ctx, login, "sync", "ok"), HISTORY_SPACE),
        "ledger": (lambda login: StoreLedger(Store(tmp_path), login).write([entry]), SYNC_SPACE),
        "jobs": (lambda login: jobs.clear(ctx, login, "2030"), JOBS_SPACE),
    }[kind]
    write("bob")  # the tables exist
    db = core_tables(tmp_path)
    done = threading.Event()

    def alice() -> None:
        write("alice")
        done.set()

    with db.write(lock_key(space, "alice")):
        write("bob")  # not waiting for alice's
        waiting = threading.Thread(target=alice)
        waiting.start()
        assert not done.wait(0.5)
    waiting.join(10)
    assert done.is_set()
