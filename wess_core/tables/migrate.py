"""A small versioned migration scheme: each component (the core, a plugin) has an ordered
list of steps and its version in ``schema_version``; opening its tables runs the steps
it has not run yet, in one write transaction (another process waits, then finds them
done). A step may return files of an older home it imported: they are removed once the
transaction committed, so an upgrade reads them exactly once and loses nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wess_core.errors import StoreError
from wess_core.tables.engine import Database
from wess_core.tables.schema import schema_version

#: ``step(connection, home)`` -> files it imported (removed after the commit).
Step = Callable[[Connection, Path | None], Iterable[Path] | None]


def _version(conn: Connection, component: str) -> int:
    if not sa.inspect(conn).has_table(schema_version.name):
        return 0
    found = conn.scalar(
        sa.select(schema_version.c.version).where(schema_version.c.component == component)
    )
    return int(found or 0)


def ensure(db: Database, component: str, steps: Sequence[Step]) -> None:
    """Bring ``component``'s tables in ``db`` to the newest version (once per process)."""
    if db.is_ready(component):
        return
    with db.read() as conn:
        have = _version(conn, component)
    if have < len(steps):
        imported: list[Path] = []
        with db.write() as conn:
            schema_version.create(conn, checkfirst=True)
            have = _version(conn, component)  # another process may have been first
            for number, step in enumerate(steps[have:], have + 1):
                imported.extend(step(conn, db.home) or ())
                conn.execute(
                    sa.delete(schema_version).where(schema_version.c.component == component)
                )
                conn.execute(sa.insert(schema_version).values(component=component, version=number))
        remove_imported(imported)
    elif have > len(steps):
        raise StoreError(
            f"{db.where} was written by a newer WESS ({component} schema {have}, this one "
            f"knows {len(steps)}); upgrade WESS"
        )
    db.mark_ready(component)


def remove_imported(paths: Iterable[Path]) -> None:
    """Remove files (then their emptied folders) an upgrade imported; one left behind is
    harmless (never read again)."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir() and not path.is_symlink():
                os.rmdir(path)  # only when empty: the step names every file it read
            else:
                path.unlink()
