"""The ``stores`` component's migrations (``wess_core.tables.migrate``): create the
tables of ``wess_core.tables.store_schema``, then move in, once, what a home kept in
files before its database was shared: the account, users and web admins store files and
each user's ``state/<login>.sqlite`` (removed once this commits, as the core's import
does with history and ledger files). Secrets move as they are: still encrypted with the
home's key (other machines need it as ``WESS_SECRET_KEY``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wess_core.store import load_json_file
from wess_core.tables.store_schema import documents, metadata, sync_folders, sync_rows, sync_watch

#: The store files a home keeps documents in: name -> (table, key field). The names are
#: those of ``wess_core.service`` (accounts, profiles, logins).
HOME_DOCUMENTS: dict[str, tuple[str, str | None]] = {
    "account": ("account", None),
    "users": ("users", "login"),
    "admins": ("admins", "name"),
}
_ROW_FIELDS = ("pair_id", "crm_id", "crm_rev", "crm_hash", "item_id", "changekey", "item_hash")
#: Rows inserted per statement.
CHUNK = 1000


def create_store_tables(conn: Connection, _home: Path | None) -> None:
    metadata.create_all(conn)


def import_home_documents(conn: Connection, home: Path | None) -> list[Path]:
    """The home's account, users and admins documents, in stored order (first of a key
    wins, as reads did)."""
    if home is None:
        return []
    read: list[Path] = []
    for name, (table, key) in HOME_DOCUMENTS.items():
        path = home / f"{name}.json"
        data = load_json_file(path)
        if data is None:
            continue
        docs = (data.get(table) or {}) if isinstance(data, dict) else {}
        rows: dict[str, dict[str, Any]] = {}
        for doc in docs.values():
            if isinstance(doc, dict):
                k = "" if key is None else str(doc.get(key))
                rows.setdefault(k, {"store": name, "tbl": table, "key": k, "doc": doc})
        if rows:
            conn.execute(sa.insert(documents), list(rows.values()))
        read.append(path)
    return read


def import_home_states(conn: Connection, home: Path | None) -> list[Path]:
    """Each ``state/<login>.sqlite`` (folders, status rows, watch record)."""
    if home is None or not (home / "state").is_dir():
        return []
    read: list[Path] = []
    for path in sorted((home / "state").glob("*.sqlite")):
        _import_state(conn, path.stem, path)
        read += [path, *(Path(f"{path}{tail}") for tail in ("-wal", "-shm", "-journal"))]
    return read + [home / "state"]


def _import_state(conn: Connection, login: str, path: Path) -> None:
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in source.execute("SELECT name FROM sqlite_master")}
        folders = [
            {"login": login, "item_type": t, "meta": json.loads(meta)}
            for t, meta in source.execute("SELECT type, meta FROM folders")
        ]
        if folders:
            conn.execute(sa.insert(sync_folders), folders)
        cursor = source.execute(f"SELECT type, {', '.join(_ROW_FIELDS)} FROM rows")
        while chunk := cursor.fetchmany(CHUNK):
            rows = [
                {"login": login, "item_type": r[0], **dict(zip(_ROW_FIELDS, r[1:], strict=True))}
                for r in chunk
            ]
            conn.execute(sa.insert(sync_rows), rows)
        if "watch" in tables:
            for (record,) in source.execute("SELECT record FROM watch"):
                conn.execute(sa.insert(sync_watch).values(login=login, record=record))
    finally:
        with contextlib.suppress(sqlite3.Error):
            source.close()


STEPS = (create_store_tables, import_home_documents, import_home_states)
