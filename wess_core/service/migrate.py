"""``wess migrate --to postgresql://...``: copy a home kept in files into a shared
PostgreSQL database, through the same stores and table definitions the product uses
there, so the migrated home reads back as the product would have written it.

What is copied, each unit committed on its own (killed mid-way, a new run finishes):
the account, users and web admins documents (one transaction per store file,
``DatabaseProfileStore``); each user's sync state (``StoreSyncState`` ->
``DatabaseSyncState``, an older TinyDB state moved into its SQLite file first); every
table of ``wess.sqlite`` (history, ledger, jobs, board, plugin storage, and those
plugins declare, like the built-in CRM's) a batch per transaction, primary keys kept.
Writes replace by key, so a second copy adds nothing. Secrets are copied as stored:
still encrypted with the home's key (``WESS_SECRET_KEY`` on other machines).

Then counts per kind, home against database; any difference fails naming the kind.
Only a verified copy marks the home (``wess_core.migrated_home``): from then on its
files are refused without ``WESS_DATABASE_URL`` and never read with it, and a new
``wess migrate`` copies nothing (the database has moved on since).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from wess_core.errors import StoreError, UsageError
from wess_core.home_stores import FileStores
from wess_core.migrated_home import database_name, read_marker, write_marker
from wess_core.service.context import Context
from wess_core.sync.state_db import StoreSyncState
from wess_core.sync.state_tables import DatabaseSyncState
from wess_core.tables import migrate, postgresql, schema, store_schema, store_upgrade, upgrade
from wess_core.tables.copy import copy_table, count_rows
from wess_core.tables.documents import DatabaseProfileStore
from wess_core.tables.engine import Database, file_database
from wess_core.tables.migrate import Step
from wess_core.tables.store_schema import documents, sync_folders, sync_rows, sync_watch

Progress = Callable[[str], None]
#: Where the database records the homes migrated into it (a documents table).
RECORD = ("migrations", "homes", "home")


@dataclass(frozen=True)
class Component:
    """A set of tables with its migration steps (the core's, or a plugin's)."""

    name: str
    metadata: sa.MetaData
    steps: Sequence[Step]

    def tables(self) -> list[sa.Table]:
        return [t for t in self.metadata.sorted_tables if t.name != schema.schema_version.name]


def target_url(to: str | None) -> URL:
    """The database to copy into: ``--to`` (never with a password: argv is public; the
    password of the same database comes from ``WESS_DATABASE_URL``, PGPASSWORD or
    ~/.pgpass), else ``WESS_DATABASE_URL``."""
    configured = postgresql.configured_url()
    if to is None:
        if configured is None:
            raise UsageError(
                "name the database: wess migrate --to postgresql://USER@HOST:PORT/DB "
                f"(its password in {postgresql.ENV}, PGPASSWORD or ~/.pgpass)"
            )
        return configured
    try:
        url = postgresql.parse_url(to)
    except StoreError:
        raise UsageError(
            "--to is not a PostgreSQL URL; expected postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    if url.password is not None:
        raise UsageError(
            "--to must not contain a password (the command line is visible to other "
            f"users); set {postgresql.ENV}=postgresql://USER:PASSWORD@HOST:PORT/DB in the "
            "environment and run wess migrate without --to"
        )
    if configured is not None and database_name(configured) == database_name(url):
        return configured  # the same database, with the environment's password
    return url


def components() -> list[Component]:
    """The core's tables, then each plugin's (``wess_register_tables``)."""
    from wess_core.plugins import get_plugin_manager

    found = [Component("core", schema.metadata, upgrade.STEPS)]

    def register(name: str, metadata: sa.MetaData, steps: Sequence[Step]) -> None:
        found.append(Component(name, metadata, tuple(steps)))

    get_plugin_manager().hook.wess_register_tables(register=register)
    return found


class Migration:
    """One copy of ``ctx``'s home into the database at ``url``."""

    def __init__(self, ctx: Context, url: URL, progress: Progress) -> None:
        self.ctx = ctx
        self.home = ctx.home
        self.url = url
        self.say = progress
        self.components = components()
        self.target = Database(url, postgresql.masked(url))
        self.files = FileStores(ctx.store)
        #: Per kind: (in the home, in the database).
        self.counts: dict[str, list[int]] = {}

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        finally:
            self.target.dispose()

    def _run(self) -> dict[str, Any]:
        started = time.monotonic()
        source = self._open_source()
        self._open_target()
        self._claim_target()
        self._copy_documents()
        self._copy_states()
        for component in self.components:
            for table in component.tables():
                self._copy_table(source, table)
        self._count_database()
        differ = sorted(k for k, (home, db) in self.counts.items() if home != db)
        result: dict[str, Any] = {
            "home": str(self.home),
            "to": database_name(self.url),
            "counts": {k: {"home": h, "database": d} for k, (h, d) in self.counts.items()},
            "differ": differ,
            "seconds": round(time.monotonic() - started, 3),
        }
        if not differ:
            at = _now()
            self._record({"state": "migrated", "at": at, "counts": result["counts"]})
            write_marker(self.home, self.url, at)
            result["migrated_at"] = at
        return result

    # -- opening ------------------------------------------------------------------

    def _open_source(self) -> Database:
        """The home's ``wess.sqlite`` at its newest schema (an older home's files
        imported into it first, as any command would)."""
        if not (self.home / "account.json").exists():
            raise StoreError(f"{self.home} is not a WESS home (no account.json); nothing to copy")
        source = file_database(self.home)
        for component in self.components:
            migrate.ensure(source, component.name, component.steps)
        with source.read() as conn:
            stored = set(conn.scalars(sa.select(schema.schema_version.c.component)))
        unknown = sorted(stored - {c.name for c in self.components})
        if unknown:
            raise StoreError(
                f"{source.where} holds tables of {', '.join(unknown)}, which no installed "
                "plugin declares; install the plugin, then run wess migrate again"
            )
        return source

    def _open_target(self) -> None:
        """The database's tables at their newest schema (none of the home's files read:
        the copy below does that, unit by unit)."""
        self.say(f"copying {self.home} into {database_name(self.url)}")
        for component in [
            self.components[0],
            Component(store_schema.COMPONENT, store_schema.metadata, store_upgrade.STEPS),
            *self.components[1:],
        ]:
            migrate.ensure(self.target, component.name, component.steps)

    def _claim_target(self) -> None:
        """Copy only into an empty database, or one this home's interrupted copy began
        (the copy replaces what it holds: another deployment's users would be lost)."""
        if self._record_of_this_home() is None:
            with self.target.read() as conn:
                used = any(
                    conn.scalar(sa.select(sa.literal(1)).where(where).limit(1))
                    for where in (
                        documents.c.store != RECORD[0],
                        sa.exists(sa.select(sync_folders.c.login)),
                        sa.exists(sa.select(schema.history.c.id)),
                    )
                )
            if used:
                raise StoreError(
                    f"{database_name(self.url)} already holds a WESS deployment's data; "
                    "wess migrate copies a home into an empty database (createdb a new one)"
                )
        self._record({"state": "copying", "started": _now()})

    def _record_of_this_home(self) -> dict[str, Any] | None:
        name, table, key = RECORD
        return DatabaseProfileStore(lambda: self.target, name, table, key).get(str(self.home))

    # -- copying ------------------------------------------------------------------

    def _copy_documents(self) -> None:
        """Each store file in one transaction: its documents as stored (first of a key
        wins, as reads did), none the file does not have."""
        for name, (table, key) in store_upgrade.HOME_DOCUMENTS.items():
            docs: dict[str, dict[str, Any]] = {}
            for doc in self.files.table_documents(name, table).values():
                if isinstance(doc, dict):
                    docs.setdefault("" if key is None else str(doc.get(key)), doc)
            store = DatabaseProfileStore(lambda: self.target, name, table, key)
            with store.transaction() as stored:
                for old in stored.list():
                    k = "" if key is None else str(old.get(key))
                    if k not in docs:
                        stored.delete(k)
                for doc in docs.values():
                    stored.put(doc)
            self.counts[name] = [len(docs), 0]
            self.say(f"{name}: {len(docs)} documents")

    def _copy_states(self) -> None:
        """Each user's sync state: replaced whole, a transaction per user."""
        logins = _state_logins(self.home / "state")
        totals = {"states": 0, "folder states": 0, "status rows": 0, "watch records": 0}
        step = max(1, len(logins) // 10)
        for number, login in enumerate(logins, 1):
            source = StoreSyncState(self.ctx.store, login)
            item_types = source.item_types()  # an older TinyDB state is moved in here
            folders, rows, watch = _state_counts(source.path)
            target = DatabaseSyncState(lambda: self.target, login)
            states = (source.load(item_type) for item_type in item_types)
            target.replace(states, source.load_watch() if watch else None)
            source.close()
            totals["states"] += 1 if folders else 0
            totals["folder states"] += folders
            totals["status rows"] += rows
            totals["watch records"] += watch
            if number % step == 0 or number == len(logins):
                self.say(f"sync state: {number}/{len(logins)} users")
        for kind, count in totals.items():
            self.counts[kind] = [count, 0]

    def _copy_table(self, source: Database, table: sa.Table) -> None:
        total = count_rows(source, table)
        step = max(10 * 1000, total // 10)
        shown = [0]

        def done(copied: int) -> None:
            if copied - shown[0] >= step:
                shown[0] = copied
                self.say(f"{table.name}: {copied}/{total} rows")

        copy_table(source, self.target, table, done)
        self.counts[table.name] = [total, 0]
        self.say(f"{table.name}: {total} rows")

    # -- verifying ----------------------------------------------------------------

    def _count_database(self) -> None:
        """What the database holds, per kind (counted, not taken from the copy)."""
        with self.target.read() as conn:

            def count(query: sa.Select) -> int:
                return int(conn.scalar(query) or 0)

            for name, (table, _key) in store_upgrade.HOME_DOCUMENTS.items():
                self.counts[name][1] = count(
                    sa.select(sa.func.count())
                    .select_from(documents)
                    .where(documents.c.store == name, documents.c.tbl == table)
                )
            logins = sa.select(sa.func.count(sa.distinct(sync_folders.c.login)))
            self.counts["states"][1] = count(logins)
            for kind, table in (
                ("folder states", sync_folders),
                ("status rows", sync_rows),
                ("watch records", sync_watch),
            ):
                self.counts[kind][1] = count(sa.select(sa.func.count()).select_from(table))
            for component in self.components:
                for table in component.tables():
                    self.counts[table.name][1] = count(
                        sa.select(sa.func.count()).select_from(table)
                    )

    def _record(self, doc: dict[str, Any]) -> None:
        """The database's own note of this home's copy (begun, or done with counts)."""
        name, table, key = RECORD
        store = DatabaseProfileStore(lambda: self.target, name, table, key)
        with store.transaction() as stored:
            stored.put({**doc, key: str(self.home)})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _state_logins(folder: Path) -> list[str]:
    """Users with a state: ``<login>.sqlite``, or an older ``<login>.json``."""
    if not folder.is_dir():
        return []
    found = {p.stem for p in folder.glob("*.sqlite")}
    found |= {p.stem for p in folder.glob("*.json")}
    return sorted(found)


def _state_counts(path: Path) -> tuple[int, int, int]:
    """Folder states, status rows and watch records in a user's state file, counted
    apart from the copy (read-only)."""
    if not path.exists():
        return 0, 0, 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        folders = conn.execute("SELECT COUNT(*) FROM folders").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM rows").fetchone()[0]
        watch = conn.execute("SELECT COUNT(*) FROM watch").fetchone()[0] if "watch" in tables else 0
        return int(folders), int(rows), int(watch)
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.close()


def migrate_home(ctx: Context, to: str | None, progress: Progress) -> dict[str, Any]:
    """Copy ``ctx``'s home into the database ``to`` (or ``WESS_DATABASE_URL``), verify
    the counts, and mark the home migrated when they agree (``differ`` empty). A home
    marked already: nothing copied (``already``: when, to which database)."""
    ctx.require_admin()
    url = target_url(to)
    marker = read_marker(ctx.home)
    if marker is not None:
        if marker["url"] != database_name(url):
            raise StoreError(
                f"this home was migrated to {marker['url']} already; its files are out of "
                "date, so they are not copied anywhere else"
            )
        return {"home": str(ctx.home), "to": marker["url"], "already": marker.get("at")}
    return Migration(ctx, url, progress).run()
