"""``wess migrate``: copy a home kept in files into a shared PostgreSQL database."""

from __future__ import annotations

import click

from wess_core.cli.options import json_option, pass_ctx
from wess_core.cli.output import emit, say
from wess_core.cli.root import cli
from wess_core.errors import StoreError
from wess_core.service import Context


@cli.command("migrate")
@click.option(
    "--to",
    metavar="URL",
    help="postgresql://USER@HOST:PORT/DB, no password here (it comes from "
    "$WESS_DATABASE_URL, PGPASSWORD or ~/.pgpass; default: $WESS_DATABASE_URL).",
)
@json_option
@pass_ctx
def migrate_command(ctx: Context, to: str | None, as_json: bool) -> None:
    """Copy this home (account, users, admins, sync state, history, ledger, jobs, CRM)
    into PostgreSQL, verify the counts, then mark the home as migrated. Safe to run
    again, also after it was interrupted."""
    from wess_core.service.migrate import migrate_home

    result = migrate_home(ctx, to, progress=lambda line: say(line, err=True))
    if result.get("already"):
        emit(result, as_json, f"This home was migrated to {result['to']} ({result['already']}).")
        return
    lines = [f"{'kind':<16} {'home':>10} {'database':>10}"]
    for kind, pair in result["counts"].items():
        mark = "" if pair["home"] == pair["database"] else "  DIFFERS"
        lines.append(f"{kind:<16} {pair['home']:>10} {pair['database']:>10}{mark}")
    if not result["differ"]:
        lines.append(
            f"Migrated to {result['to']} in {result['seconds']:.1f} s; run WESS with "
            "WESS_DATABASE_URL set to it from now on."
        )
    emit(result, as_json, lines)
    if result["differ"]:
        raise StoreError(
            f"the counts differ for {', '.join(result['differ'])}; the home is not marked "
            "as migrated: run wess migrate again"
        )
