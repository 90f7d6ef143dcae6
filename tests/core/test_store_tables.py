"""The tables that hold the account, profiles and sync state in a shared database:
created once, by their own migration component, and never in a home kept in files."""

from __future__ import annotations

import sqlalchemy as sa

from wess_core.tables import core_tables, store_tables
from wess_core.tables.schema import schema_version
from wess_core.tables.store_schema import COMPONENT

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
    assert version == 1
    assert {"sync_rows_by_crm", "sync_rows_by_item"} <= indexes


def test_a_home_in_files_gets_none_of_them(tmp_path, monkeypatch):
    monkeypatch.delenv("WESS_DATABASE_URL", raising=False)
    db = core_tables(tmp_path)
    with db.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert not STORE_TABLES & names
