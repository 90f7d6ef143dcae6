"""Account administration: module, licences, connection, discovery, settings, keys."""

from __future__ import annotations

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
)
from wess_core.cli.root import cli
from wess_core.errors import UsageError
from wess_core.service import Context, accounts

# -- module -------------------------------------------------------------------


@cli.group()
def module() -> None:
    """Activate or deactivate the Exchange Sync module."""


@module.command("activate")
@pass_ctx
def module_activate(ctx: Context) -> None:
    accounts.set_module(ctx, True)
    say("Exchange Sync module activated.")


@module.command("deactivate")
@pass_ctx
def module_deactivate(ctx: Context) -> None:
    accounts.set_module(ctx, False)
    say("Exchange Sync module deactivated; no user syncs until it is activated again.")


@module.command("status")
@json_option
@pass_ctx
def module_status(ctx: Context, as_json: bool) -> None:
    data = accounts.module_status(ctx)
    emit(data, as_json, f"Exchange Sync module: {'active' if data['active'] else 'inactive'}")


# -- licences -----------------------------------------------------------------


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def licences(click_ctx: click.Context, as_json: bool) -> None:
    """Show the seat pool (total, allocated, remaining)."""
    if click_ctx.invoked_subcommand is None:
        data = accounts.licence_summary(click_ctx.obj)
        emit(data, as_json)


@licences.command("add")
@click.argument("count", type=int)
@json_option
@pass_ctx
def licences_add(ctx: Context, count: int, as_json: bool) -> None:
    """Add COUNT purchased licences to the pool."""
    emit(accounts.add_licences(ctx, count), as_json)


# -- connection, config, keys -------------------------------------------------


@cli.group()
def connection() -> None:
    """Account-wide connection defaults: discovery, EWS URL, impersonation, CA, OAuth."""


@connection.command("set")
@click.option("--discovery", help="autodiscover (default) or manual, or a plugin's method.")
@click.option("--auth", help="Default authentication method for users.")
@click.option("--transport", help="Default mailbox transport for users: ews, or a plugin's.")
@click.option("--ews-url", help="https://HOST/EWS/Exchange.asmx (implies --discovery manual).")
@click.option("--autodiscover-url", help="A known Autodiscover endpoint, tried first.")
@click.option("--impersonation-user", help="Service account with the impersonation role.")
@click.option("--password-stdin", is_flag=True, help="Read the service account's password.")
@click.option("--ca-bundle", type=click.Path(dir_okay=False), help="PEM file of a private CA.")
@click.option("--oauth-tenant", help="Azure AD tenant id or domain.")
@click.option("--oauth-client-id", help="App registration's client id.")
@click.option("--oauth-authority", help="Authority URL (default: login.microsoftonline.com).")
@click.option("--client-secret-stdin", is_flag=True, help="Read the OAuth client secret.")
@strategy_options
@skip_check_options
@json_option
@pass_ctx
def connection_set(
    ctx: Context,
    password_stdin: bool,
    client_secret_stdin: bool,
    option: tuple[str, ...],
    secret_stdin: tuple[str, ...],
    skip_check: bool,
    no_verify: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Change the account's connection defaults (checked with Exchange before saving)."""
    if password_stdin and client_secret_stdin:
        raise UsageError("give either --password-stdin or --client-secret-stdin, not both")
    password = read_secret(password_stdin, False)
    secret = read_secret(client_secret_stdin, False, "Client secret")
    data = accounts.set_connection(
        ctx,
        impersonation_password=password,
        oauth_client_secret=secret,
        options=parse_options(option),
        secret_options=read_secret_options(secret_stdin),
        verify=not (skip_check or no_verify),
        **options,
    )
    text = accounts.connection_saved_text(
        data, skipped="--skip-check" if skip_check or no_verify else None
    )
    if data.get("suggestion"):
        text += "\n" + data["suggestion"]
    emit(data, as_json, text)


@connection.command("show")
@json_option
@pass_ctx
def connection_show(ctx: Context, as_json: bool) -> None:
    data = accounts.show_account(ctx)
    data.pop("settings", None)
    emit(data, as_json)


# -- discovery and the connection test ----------------------------------------


@cli.command("discover")
@click.argument("login")
@click.option("--background", is_flag=True, help="Return at once; the result lands in history.")
@json_option
@pass_ctx
def discover_command(ctx: Context, login: str, background: bool, as_json: bool) -> None:
    """Find LOGIN's EWS URL (Autodiscover or the configured method) and remember it."""
    from wess_core.service import connect

    if background:
        data = connect.discover_in_background(ctx, login)
        text = f"Discovery for {login} started; see 'wess history {login}' or 'wess status'."
        emit(data, as_json, text)
        return
    data = connect.discover(ctx, login)
    emit(data, as_json, f"EWS URL for {login} ({data['email']}): {data['ews_url']}")


@cli.command("test-connection")
@click.argument("login")
@json_option
@pass_ctx
def test_connection_command(ctx: Context, login: str, as_json: bool) -> None:
    """Log into LOGIN's mailbox as a sync would; exit 1 with the reason when it fails."""
    from wess_core.service import connect

    data = connect.test_connection(ctx, login)
    where = f" at {data['ews_url']}" if data["ews_url"] else ""  # a transport without URL
    emit(data, as_json, f"Connection OK: {data['email']}{where}.")


@cli.group()
def config() -> None:
    """Account settings: conflict policy, deletion guard, ledger retention, ..."""


@config.command("show")
@json_option
@pass_ctx
def config_show(ctx: Context, as_json: bool) -> None:
    emit(accounts.settings(ctx), as_json)


@config.command("set")
@click.argument("key")
@click.argument("value")
@json_option
@pass_ctx
def config_set(ctx: Context, key: str, value: str, as_json: bool) -> None:
    """Set KEY to VALUE (see 'wess config show' for the keys)."""
    data = accounts.set_setting(ctx, key, value)
    emit(data, as_json, f"{key} = {_fmt(data[key.replace('-', '_')])}")


@cli.group()
def keys() -> None:
    """Secret-key management."""


@keys.command("rotate")
@pass_ctx
def keys_rotate(ctx: Context) -> None:
    """Re-encrypt every stored secret with a new key."""
    from wess_core.service.keys import rotate_keys

    result = rotate_keys(ctx)
    say(
        f"Re-encrypted {result['rotated_user_secrets']} user secret(s) and the account's "
        f"secrets with the newest key ({result['key_source']})."
    )
