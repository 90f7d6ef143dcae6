"""Web admin accounts: ``wess admins add | list | remove`` (the admins of ``wess serve``)."""

from __future__ import annotations

import click

from wess_core.cli.options import json_option, pass_ctx, read_secret
from wess_core.cli.output import emit, say, table
from wess_core.cli.root import cli
from wess_core.errors import UsageError
from wess_core.service import Context, logins


@cli.group()
def admins() -> None:
    """Web admin accounts: they log into 'wess serve' with the admin's rights."""


@admins.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the web password from stdin.")
@click.option("--password-prompt", is_flag=True, help="Ask for the web password.")
@pass_ctx
def admins_add(ctx: Context, name: str, password_stdin: bool, password_prompt: bool) -> None:
    """Add web admin NAME (or set a new password for it)."""
    password = read_secret(password_stdin, password_prompt, "Web password")
    if password is None:
        raise UsageError("give the web password with --password-stdin or --password-prompt")
    logins.add_admin(ctx, name, password)
    say(f"Web admin {name} saved.")


@admins.command("list")
@json_option
@pass_ctx
def admins_list(ctx: Context, as_json: bool) -> None:
    rows = logins.list_admins(ctx)
    emit(rows, as_json, table(rows, ["name", "created"]) if rows else "No web admins yet.")


@admins.command("remove")
@click.argument("name")
@pass_ctx
def admins_remove(ctx: Context, name: str) -> None:
    """Remove web admin NAME; its sessions end at their next request."""
    logins.remove_admin(ctx, name)
    say(f"Web admin {name} removed.")
