"""Where a home's account, profiles, web admins and users' sync state live: the one
place that decides. ``WESS_DATABASE_URL`` unset: the home's files (TinyDB store files,
``state/<login>.sqlite``), as always; ``postgresql://...``: the shared database's tables
(``wess_core.tables.store_schema``), so several machines can serve one deployment with
no shared disk. Both give the same interfaces: ``documents(...)`` a ``ProfileStore``,
``sync_state(login)`` a ``SyncState`` (with ``load_watch``, ``item_types``, ``reset``),
``run_lock(login)`` the user's run lock (Sync Now, the scheduler and review never overlap).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wess_core.migrated_home import refuse_files_of_a_migrated_home
from wess_core.profiles import ProfileStore
from wess_core.store import Store, load_json_file

if TYPE_CHECKING:  # SQLAlchemy is imported when a store first needs it
    from typing import TypeAlias

    from wess_core.sync.state_db import StoreSyncState
    from wess_core.sync.state_tables import DatabaseSyncState
    from wess_core.tables import Database
    from wess_core.tables.documents import DatabaseProfileStore

    DocumentStore: TypeAlias = ProfileStore | DatabaseProfileStore
    UserSyncState: TypeAlias = StoreSyncState | DatabaseSyncState

#: The variable naming a shared database (``wess_core.tables.postgresql.ENV``).
DATABASE_URL_ENV = "WESS_DATABASE_URL"


class FileStores:
    """The embedded default: everything in the home's files."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def documents(self, name: str, table: str, key: str | None) -> DocumentStore:
        """One table of the store file ``name`` (documents keyed by ``key``)."""
        return ProfileStore(self.store, name, table, key)

    def table_documents(self, name: str, table: str) -> dict[str, Any]:
        """Every document of one table of a store file, by document id, as stored."""
        data = load_json_file(self.store.path(name))
        return (data.get(table) or {}) if isinstance(data, dict) else {}

    def edit_table(self, name: str, table: str) -> AbstractContextManager[dict[str, Any]]:
        """The documents of ``table_documents`` under the file's lock, changed in place,
        written once (nothing if the body raises)."""
        return self.store.edit(name, table)

    def where(self, name: str) -> str:
        """Where the store file ``name`` is, for messages."""
        return str(self.store.path(name))

    def sync_state(self, login: str) -> UserSyncState:
        from wess_core.sync.state_db import StoreSyncState

        return StoreSyncState(self.store, login)

    @contextlib.contextmanager
    def run_lock(self, login: str) -> Iterator[bool]:
        """``login``'s run lock: a file lock in the home (removed when the run ends);
        yields False at once when another process holds it."""
        from wess_core import safefile
        from wess_core.store import LockTimeout, file_lock

        path = self.store.lock_path(f"run/{login}")
        safefile.ensure_dir(path.parent)
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(file_lock(path, 0, remove=True))
            except LockTimeout:
                yield False
                return
            yield True


class DatabaseStores:
    """A shared database (``WESS_DATABASE_URL``): nothing of this kind in the home."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def database(self) -> Database:
        from wess_core.tables import store_tables

        return store_tables(self.home)

    def documents(self, name: str, table: str, key: str | None) -> DocumentStore:
        from wess_core.tables.documents import DatabaseProfileStore

        return DatabaseProfileStore(self.database, name, table, key)

    def table_documents(self, name: str, table: str) -> dict[str, Any]:
        """Every document of one table, by key, as stored."""
        from wess_core.tables.documents import DatabaseProfileStore

        return DatabaseProfileStore(self.database, name, table, None).by_key()

    def edit_table(self, name: str, table: str) -> AbstractContextManager[dict[str, Any]]:
        from wess_core.tables.documents import DatabaseProfileStore

        return DatabaseProfileStore(self.database, name, table, None).edit()

    def where(self, name: str) -> str:
        return f"the {name} documents of {self.database().where}"

    def sync_state(self, login: str) -> UserSyncState:
        from wess_core.sync.state_tables import DatabaseSyncState

        return DatabaseSyncState(self.database, login)

    def run_lock(self, login: str) -> AbstractContextManager[bool]:
        """``login``'s run lock in the database: a file in one machine's home would let
        another machine sync the user at the same time."""
        from wess_core.tables.postgresql import run_lock

        return run_lock(self.database().url, login)


def home_stores(store: Store) -> FileStores | DatabaseStores:
    """The stores of ``store``'s home, chosen by ``WESS_DATABASE_URL`` (its URL is
    checked when the database is first opened: ``wess_core.tables.postgresql``)."""
    if not os.environ.get(DATABASE_URL_ENV, "").strip():
        refuse_files_of_a_migrated_home(store.home)
        return FileStores(store)
    return DatabaseStores(store.home)
