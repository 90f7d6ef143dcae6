"""``wess users``: add users, allocate licences, enable sync, set credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from wess_core.cli.options import (
    json_option,
    parse_options,
    pass_ctx,
    read_secret,
    read_secret_options,
    skip_check_options,
    strategy_options,
)
from wess_core.cli.output import (
    _fmt,
    emit,
    say,
    table,
)
from wess_core.cli.root import cli
from wess_core.service import Context, accounts, logins, user_import, users

# -- users --------------------------------------------------------------------

USER_COLUMNS = (
    "login email exchange_email auth state licence_allocated sync_enabled eligible".split()
)


@cli.group("users")
def users_group() -> None:
    """Add users, allocate licences, enable sync, set Exchange credentials."""


@users_group.command("add")
@click.argument("login")
@click.option("--email", required=True, help="Login e-mail; the Exchange e-mail defaults to it.")
@json_option
@pass_ctx
def users_add(ctx: Context, login: str, email: str, as_json: bool) -> None:
    emit(users.add_user(ctx, login, email), as_json, f"User {login} added.")


@users_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--allocate", is_flag=True, help="Give each a licence (all or none).")
@click.option("--enable", is_flag=True, help="Switch on Exchange sync for each.")
@json_option
@pass_ctx
def users_import(ctx: Context, file: Path, allocate: bool, enable: bool, as_json: bool) -> None:
    """Add the users in FILE (JSON list or CSV with a header row: login, email, optional
    exchange_email, database) in one write: every row is checked first, all or nothing."""
    rows = user_import.read_rows(file)
    summary = user_import.import_users(
        ctx, rows, source=str(file), allocate=allocate, enable=enable
    )
    done = [f"{summary['imported']} user(s) imported"]
    if allocate:
        done.append(f"{summary['allocated']} licence(s) allocated")
    if enable:
        done.append(f"sync enabled for {summary['enabled']}")
    emit(summary, as_json, "; ".join(done) + ".")


@users_group.command("list")
@json_option
@pass_ctx
def users_list(ctx: Context, as_json: bool) -> None:
    rows = users.list_users(ctx)
    emit(rows, as_json, table(rows, USER_COLUMNS) if rows else "No users yet.")


def _show_text(data: dict[str, Any]) -> list[str]:
    keys = (
        "login email pending_email state licence_allocated sync_enabled database "
        "exchange_email exchange_username password auth discovery transport ews_url "
        "discovered_ews_url user_set_fields eligible reasons"
    ).split()
    width = max(len(k) for k in keys)
    lines = [f"{k:<{width}}  {_fmt(data.get(k))}" for k in keys]
    if data.get("notice"):
        lines.append("")
        lines.append(data["notice"])
    return lines


@users_group.command("show")
@click.argument("login")
@json_option
@pass_ctx
def users_show(ctx: Context, login: str, as_json: bool) -> None:
    data = users.show_user(ctx, login)
    emit(data, as_json, _show_text(data))


@users_group.command("allocate")
@click.argument("login")
@pass_ctx
def users_allocate(ctx: Context, login: str) -> None:
    """Give LOGIN a licence from the pool."""
    users.allocate(ctx, login)
    summary = accounts.licence_summary(ctx)
    say(f"Licence allocated to {login}; {summary['remaining']} remaining.")


@users_group.command("deallocate")
@click.argument("login")
@pass_ctx
def users_deallocate(ctx: Context, login: str) -> None:
    users.deallocate(ctx, login)
    say(f"Licence freed from {login}.")


@users_group.command("enable")
@click.argument("login")
@pass_ctx
def users_enable(ctx: Context, login: str) -> None:
    """Switch on Exchange sync for LOGIN."""
    data = users.set_sync_enabled(ctx, login, True)
    say(f"Exchange sync enabled for {login}.")
    if data["reasons"]:
        say(f"It will not run yet: {'; '.join(data['reasons'])}.")


@users_group.command("disable")
@click.argument("login")
@pass_ctx
def users_disable(ctx: Context, login: str) -> None:
    users.set_sync_enabled(ctx, login, False)
    say(f"Exchange sync disabled for {login}.")


@users_group.command("set")
@click.argument("login")
@click.option("--exchange-email", help="The mailbox to sync.")
@click.option(
    "--exchange-username",
    help="user@domain or DOMAIN\\user; '' logs in with the Exchange e-mail again.",
)
@click.option("--password-stdin", is_flag=True, help="Read the Exchange password from stdin.")
@click.option("--password-prompt", is_flag=True, help="Ask for the Exchange password.")
@click.option("--auth", help="Authentication method (see 'wess plugins').")
@click.option("--discovery", help="How the EWS URL is found: autodiscover, manual, ...")
@click.option("--transport", help="This user's mailbox transport (see 'wess plugins').")
@click.option("--ews-url", help="This user's own EWS URL (overrides the account's).")
@click.option("--database", help="The user's CRM database (admin).")
@click.option("--state", type=click.Choice(["active", "not_activated", "disabled"]))
@click.option("--email", help="New login e-mail: pending until 'users confirm-email'.")
@click.option(
    "--web-password-stdin",
    is_flag=True,
    help="Read LOGIN's web login password from stdin (after the Exchange password).",
)
@strategy_options
@skip_check_options
@json_option
@pass_ctx
def users_set(
    ctx: Context,
    login: str,
    password_stdin: bool,
    password_prompt: bool,
    web_password_stdin: bool,
    option: tuple[str, ...],
    secret_stdin: tuple[str, ...],
    skip_check: bool,
    no_verify: bool,
    as_json: bool,
    **fields: Any,
) -> None:
    """Change LOGIN's profile. Credentials are checked with Exchange before saving."""
    skip = skip_check or no_verify
    password = read_secret(password_stdin, password_prompt)
    web_password = read_secret(web_password_stdin, False, "Web password")
    options = parse_options(option)
    secret_options = read_secret_options(secret_stdin)
    changes_profile = password is not None or options or secret_options
    if web_password is None or changes_profile or any(v is not None for v in fields.values()):
        users.update_user(
            ctx,
            login,
            password=password,
            options=options,
            secret_options=secret_options,
            verify=not skip,
            **fields,
        )
    if web_password is not None:
        logins.set_web_password(ctx, login, web_password)
    emit(users.show_user(ctx, login), as_json, f"Profile of {login} saved.")


@users_group.command("confirm-email")
@click.argument("login")
@pass_ctx
def users_confirm_email(ctx: Context, login: str) -> None:
    data = users.confirm_email(ctx, login)
    say(f"Login e-mail of {login} is now {data['email']}.")
