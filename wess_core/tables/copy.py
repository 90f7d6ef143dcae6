"""Copying a table's rows from one database to another with the same definition (the
home's ``wess.sqlite`` to a shared PostgreSQL database): a batch per transaction, read
by primary key order (keyset: nothing held open), written with the source's primary
keys as insert-or-replace, so a copy run again, or after being killed, converges on the
same rows and never adds one twice.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from wess_core.tables.engine import Database

#: Rows read and written per transaction.
BATCH = 1000


def copy_table(
    source: Database, target: Database, table: sa.Table, done: Callable[[int], None]
) -> int:
    """Every row of ``table``, ``BATCH`` per committed transaction; ``done(copied)``
    after each. Returns the rows copied."""
    key = list(table.primary_key.columns)
    upsert = pg_insert(table)
    others = {c.name: upsert.excluded[c.name] for c in table.columns if not c.primary_key}
    if others:
        write = upsert.on_conflict_do_update(index_elements=key, set_=others)
    else:
        write = upsert.on_conflict_do_nothing(index_elements=key)
    copied = 0
    last: tuple | None = None
    while True:
        query = sa.select(table).order_by(*key).limit(BATCH)
        if last is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*last))
        with source.read() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        if not rows:
            break
        with target.write() as conn:
            conn.execute(write, rows)
        copied += len(rows)
        done(copied)
        last = tuple(rows[-1][c.name] for c in key)
        if len(rows) < BATCH:
            break
    _advance_sequence(target, table)
    return copied


def _advance_sequence(target: Database, table: sa.Table) -> None:
    """Rows kept their ids: the id sequence must start after them (a new row written
    by the product would otherwise collide with a copied one)."""
    column = table.autoincrement_column
    if column is None:
        return
    top = sa.select(sa.func.coalesce(sa.func.max(column), 0) + 1).scalar_subquery()
    sequence = sa.func.pg_get_serial_sequence(table.name, column.name)
    with target.write() as conn:
        conn.execute(sa.select(sa.func.setval(sequence, top, False)))


def count_rows(db: Database, table: sa.Table) -> int:
    with db.read() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
