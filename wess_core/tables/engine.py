"""One SQL database per WESS home, through SQLAlchemy Core.

The embedded default is the SQLite file ``wess.sqlite`` in the home: WAL (readers never
wait for a writer), a busy timeout (writers queue instead of failing), foreign keys on,
``synchronous=FULL`` (a write is on disk when it returns, as the files before it were).
Every write is a transaction started ``BEGIN IMMEDIATE``: it takes the write lock first,
so two writers never deadlock upgrading a read, and a crash leaves it whole or absent.

``Database`` takes a URL: with ``WESS_DATABASE_URL`` set the same tables live in
PostgreSQL (``wess_core.tables.postgresql`` holds what differs). The home's file is
opened only after the home's safety checks (no link, not writable by others, created
0600). SQLite errors become one-line ``StoreError``s naming the file.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection

from wess_core import safefile
from wess_core.errors import StoreCorrupt, StoreError
from wess_core.tables import postgresql

DB_FILE = "wess.sqlite"
#: How long a writer waits for another's transaction before giving up (seconds).
BUSY_TIMEOUT_SECONDS = 60.0
#: The WAL is cut back to this after a checkpoint (a big import grows it for a while).
WAL_KEEP_BYTES = 16 * 1024 * 1024


def sqlite_error(where: str | Path, exc: BaseException) -> StoreError:
    """A SQLite error as the one line a person reads: corrupt, locked, or not saved."""
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    if "not a database" in text or "malformed" in text:
        return StoreCorrupt(
            f"{where} is corrupt ({text}); restore it from a backup or move it "
            "aside. WESS will not overwrite it."
        )
    if "locked" in text or "busy" in text:
        return StoreError(f"{where} is locked by another WESS process; try again shortly")
    if "disk" in text or "full" in text:
        text = f"the disk is full or failing ({text})"
    return StoreError(f"could not save {where}: {text}; nothing was changed")


class Database:
    """An engine and its write/read transactions; ``where`` names it in errors."""

    def __init__(self, url: str | URL, where: str, home: Path | None = None) -> None:
        self.url = sa.engine.make_url(url)
        self.where = where
        self.home = home
        #: The file's device, inode, mode and owner when checked (see home_database).
        self.identity: tuple[int, ...] | None = None
        self._ready: set[str] = set()
        self._ready_lock = threading.Lock()
        self.sqlite = self.url.get_backend_name() == "sqlite"
        if not self.sqlite:  # PostgreSQL keeps its driver's transactions and settings
            self.engine = postgresql.engine(self.url)
            return
        connect_args: dict[str, Any] = {
            "timeout": BUSY_TIMEOUT_SECONDS,
            "isolation_level": None,  # transactions are ours (see _begin)
            "check_same_thread": False,
        }
        self.engine = sa.create_engine(
            self.url, connect_args=connect_args, pool_size=8, max_overflow=-1
        )
        event.listen(self.engine, "connect", _on_connect)
        event.listen(self.engine, "begin", _begin)

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """SQLAlchemy's errors as ``StoreError`` naming the database."""
        try:
            yield
        except sa.exc.DBAPIError as exc:
            if self.sqlite:
                raise sqlite_error(self.where, exc) from None
            raise postgresql.postgresql_error(self.url, exc) from None
        except sa.exc.TimeoutError:  # the pool's: every connection stayed busy
            raise postgresql.pool_exhausted(self.url) from None

    @contextlib.contextmanager
    def write(self, lock: postgresql.LockKey | None = None) -> Iterator[Connection]:
        """One write transaction: all of it, durably, or nothing; writers one at a time
        (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock, every writer's, or
        only those of ``lock``: ``postgresql.lock_key(space, name)``, e.g. one user's)."""
        with self.guard(), self.engine.connect() as conn:
            conn.execution_options(wess_write=True)
            with conn.begin():
                if not self.sqlite:
                    postgresql.lock_writes(conn, lock)
                yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """One read transaction: a consistent view while it lasts (SQLite). PostgreSQL
        reads in autocommit: at read committed each statement has its own snapshot
        anyway, so a transaction would add only its BEGIN and ROLLBACK round trips."""
        with self.guard(), self.engine.connect() as conn:
            if not self.sqlite:
                conn.execution_options(isolation_level="AUTOCOMMIT")
            with conn.begin():
                yield conn

    def is_ready(self, component: str) -> bool:
        return component in self._ready

    def mark_ready(self, component: str) -> None:
        with self._ready_lock:
            self._ready.add(component)

    def dispose(self, close: bool = True) -> None:
        self.engine.dispose(close=close)


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA journal_size_limit = {WAL_KEEP_BYTES}")
    finally:
        cursor.close()


def _begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("wess_write")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_databases: dict[str, Database] = {}
_databases_lock = threading.Lock()


def _identity(path: str) -> tuple[int, ...] | None:
    """What the safety checks looked at: a changed file, owner or mode checks again."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_mode, st.st_uid)


def home_url(home: str | Path) -> str:
    """The URL of a home's own database: its SQLite file."""
    return f"sqlite:///{os.path.join(os.path.abspath(home), DB_FILE)}"


def home_database(home: str | Path) -> Database:
    """The database of ``home``: PostgreSQL when ``WESS_DATABASE_URL`` names one, else
    the home's SQLite file (see ``file_database``)."""
    url = postgresql.configured_url()
    if url is None:
        return file_database(home)
    key = f"{url.render_as_string(hide_password=False)} {os.path.abspath(home)}"
    found = _databases.get(key)
    if found is not None:
        return found
    with _databases_lock:
        found = _databases.get(key)
        if found is None:
            safefile.check_home(home)  # an older home's files are imported from it
            _refuse_a_file_left_behind(Path(home), url)
            found = Database(url, postgresql.masked(url), Path(os.path.abspath(home)))
            _databases[key] = found
    return found


def _refuse_a_file_left_behind(home: Path, url: URL) -> None:
    """A home whose tables are in its ``wess.sqlite`` is not silently left for an empty
    PostgreSQL database (history and ledger would seem lost, then split in two), unless
    ``wess migrate`` copied it there (``wess_core.migrated_home``)."""
    from wess_core.migrated_home import database_name, migrated_to

    path = home / DB_FILE
    if migrated_to(home, url):
        return
    if os.path.lexists(path):
        raise StoreError(
            f"{path} holds this home's tables, but {postgresql.ENV} names "
            f"{postgresql.masked(url)}; copy the home there first: wess migrate --to "
            f"{database_name(url)} (the password from {postgresql.ENV}), or unset "
            f"{postgresql.ENV} to keep using the file"
        )


def file_database(home: str | Path) -> Database:
    """The SQLite file of ``home``: one engine per process and home file (it pools
    connections), made again when the file was replaced or removed.

    The home's safety checks run before SQLite opens the file by name: a link at the
    file or at its companions (``-wal``, ``-shm``) is refused, so is another user's or a
    loose file or home; a missing file is created 0600. Each call compares the file's
    ``lstat`` with the checked one, and each new connection checks the companions."""
    key = os.path.abspath(home)
    path = os.path.join(key, DB_FILE)
    found = _databases.get(key)
    if found is not None and found.identity == _identity(path):
        return found
    with _databases_lock:
        found = _databases.get(key)
        if found is not None and found.identity == _identity(path):
            return found
        if found is not None:
            found.dispose()
        safefile.check_home(key)
        safefile.check_database(Path(path))
        db = Database(home_url(key), path, Path(key))
        db.identity = _identity(path)
        check = lambda *_: safefile.check_database(Path(path))  # noqa: E731
        event.listen(db.engine, "connect", check, insert=True)
        _databases[key] = db
    return db


def close_databases() -> None:
    """Close every engine of this process (tests: a home per test)."""
    with _databases_lock:
        for db in _databases.values():
            db.dispose()
        _databases.clear()


def forget_databases() -> None:
    """Drop every engine without closing its connections: a forked child must not use
    its parent's SQLite connections (nor close them under the parent)."""
    global _databases_lock
    _databases_lock = threading.Lock()  # another thread may have held it at the fork
    for db in list(_databases.values()):
        db.dispose(close=False)
    _databases.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_databases)
