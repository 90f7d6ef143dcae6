"""The core's tables (the built-in CRM's are in its plugin).

Entries whose shape belongs to their writer (a history entry's details, a ledger entry)
are kept whole as JSON; the columns beside them are what queries select and order by.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
LOGIN = sa.String(128)
#: A row id that never runs out: 64-bit in PostgreSQL (BIGSERIAL); SQLite's INTEGER
#: primary key (the rowid) is 64-bit already and must stay spelled INTEGER.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def foreign_id(length: int) -> sa.types.TypeEngine[str]:
    """An id another system gave (a CRM's, an item's): unbounded in PostgreSQL, which
    enforces a length (SQLite never did: nothing it stored may be refused there)."""
    return sa.String(length).with_variant(sa.Text(), "postgresql")


#: Each component's schema version (``wess_core.tables.migrate``).
schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

#: Entries of history kept per user (the newest; older ones are pruned on each write).
HISTORY_MAX_ENTRIES = 1000

#: One entry per sync run, error or discovery; the newest ``HISTORY_MAX_ENTRIES`` per user.
history = sa.Table(
    "history",
    metadata,
    sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("login", LOGIN, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("entry", sa.JSON, nullable=False),
    sa.Index("history_by_login", "login", "id"),
)

#: Every item operation of a user's syncs; ``at`` is the entry's time (epoch seconds,
#: 0 when unreadable) for the retention.
ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("login", LOGIN, nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("crm_id", foreign_id(255)),
    sa.Column("item_id", foreign_id(1024)),
    sa.Column("entry", sa.JSON, nullable=False),
    sa.Index("ledger_by_login", "login", "id"),
    sa.Index("ledger_by_time", "login", "at"),
    sa.Index("ledger_by_crm_id", "login", "crm_id"),
    sa.Index("ledger_by_item_id", "login", "item_id"),
)

#: Background jobs (``wess discover --background``): one marker per running job.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("login", LOGIN, primary_key=True),
    sa.Column("started", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("pid", sa.Integer),
)

#: What a scheduler last published (``wess status``), by board name.
boards = sa.Table(
    "boards",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("doc", sa.JSON, nullable=False),
)


#: What the core keeps for strategies (``wess_core.plugin_storage``): one value per
#: (plugin, owner, key), base64 text in ``value`` or a Fernet token in ``secret_value``.
plugin_storage = sa.Table(
    "plugin_storage",
    metadata,
    sa.Column("plugin", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(160), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("secret_value", sa.Text, nullable=True),
)
