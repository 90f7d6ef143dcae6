"""The built-in CRM by hand: list, add, update, delete and import records (admin).

These drive the ``local`` backend, the demo's other side; a real CRM is edited in
the CRM itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wess_core.errors import UsageError, quote
from wess_core.service.context import Context
from wess_core.validation import login as check_database
from wess_plugins.crm_local import local


def _not_json(constant: str) -> Any:
    """NaN and Infinity: Python's json reads them, JSON has none."""
    raise ValueError(f"{constant} is not JSON")


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=text`` sets a string, ``KEY:=JSON`` a typed value (number, list, object, null)."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        if ":=" in pair and pair.index(":=") < pair.index("=") + 1:
            key, _, raw = pair.partition(":=")
            try:
                fields[key] = json.loads(raw, parse_constant=_not_json)
            except (ValueError, RecursionError):
                raise UsageError(f"{quote(pair)}: the value after := must be JSON") from None
        elif "=" in pair:
            key, _, value = pair.partition("=")
            fields[key] = value
        else:
            raise UsageError(f"{quote(pair)}: expected KEY=VALUE or KEY:=JSON")
        if not key:
            raise UsageError(f"{quote(pair)}: the field name is empty")
    return fields


def _db(ctx: Context, database: str) -> str:
    ctx.require_admin()
    return check_database(database)


def list_records(ctx: Context, record_type: str, database: str) -> list[dict[str, Any]]:
    return local.list_records(ctx.home, _db(ctx, database), record_type)


def add_record(
    ctx: Context, record_type: str, database: str, fields: dict[str, Any]
) -> dict[str, Any]:
    if not fields:
        raise UsageError("give at least one field, e.g. first_name=Ann")
    return local.add_record(ctx.home, _db(ctx, database), record_type, fields)


def update_record(
    ctx: Context, record_type: str, database: str, record_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    if not fields:
        raise UsageError("give at least one field to change, e.g. job_title=CEO")
    return local.update_record(ctx.home, _db(ctx, database), record_type, record_id, fields)


def delete_record(ctx: Context, record_type: str, database: str, record_id: str) -> dict[str, Any]:
    return local.delete_record(ctx.home, _db(ctx, database), record_type, record_id)


def import_records(
    ctx: Context, record_type: str, database: str, path: str | Path
) -> dict[str, Any]:
    """Import a JSON list file, all or nothing, streamed (memory does not grow with the
    file; see ``local.import_stream``). Returns how many and their id range; the records
    themselves are read back a page at a time by ``imported_records``."""
    ids = local.import_stream(ctx.home, _db(ctx, database), record_type, path)
    return {
        "type": record_type,
        "database": database,
        "imported": len(ids),
        "first_id": str(ids.start) if ids else None,
        "last_id": str(ids[-1]) if ids else None,
    }


def imported_records(ctx: Context, summary: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The records an import (``import_records``'s summary) added, as ``list_records``
    shows them, read a page at a time."""
    if not summary["imported"]:
        return iter(())
    ids = range(int(summary["first_id"]), int(summary["last_id"]) + 1)
    return local.imported_records(ctx.home, _db(ctx, summary["database"]), summary["type"], ids)
