"""The tables of a WESS home (history, ledger, jobs, the scheduler's board, and those
plugins keep, like the built-in CRM) in one SQL database through SQLAlchemy Core.

``core_tables(home)`` is the home's database with the core's tables ready (created, or
migrated and an older home's files imported, the first time a process asks);
``plugin_tables(home, component, steps)`` the same for a plugin's own tables, with its
own migration steps (see ``wess_core.tables.migrate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from wess_core.tables import migrate, store_schema, store_upgrade, upgrade
from wess_core.tables.engine import DB_FILE, Database, home_database, sqlite_error
from wess_core.tables.migrate import Step

__all__ = [
    "DB_FILE",
    "Database",
    "core_tables",
    "home_database",
    "plugin_tables",
    "sqlite_error",
    "store_tables",
]


def core_tables(home: str | Path) -> Database:
    db = home_database(home)
    migrate.ensure(db, "core", upgrade.STEPS)
    return db


def store_tables(home: str | Path) -> Database:
    """The home's database with the account's, profiles' and sync state's tables (used
    when that database is shared, ``wess_core.tables.store_schema``)."""
    db = core_tables(home)
    migrate.ensure(db, store_schema.COMPONENT, store_upgrade.STEPS)
    return db


def plugin_tables(home: str | Path, component: str, steps: Sequence[Step]) -> Database:
    """The home's database with ``component``'s tables at the newest of ``steps``."""
    db = core_tables(home)
    migrate.ensure(db, component, steps)
    return db
