"""The tables in PostgreSQL (``WESS_DATABASE_URL=postgresql://...``): what differs from
the embedded SQLite file, in one place.

- The URL: ``postgresql://`` (or ``postgres://``) means the psycopg 3 driver; it is
  shown only with its password masked (errors, logs, ``--json``), and a password never
  comes from the command line (argv is visible to every user of the machine).
- Writes: SQLite's ``BEGIN IMMEDIATE`` took the database's write lock before a
  transaction's first read, so a read-then-write (the idle fold of history, a job's
  claim, the CRM's counter) never raced another writer. Here a write transaction first
  takes a transaction-scoped advisory lock: one all writers share (the CRM's counter,
  the board, plugin storage), or, where everything it reads and writes is one user's
  (sync state and ledger, history, jobs), that user's (``lock_key(SPACE, login)``), so
  users' syncs do not queue behind each other. Readers never wait, and each statement
  (read committed) sees what the writers before it committed.
- Errors: a failed connection is one line naming the server and database and what to
  do; any other error names the database, never the password.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from wess_core.errors import StoreError

ENV = "WESS_DATABASE_URL"
#: The advisory lock every write transaction holds until it ends ("WESS" in ASCII).
WRITE_LOCK_KEY = 0x57455353
_WRITE_LOCK = sa.select(sa.func.pg_advisory_xact_lock(WRITE_LOCK_KEY))
_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}
#: Seconds to wait for the server to answer a new connection.
CONNECT_TIMEOUT_SECONDS = 10
#: Connections a process keeps open (``pool_size``) and may add when all are busy
#: (``max_overflow``, as many again): at most twice this many per process. Every process
#: (each ``wess worker``, ``wess run``, ``wess serve``) has its own pool, and each sync
#: under way holds one more (its ``run_lock``), so keep processes x (2 x this + syncs at
#: once) under the server's ``max_connections`` (100 by default).
POOL_SIZE_ENV = "WESS_DATABASE_POOL_SIZE"
DEFAULT_POOL_SIZE = 5
#: Seconds a thread waits for a connection of its process's pool before giving up.
POOL_TIMEOUT_SECONDS = 30
#: PostgreSQL's SQLSTATE for "too many connections" (server-wide, per role or database).
TOO_MANY_CONNECTIONS = "53300"


def configured_url() -> URL | None:
    """The database named by ``WESS_DATABASE_URL`` (None: the home's SQLite file)."""
    raw = os.environ.get(ENV, "").strip()
    return parse_url(raw) if raw else None


@functools.lru_cache(maxsize=8)  # asked on every open of the tables
def parse_url(raw: str) -> URL:
    """A PostgreSQL URL for SQLAlchemy's psycopg 3 driver; ``StoreError`` (the URL not
    repeated: it may hold a password) when it is not one."""
    try:
        url = sa.engine.make_url(raw)
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(
            f"{ENV} is not a database URL; expected postgresql://USER@HOST:PORT/DATABASE"
        ) from None
    if url.drivername not in _SCHEMES:
        raise StoreError(
            f"{ENV} names a {url.drivername!r} database; WESS keeps its tables in the "
            "home's SQLite file (leave it unset) or in PostgreSQL (postgresql://...)"
        )
    if not url.database:
        raise StoreError(f"{ENV} ({masked(url)}) names no database; add /DATABASE to it")
    return url.set(drivername="postgresql+psycopg")


def masked(url: URL) -> str:
    """The URL as shown to people: the password as ``***``."""
    return url.render_as_string(hide_password=True)


def refuse_password_in_argv(raw: str) -> None:
    """A ``--database-url`` with a password is refused: argv is public on the machine."""
    if parse_url(raw).password is not None:
        raise StoreError(
            "--database-url must not contain a password (the command line is visible to "
            f"other users); set {ENV} in the environment, or PGPASSWORD, or ~/.pgpass"
        )


def pool_size() -> int:
    """The connections a process keeps (``WESS_DATABASE_POOL_SIZE``, default 5)."""
    raw = os.environ.get(POOL_SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_POOL_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise StoreError(f"{POOL_SIZE_ENV} must be a number from 1 to 1000, not {raw!r}")
    return int(raw)


def engine(url: URL) -> sa.Engine:
    """An engine for ``url``: pooled (``pool_size``, as many again when busy: a bounded
    number per process), checked before use (a restarted server's dropped connections
    are replaced), statement parameters kept out of error texts."""
    size = pool_size()
    try:
        return sa.create_engine(
            url,
            pool_size=size,
            max_overflow=size,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        )
    except ModuleNotFoundError:
        raise StoreError(
            "PostgreSQL needs the psycopg driver: pip install 'wess[postgresql]'"
        ) from None


#: A narrower write lock: (space, hash of a name), PostgreSQL's two-key advisory locks
#: (a key space apart from ``WRITE_LOCK_KEY``'s).
LockKey = tuple[int, int]


def lock_key(space: int, name: str) -> LockKey:
    """The lock of ``name`` (a login, a store file) in ``space``: a stable 32-bit hash
    (two names sharing one only wait for each other)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest()
    return space, int.from_bytes(digest, "big", signed=True)


#: Key spaces of one user's locks (ASCII): the sync state with its ledger entries, the
#: history, the background jobs. Each user's writers queue only behind that user's.
SYNC_SPACE = 0x53594E43
HISTORY_SPACE = 0x48495354
JOBS_SPACE = 0x4A4F4253
#: The key space of the users' run locks (``run_lock``), "RUNS".
RUN_SPACE = 0x52554E53


def sync_state_lock(login: str) -> LockKey:
    """The lock a user's sync state writers hold, and its ledger writes with them (the
    two commit together)."""
    return lock_key(SYNC_SPACE, login)


def lock_writes(conn: Connection, key: LockKey | None = None) -> None:
    """Queue behind every other write transaction (until this one ends); with ``key``,
    behind those holding that key only."""
    if key is None:
        conn.execute(_WRITE_LOCK)
    else:
        space, name = (sa.cast(sa.literal(part), sa.Integer) for part in key)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(space, name)))


@contextlib.contextmanager
def run_lock(url: URL, login: str) -> Iterator[bool]:
    """``login``'s run lock, seen by every machine on the database: a session advisory
    lock on a connection of its own (outside the engine's pool, whose connections a sync
    needs), held while the body runs; yields False when another session holds it. The
    server releases it when that connection closes, also when the process is killed."""
    import psycopg

    space, name = lock_key(RUN_SPACE, login)
    lock = "SELECT pg_try_advisory_lock(%s, %s)"
    try:
        conn = _lock_connections.take(url)
        try:
            taken = conn.execute(lock, (space, name)).fetchone()
        except psycopg.OperationalError:  # a kept connection the server dropped (restart)
            conn.close()
            conn = _lock_connections.connect(url)
            taken = conn.execute(lock, (space, name)).fetchone()
    except psycopg.Error as exc:
        raise postgresql_error(url, exc) from None
    held = bool(taken and taken[0])
    try:
        yield held
    finally:
        _lock_connections.give_back(url, conn, (space, name) if held else None)


class _LockConnections:
    """Idle connections of the run locks, per process and database (a new connection
    costs its authentication on every sync otherwise); at most ``pool_size`` kept."""

    def __init__(self) -> None:
        self._idle: dict[tuple[int, str], list[Any]] = {}
        self._guard = threading.Lock()

    def take(self, url: URL) -> Any:
        with self._guard:
            idle = self._idle.get((os.getpid(), str(url)), [])
            conn = idle.pop() if idle else None
        if conn is not None and not conn.closed:
            return conn
        return self.connect(url)

    def connect(self, url: URL) -> Any:
        """A new connection, in autocommit (a session lock outlives no transaction)."""
        import psycopg

        conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)

    def give_back(self, url: URL, conn: Any, key: LockKey | None) -> None:
        """Release ``key`` and keep ``conn`` for the next lock; a connection that could
        not release it is closed (which releases it)."""
        import psycopg

        try:
            if key is not None:
                conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        except psycopg.Error:
            conn.close()
            return
        with self._guard:
            idle = self._idle.setdefault((os.getpid(), str(url)), [])
            if len(idle) < pool_size():
                idle.append(conn)
                return
        conn.close()


_lock_connections = _LockConnections()


def postgresql_error(url: URL, exc: BaseException) -> StoreError:
    """A driver error as one line: the server, the database and what to do; never the
    password."""
    orig = getattr(exc, "orig", None) or exc
    text = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if url.password:
        text = text.replace(str(url.password), "***")
    where = f"the PostgreSQL database {url.database!r} on {_server(url)}"
    if _too_many_connections(exc, text):
        return StoreError(
            f"{where} has too many clients ({text}); each WESS process opens up to "
            f"{2 * pool_size()} connections, and one more per sync under way: lower "
            f"{POOL_SIZE_ENV} or the number of workers, or raise the server's "
            "max_connections"
        )
    if _connection_failed(exc):
        return StoreError(
            f"cannot reach {where} ({text}); check that the server is running and "
            f"{ENV} (user, password, host, port, database)"
        )
    return StoreError(f"{where} failed: {text}; nothing was changed")


def pool_exhausted(url: URL) -> StoreError:
    """Every connection of this process's pool stayed busy for ``POOL_TIMEOUT_SECONDS``."""
    return StoreError(
        f"all {2 * pool_size()} connections of this process to the PostgreSQL database "
        f"{url.database!r} on {_server(url)} stayed busy for {POOL_TIMEOUT_SECONDS} s; "
        f"raise {POOL_SIZE_ENV} or run fewer threads per process"
    )


def _too_many_connections(exc: BaseException, text: str) -> bool:
    """SQLSTATE 53300; a refused new connection carries no SQLSTATE in psycopg (libpq
    gives only the server's text then): its words, as the server sends them in English
    ("sorry, too many clients already", "too many connections for role ...")."""
    orig: Any = getattr(exc, "orig", None) or exc
    if getattr(orig, "sqlstate", None) == TOO_MANY_CONNECTIONS:
        return True
    return "too many clients" in text or "too many connections" in text


def _server(url: URL) -> str:
    host = url.host or url.query.get("host") or "localhost"
    return f"{host}:{url.port or 5432}"


def _connection_failed(exc: BaseException) -> bool:
    if getattr(exc, "connection_invalidated", False):
        return True
    orig: Any = getattr(exc, "orig", None)
    if orig is None:
        return False
    import psycopg

    return isinstance(orig, psycopg.OperationalError)
