"""A home copied into a shared database by ``wess migrate``: its files stay where they
were (a second run, or a look back, reads them), with the marker ``migrated.json``
naming the database (password masked), so there is never a silent split brain:

- ``WESS_DATABASE_URL`` unset: every command refuses with one line naming the database
  (the files are a snapshot from the migration; changes since live in the database);
- set to that database: the home's files are never read (``wess.sqlite`` is accepted);
- set to another one: refused, naming both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wess_core import safefile
from wess_core.errors import StoreError

if TYPE_CHECKING:  # SQLAlchemy is imported when a database is first named
    from sqlalchemy.engine import URL

MARKER = "migrated.json"


def read_marker(home: str | Path) -> dict[str, Any] | None:
    """The marker's content (``url``: masked, ``at``: when), or None: not migrated."""
    raw = safefile.read_bytes(Path(home) / MARKER)
    if raw is None:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        found = None
    if not isinstance(found, dict) or not isinstance(found.get("url"), str):
        raise StoreError(f"{Path(home) / MARKER} is not a migration marker; restore or remove it")
    return found


def database_name(url: URL) -> str:
    """The database as the marker and messages name it: ``postgresql://USER@HOST:PORT/DB``
    without any password (one from PGPASSWORD or ~/.pgpass names the same database),
    as ``--to`` takes it."""
    from sqlalchemy.engine import URL

    bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database)
    return bare.set(query=url.query).render_as_string(hide_password=True)


def write_marker(home: str | Path, url: URL, at: str) -> None:
    """Mark ``home`` as migrated to ``url`` (durably: written then renamed)."""
    data = json.dumps({"url": database_name(url), "at": at}, sort_keys=True).encode()
    safefile.write_atomic(Path(home) / MARKER, data + b"\n")


def refuse_files_of_a_migrated_home(home: str | Path) -> None:
    """Without ``WESS_DATABASE_URL``: a migrated home's files are out of date."""
    marker = read_marker(home)
    if marker is not None:
        raise StoreError(
            f"this home was migrated to {marker['url']} ({marker.get('at', '?')}); set "
            "WESS_DATABASE_URL to that database to use it"
        )


def migrated_to(home: str | Path, url: URL) -> bool:
    """Whether ``home`` was migrated to ``url``'s database; refused when to another."""
    marker = read_marker(home)
    if marker is None:
        return False
    if marker["url"] != database_name(url):
        raise StoreError(
            f"this home was migrated to {marker['url']}, but WESS_DATABASE_URL names "
            f"{database_name(url)}; set it to the database the home was migrated to"
        )
    return True
