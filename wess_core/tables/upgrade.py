"""The core's migrations: create its tables, then import an older home's files once
(history and ledger snapshots with their journals, background-job markers, the
scheduler's board, then the plugins' storage file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wess_core.store import load_json_file
from wess_core.tables import schema
from wess_core.tables.legacy import journal_path, journaled_entries
from wess_core.tables.rows import ledger_row

#: Entries inserted per statement while importing.
CHUNK = 1000


def create_tables(conn: Connection, _home: Path | None) -> None:
    schema.metadata.create_all(conn)


def _files(home: Path, folder: str) -> Iterator[tuple[str, Path]]:
    base = home / folder
    if base.is_dir():
        for path in sorted(base.glob("*.json")):
            yield path.stem, path


def _insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        conn.execute(sa.insert(table), rows[start : start + CHUNK])


def import_home_files(conn: Connection, home: Path | None) -> list[Path]:
    """History, ledger, jobs and the board as an older WESS stored them, into the tables;
    returns the files read (removed once this commits)."""
    if home is None:
        return []
    read: list[Path] = []
    for login, path in _files(home, "history"):
        entries = journaled_entries(path, "history")[-schema.HISTORY_MAX_ENTRIES :]
        rows = [{"login": login, "kind": str(e.get("kind", "")), "entry": e} for e in entries]
        _insert(conn, schema.history, rows)
        read += [path, journal_path(path)]
    for login, path in _files(home, "ledger"):
        entries = journaled_entries(path, "ledger")
        _insert(conn, schema.ledger, [ledger_row(login, e) for e in entries])
        read += [path, journal_path(path)]
    for login, path in _files(home, "jobs"):
        for job in ((load_json_file(path) or {}).get("jobs") or {}).values():
            conn.execute(
                sa.insert(schema.jobs).values(
                    login=login,
                    started=str(job.get("started", "")),
                    kind=job.get("kind", "discovery"),
                    state=job.get("state", "running"),
                    pid=job.get("pid"),
                )
            )
        read.append(path)
    board = home / "scheduler.json"
    docs = list(((load_json_file(board) or {}).get("board") or {}).values())
    if docs:
        conn.execute(sa.insert(schema.boards).values(name="scheduler", doc=docs[0]))
    read.append(board)
    return read + [home / "history", home / "ledger", home / "jobs"]


def add_plugin_storage(conn: Connection, home: Path | None) -> list[Path]:
    """The plugins' storage table, and the values an older WESS kept in the store file
    ``plugin_storage`` (secret ones stay encrypted as they were)."""
    schema.plugin_storage.create(conn, checkfirst=True)
    if home is None:
        return []
    path = home / "plugin_storage.json"
    entries = ((load_json_file(path) or {}).get("entries") or {}).values()
    rows = {
        (str(e["plugin"]), str(e["owner"]), str(e["key"])): {
            "plugin": str(e["plugin"]),
            "owner": str(e["owner"]),
            "key": str(e["key"]),
            "value": e.get("value"),
            "secret_value": e.get("secret_value"),
        }
        for e in entries
        if isinstance(e, dict) and all(e.get(k) for k in ("plugin", "owner", "key"))
    }
    _insert(conn, schema.plugin_storage, list(rows.values()))
    return [path]


STEPS = (create_tables, import_home_files, add_plugin_storage)
