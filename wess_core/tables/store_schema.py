"""The tables that hold, in a shared database (``WESS_DATABASE_URL=postgresql://...``),
what the embedded default keeps in the home's files: the account, the profiles and the
web admins (``documents``: the TinyDB files' documents, unchanged, secrets encrypted as
they were) and each user's sync state (``sync_folders``, ``sync_rows``, ``sync_watch``:
what ``state/<login>.sqlite`` holds).

Their own metadata and migration component (``stores``): a home kept in files never
creates them in its ``wess.sqlite``.
"""

from __future__ import annotations

import sqlalchemy as sa

from wess_core.tables.schema import LOGIN, ROW_ID, foreign_id

metadata = sa.MetaData()
COMPONENT = "stores"
ITEM_TYPE = sa.String(64)

#: One document of a store file's table: ``store`` is the file's logical name
#: ("account", "users", "admins"), ``key`` the document's key ("" in a one-document
#: table), ``id`` its order of creation (``list`` returns documents in that order).
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
    sa.Column("store", sa.String(128), nullable=False),
    sa.Column("tbl", sa.String(64), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("doc", sa.JSON, nullable=False),
    sa.UniqueConstraint("store", "tbl", "key", name="documents_by_key"),
)

#: Each user's and item type's small sync fields (token, cursor, retry lists, held and
#: ignored entries, id space) as JSON (``FolderState.meta``).
sync_folders = sa.Table(
    "sync_folders",
    metadata,
    sa.Column("login", LOGIN, primary_key=True),
    sa.Column("item_type", ITEM_TYPE, primary_key=True),
    sa.Column("meta", sa.JSON, nullable=False),
)

#: The status rows (``StatusRow``), per user and item type. ``crm_rev`` keeps its JSON
#: type: a CRM revision is an integer or a string, and the engine compares it as given.
sync_rows = sa.Table(
    "sync_rows",
    metadata,
    sa.Column("login", LOGIN, primary_key=True),
    sa.Column("item_type", ITEM_TYPE, primary_key=True),
    sa.Column("pair_id", foreign_id(255), primary_key=True),
    sa.Column("crm_id", foreign_id(255), nullable=False),
    sa.Column("crm_rev", sa.JSON),
    sa.Column("crm_hash", sa.String(64)),
    sa.Column("item_id", foreign_id(1024), nullable=False),
    sa.Column("changekey", foreign_id(1024)),
    sa.Column("item_hash", sa.String(64)),
    sa.Index("sync_rows_by_crm", "login", "item_type", "crm_id"),
    sa.Index("sync_rows_by_item", "login", "item_type", "item_id"),
)

#: A user's pull-subscription record (``WatchRecord.to_json``).
sync_watch = sa.Table(
    "sync_watch",
    metadata,
    sa.Column("login", LOGIN, primary_key=True),
    sa.Column("record", sa.Text, nullable=False),
)
