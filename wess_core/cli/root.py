"""The root ``wess`` group: plugin commands, one readable line per error, the home."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from wess_core.cli.options import (
    pass_ctx,
)
from wess_core.cli.output import (
    _reader_gone,
    say,
)
from wess_core.errors import WessError
from wess_core.service import Context, accounts, default_home


class WessGroup(click.Group):
    """Turns WessError into one readable line and the contract's exit code."""

    _plugin_commands_added = False

    def _add_plugin_commands(self) -> None:
        """Let plugins add commands (once); a failing plugin must not break the others."""
        if WessGroup._plugin_commands_added or self.name != "cli":
            return
        WessGroup._plugin_commands_added = True
        from wess_core.plugins import get_plugin_manager

        try:
            get_plugin_manager().hook.wess_register_commands(cli=self)
        except Exception as exc:
            say(f"wess: a plugin failed to add its commands: {exc}", err=True)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugin_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WessError as exc:
            say(f"wess: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            say("wess: interrupted", err=True)
            ctx.exit(130)
        except BrokenPipeError:  # before the catch-all below: not an error of ours
            _reader_gone(ctx)
        except Exception as exc:  # never a traceback for users; WESS_DEBUG=1 shows it
            if os.environ.get("WESS_DEBUG") == "1":
                raise
            say(
                f"wess: unexpected error ({type(exc).__name__}); rerun with WESS_DEBUG=1 "
                "for details",
                err=True,
            )
            ctx.exit(1)


@click.group(cls=WessGroup, name="cli")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="WESS_HOME",
    help="WESS home folder (default: $WESS_HOME or the per-user data folder).",
)
@click.option("--as", "actor", metavar="LOGIN", help="Act as this user (self-service).")
@click.option(
    "--database-url",
    metavar="URL",
    help="Keep the tables (history, ledger, jobs, board, built-in CRM) in this "
    "PostgreSQL database, postgresql://USER@HOST:PORT/DB, no password here (default: "
    "$WESS_DATABASE_URL, else the home's wess.sqlite).",
)
@click.version_option(package_name="wess")
@click.pass_context
def cli(
    click_ctx: click.Context, home: Path | None, actor: str | None, database_url: str | None
) -> None:
    """WESS: keep a CRM and Microsoft Exchange in step, per user."""
    if database_url is not None:
        use_database_url(database_url)
    click_ctx.obj = Context(home=home or default_home(), actor=actor)


def use_database_url(raw: str) -> None:
    """``--database-url``: this process and the workers it starts use that database (as
    if ``WESS_DATABASE_URL`` named it); the password comes from the environment."""
    from wess_core.tables import postgresql  # SQLAlchemy: only when a URL is given

    try:
        postgresql.refuse_password_in_argv(raw)
    except WessError as exc:
        raise click.UsageError(str(exc)) from None
    os.environ[postgresql.ENV] = raw


@cli.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create the WESS home, its secret key and the account."""
    result = accounts.init(ctx)
    verb = "created" if result["created"] else "already initialised"
    say(f"WESS home {result['home']} {verb}.")
    if result["key_created"]:
        say(f"Secret key written to {result['home']}/secret.key (mode 0600); back it up.")
