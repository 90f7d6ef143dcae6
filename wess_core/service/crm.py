"""The built-in CRM by hand: list, add, update, delete and import records (admin).

These drive the ``local`` backend, the demo's other side; a real CRM is edited in
the CRM itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wess_core.crm import local
from wess_core.errors import UsageError, quote
from wess_core.service.context import Context
from wess_core.validation import login as check_database


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """``KEY=text`` sets a string, ``KEY:=JSON`` a typed value (number, list, object, null)."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        if ":=" in pair and pair.index(":=") < pair.index("=") + 1:
            key, _, raw = pair.partition(":=")
            try:
                fields[key] = json.loads(raw)
            except ValueError:
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
) -> list[dict[str, Any]]:
    return local.import_records(ctx.home, _db(ctx, database), record_type, path)
