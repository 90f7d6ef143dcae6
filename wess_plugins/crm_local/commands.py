"""``wess crm``: the built-in CRM by hand (list, add, update, delete, import), registered
through ``wess_register_commands`` like any plugin's commands."""

from __future__ import annotations

from typing import Any

import click

from wess_core.cli import emit, emit_list, json_option, pass_ctx, say
from wess_core.cli.output import _fmt
from wess_core.service import Context

RECORD_TYPES = click.Choice(["people", "meetings", "tasks", "emails"])
database_option = click.option(
    "--database", default="main", show_default=True, help="The CRM database."
)


@click.group("crm")
def crm_group() -> None:
    """The built-in CRM by hand: the demo's other side (admin)."""


def _record_line(record: dict[str, Any]) -> str:
    fields = record.get("fields", {})
    shown = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(fields.items()) if v not in (None, ""))
    return f"{record['id']}  {shown}"


@crm_group.command("list")
@click.argument("record_type", metavar="TYPE", type=RECORD_TYPES)
@database_option
@json_option
@pass_ctx
def crm_list(ctx: Context, record_type: str, database: str, as_json: bool) -> None:
    """List live records of TYPE (people, meetings, tasks, emails)."""
    from wess_plugins.crm_local import records as crm  # the tables: only when used

    rows = crm.list_records(ctx, record_type, database)
    emit(rows, as_json, [_record_line(r) for r in rows] or f"No {record_type} yet.")


@crm_group.command("add")
@click.argument("record_type", metavar="TYPE", type=RECORD_TYPES)
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@database_option
@json_option
@pass_ctx
def crm_add(
    ctx: Context, record_type: str, assignments: tuple[str, ...], database: str, as_json: bool
) -> None:
    """Add a record: wess crm add people first_name=Ann last_name=Lee email=ann@example.com
    (KEY:=JSON for typed values, e.g. percent_complete:=50)."""
    from wess_plugins.crm_local import records as crm  # the tables: only when used

    record = crm.add_record(ctx, record_type, database, crm.parse_assignments(assignments))
    emit(record, as_json, f"Added {record_type} {record['id']}.")


@crm_group.command("update")
@click.argument("record_type", metavar="TYPE", type=RECORD_TYPES)
@click.argument("record_id", metavar="ID")
@click.argument("assignments", nargs=-1, metavar="KEY=VALUE...")
@database_option
@json_option
@pass_ctx
def crm_update(
    ctx: Context,
    record_type: str,
    record_id: str,
    assignments: tuple[str, ...],
    database: str,
    as_json: bool,
) -> None:
    """Change fields of record ID (KEY:=null removes a field)."""
    from wess_plugins.crm_local import records as crm  # the tables: only when used

    fields = crm.parse_assignments(assignments)
    record = crm.update_record(ctx, record_type, database, record_id, fields)
    emit(record, as_json, f"Updated {record_type} {record_id}.")


@crm_group.command("delete")
@click.argument("record_type", metavar="TYPE", type=RECORD_TYPES)
@click.argument("record_id", metavar="ID")
@database_option
@json_option
@pass_ctx
def crm_delete(
    ctx: Context, record_type: str, record_id: str, database: str, as_json: bool
) -> None:
    from wess_plugins.crm_local import records as crm  # the tables: only when used

    record = crm.delete_record(ctx, record_type, database, record_id)
    emit(record, as_json, f"Deleted {record_type} {record_id}.")


@crm_group.command("import")
@click.argument("record_type", metavar="TYPE", type=RECORD_TYPES)
@click.argument("path", metavar="FILE.json", type=click.Path(dir_okay=False))
@database_option
@json_option
@pass_ctx
def crm_import(ctx: Context, record_type: str, path: str, database: str, as_json: bool) -> None:
    """Import a JSON list of records (all or nothing; any size: read as a stream)."""
    from wess_plugins.crm_local import records as crm  # the tables: only when used

    summary = crm.import_records(ctx, record_type, database, path)
    if as_json:  # the records with their new ids, as 'crm list --json' prints them
        emit_list(crm.imported_records(ctx, summary))
    else:
        say(f"Imported {summary['imported']} {record_type} into {database}.")
