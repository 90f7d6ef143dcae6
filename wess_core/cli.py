"""The ``wess`` command line: a thin click shell over ``wess_core.service``.

Nothing here decides anything: each command parses options, calls one service
function and prints the result (a table, or one JSON document with ``--json``).
Every ``WessError`` becomes one line on stderr and its exit code.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from wess_core.display import visible
from wess_core.errors import UsageError, WessError
from wess_core.service import Context, accounts, checklist, default_home, history, users


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

    #: Commands imported only when used, so start-up stays fast.
    LAZY = {"emulator": "wess_core.testing.cli:emulator", "bench": "wess_core.bench:bench_command"}

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._add_plugin_commands()
        if self.name == "cli" and cmd_name in self.LAZY and cmd_name not in self.commands:
            module, _, attr = self.LAZY[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugin_commands()
        extra = list(self.LAZY) if self.name == "cli" else []
        return sorted({*super().list_commands(ctx), *extra})

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


#: Exit status when the reader of our output went away (``wess ... | head``): 128 + SIGPIPE,
#: what a shell reports for a Unix tool that SIGPIPE ended.
EXIT_BROKEN_PIPE = 141


def _reader_gone(ctx: click.Context) -> None:
    """Output to a closed pipe: stop quietly, as ``cat`` or ``ls`` piped into ``head`` do
    (no message: the reader is gone and stderr may be the same pipe). Stdout and stderr
    then point at /dev/null, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # no real fd (tests)
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    ctx.exit(EXIT_BROKEN_PIPE)


#: Output is written in pieces of this size: one write bigger than a pipe's buffer to a
#: reader that leaves meanwhile can end "successfully" (the kernel reports the part it
#: took, and CPython's buffered writer drops the rest without an error), so ``wess ...
#: --json | head`` would exit 0; the next piece raises BrokenPipeError.
_PIECE = 8192


def _write(text: str, err: bool = False, nl: bool = True) -> None:
    """``click.echo(text)``, in pieces (see ``_PIECE``)."""
    start = 0
    while len(text) - start > _PIECE:
        click.echo(text[start : start + _PIECE], nl=False, err=err)
        start += _PIECE
    click.echo(text[start:], err=err, nl=nl)


def say(line: Any = "", err: bool = False) -> None:
    """Print one human-readable line, control and bidi characters escaped (``visible``):
    server- or CRM-supplied text never drives the terminal, and one value stays one line."""
    _write(visible(line), err=err)


def emit(data: Any, as_json: bool, text: Any = None) -> None:
    """Print ``data`` as one JSON document (exact), or ``text`` (a string or list of lines,
    each printed with ``say``)."""
    if as_json:
        _write(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    if text is None:
        text = data
    if isinstance(text, dict):
        width = max((len(k) for k in text), default=0)
        for key, value in text.items():
            say(f"{key:<{width}}  {_fmt(value)}")
    elif isinstance(text, list):
        for line in text:
            say(line)
    else:
        say(text)


def emit_list(items: Iterable[Any]) -> None:
    """A JSON list written an item at a time, exactly as ``emit(list(items), True)``
    would print it, without holding the list (a big import's records)."""
    first = True
    for item in items:
        text = json.dumps(item, indent=2, sort_keys=True, default=str)
        _write(("[\n  " if first else ",\n  ") + text.replace("\n", "\n  "), nl=False)
        first = False
    _write("[]" if first else "\n]")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Plain aligned columns; readable in a terminal and in logs."""
    cells = [[c.upper() for c in columns]]
    cells += [[visible(_fmt(r.get(c))) for c in columns] for r in rows]  # widths as printed
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]


def read_secret(from_stdin: bool, prompt: bool, what: str = "Password") -> str | None:
    """A secret from stdin (first line) or a hidden prompt; never from argv."""
    if from_stdin:
        line = sys.stdin.readline()
        secret = line.rstrip("\r\n")
        if not secret:
            raise UsageError(f"{what} expected on standard input, got nothing")
        return secret
    if prompt:
        return click.prompt(what, hide_input=True, confirmation_prompt=False)
    return None


def strategy_options(command: Any) -> Any:
    """``--option KEY=VALUE`` and ``--secret-stdin KEY`` (both repeatable): the settings
    the chosen auth, discovery and transport strategies declare (``wess plugins --json``)."""
    command = click.option(
        "--secret-stdin",
        "secret_stdin",
        multiple=True,
        metavar="KEY",
        help="Read secret setting KEY from stdin (one line each, in order).",
    )(command)
    return click.option(
        "--option",
        "option",
        multiple=True,
        metavar="KEY=VALUE",
        help="A setting the chosen strategies declare (see 'wess plugins --json').",
    )(command)


def parse_options(pairs: tuple[str, ...]) -> list[tuple[str, str]]:
    from wess_core.strategy_settings import parse_options as parse

    return parse(pairs)


def read_secret_options(keys: tuple[str, ...]) -> list[tuple[str, str]]:
    """One stdin line per ``--secret-stdin KEY``, in the order given."""
    if len(set(keys)) != len(keys):
        raise UsageError("give each --secret-stdin KEY once")
    return [(key, read_secret(True, False, f"Secret {key}") or "") for key in keys]


pass_ctx = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def skip_check_options(command: Any) -> Any:
    """``--skip-check`` (admin only) and its old spelling ``--no-verify``, hidden: it read
    like "no TLS verification", which it never was."""
    command = click.option("--no-verify", "no_verify", is_flag=True, hidden=True)(command)
    return click.option(
        "--skip-check",
        "skip_check",
        is_flag=True,
        help="Save without the credential check with Exchange (admin only).",
    )(command)


@click.group(cls=WessGroup, name="cli")
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="WESS_HOME",
    help="WESS home folder (default: $WESS_HOME or the per-user data folder).",
)
@click.option("--as", "actor", metavar="LOGIN", help="Act as this user (self-service).")
@click.version_option(package_name="wess")
@click.pass_context
def cli(click_ctx: click.Context, home: Path | None, actor: str | None) -> None:
    """WESS: keep a CRM and Microsoft Exchange in step, per user."""
    click_ctx.obj = Context(home=home or default_home(), actor=actor)


@cli.command()
@pass_ctx
def init(ctx: Context) -> None:
    """Create the WESS home, its secret key and the account."""
    result = accounts.init(ctx)
    verb = "created" if result["created"] else "already initialised"
    say(f"WESS home {result['home']} {verb}.")
    if result["key_created"]:
        say(f"Secret key written to {result['home']}/secret.key (mode 0600); back it up.")


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


# -- users --------------------------------------------------------------------

USER_COLUMNS = [
    "login", "email", "exchange_email", "auth", "state", "licence_allocated", "sync_enabled",
    "eligible",
]  # fmt: skip


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


@users_group.command("list")
@json_option
@pass_ctx
def users_list(ctx: Context, as_json: bool) -> None:
    rows = users.list_users(ctx)
    emit(rows, as_json, table(rows, USER_COLUMNS) if rows else "No users yet.")


def _show_text(data: dict[str, Any]) -> list[str]:
    keys = [
        "login", "email", "pending_email", "state", "licence_allocated", "sync_enabled",
        "database", "exchange_email", "exchange_username", "password", "auth", "discovery",
        "transport", "ews_url", "discovered_ews_url", "user_set_fields", "eligible", "reasons",
    ]  # fmt: skip
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
@click.option("--exchange-username", help="user@domain or DOMAIN\\user.")
@click.option("--password-stdin", is_flag=True, help="Read the Exchange password from stdin.")
@click.option("--password-prompt", is_flag=True, help="Ask for the Exchange password.")
@click.option("--auth", help="Authentication method (see 'wess plugins').")
@click.option("--discovery", help="How the EWS URL is found: autodiscover, manual, ...")
@click.option("--transport", help="This user's mailbox transport (see 'wess plugins').")
@click.option("--ews-url", help="This user's own EWS URL (overrides the account's).")
@click.option("--database", help="The user's CRM database (admin).")
@click.option("--state", type=click.Choice(["active", "not_activated", "disabled"]))
@click.option("--email", help="New login e-mail: pending until 'users confirm-email'.")
@strategy_options
@skip_check_options
@json_option
@pass_ctx
def users_set(
    ctx: Context,
    login: str,
    password_stdin: bool,
    password_prompt: bool,
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
    data = users.update_user(
        ctx,
        login,
        password=password,
        options=parse_options(option),
        secret_options=read_secret_options(secret_stdin),
        verify=not skip,
        **fields,
    )
    emit(data, as_json, f"Profile of {login} saved.")


@users_group.command("confirm-email")
@click.argument("login")
@pass_ctx
def users_confirm_email(ctx: Context, login: str) -> None:
    data = users.confirm_email(ctx, login)
    say(f"Login e-mail of {login} is now {data['email']}.")


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
    if data.get("checked_with"):
        who = data["checked_with"]
        text = f"Connection settings saved; Exchange accepted them (checked as {who})."
    elif skip_check or no_verify:
        text = "Connection settings saved without a check (--skip-check)."
    else:
        text = (
            "Connection settings saved; not checked yet: no user has complete credentials. "
            "Check later with: wess test-connection LOGIN"
        )
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
    emit(data, as_json, f"Connection OK: {data['email']} at {data['ews_url']}.")


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
    result = accounts.rotate_keys(ctx)
    say(
        f"Re-encrypted {result['rotated_user_secrets']} user secret(s) and the account's "
        f"secrets with the newest key ({result['key_source']})."
    )


# -- plugins, checklist, history, status -------------------------------------


@cli.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List installed plugins, their hooks and load errors."""
    from wess_core.plugins import plugin_records, strategies_by_plugin

    strategies = strategies_by_plugin()
    records = [{**r.to_dict(), "strategies": strategies.get(r.name, [])} for r in plugin_records()]
    rows = [{**r, "hooks": ", ".join(r["hooks"]), "error": r["error"] or ""} for r in records]
    emit(
        records,
        as_json,
        table(rows, ["name", "distribution", "version", "status", "hooks", "error"]),
    )


@cli.command("checklist")
@pass_ctx
def checklist_command(ctx: Context) -> None:
    """Print the IT checklist for this account."""
    for line in checklist.checklist(ctx):
        say(line)


@cli.command("history")
@click.argument("login")
@click.option("--limit", type=int, default=None, help="Show at most this many entries.")
@json_option
@pass_ctx
def history_command(ctx: Context, login: str, limit: int | None, as_json: bool) -> None:
    """Sync runs and errors of LOGIN, newest first."""
    rows = history.entries(ctx, login, limit)
    emit(rows, as_json, table(rows, ["time", "kind", "message"]) if rows else "No history yet.")


# -- trustworthy sync: review, ledger, retry, ignore -----------------------------


def _review_lines(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["Nothing held for review."]
    lines = table(rows, ["id", "type", "kind", "side", "summary", "decision", "reason"])
    for row in rows:
        for cand in row.get("candidates") or ():
            lines.append(
                f"  {row['id']}={cand['n']}: CRM {cand['crm_id']} ({_fmt(cand['crm'])}) "
                f"<-> Exchange {cand['item_id'][-12:]} ({_fmt(cand['exchange'])})"
            )
    return lines


@cli.command("review")
@click.argument("login")
@click.argument("ids", nargs=-1, metavar="[ID[=CANDIDATE]]...")
@click.option("--approve", "decision", flag_value="approve", help="Approve the entries named.")
@click.option("--reject", "decision", flag_value="reject", help="Reject the entries named.")
@click.option("--all", "everything", is_flag=True, help="Act on every held entry.")
@json_option
@pass_ctx
def review_command(
    ctx: Context,
    login: str,
    ids: tuple[str, ...],
    decision: str | None,
    everything: bool,
    as_json: bool,
) -> None:
    """Held deletes and ambiguous matches of LOGIN; approve or reject them.

    Decisions are carried out by the next sync. Approving a held delete deletes on the
    other side, rejecting it restores the deleted side. An ambiguous match is approved
    with the candidate picked, ID=N (N from the listing); rejecting it creates each.
    """
    from wess_core.service import review

    if decision is None:
        if ids or everything:
            raise UsageError("add --approve or --reject to act on review entries")
        rows = review.review(ctx, login)
        emit(rows, as_json, _review_lines(rows))
        return
    data = review.decide(ctx, login, list(ids), decision == "approve", everything)
    verb = "approved" if decision == "approve" else "rejected"
    text = [f"{row['id']} {verb}" for row in data["decided"]] or ["Nothing to decide."]
    text += [f"{rid} skipped: pick its candidate with --approve {rid}=N" for rid in data["skipped"]]
    text += [
        f"{rid} not approved: it deletes records in the shared CRM; an admin approves it"
        for rid in data.get("needs_admin", ())
    ]
    if data["decided"]:
        text.append(f"Carried out at the next sync ('wess sync {login}').")
    emit(data, as_json, text)


@cli.command("ledger")
@click.argument("login")
@click.option("--item", help="Only entries naming this CRM id or item id.")
@click.option("--since", help="From this time on: ISO date/time, or relative (30m, 12h, 7d).")
@json_option
@pass_ctx
def ledger_command(
    ctx: Context, login: str, item: str | None, since: str | None, as_json: bool
) -> None:
    """Every item operation of LOGIN's syncs (create, update, delete, link, unlink, skip,
    hold, error), oldest first, kept for ledger_retention_days."""
    from wess_core.service import review

    rows = review.ledger(ctx, login, item=item, since=since)
    shown = [{**r, "item_id": (r.get("item_id") or "")[-16:] or None} for r in rows]
    columns = ["time", "op", "direction", "type", "crm_id", "item_id", "error"]
    emit(rows, as_json, table(shown, columns) if rows else "No ledger entries.")


@cli.command("retry")
@click.argument("login")
@click.argument("item")
@json_option
@pass_ctx
def retry_command(ctx: Context, login: str, item: str, as_json: bool) -> None:
    """Re-try ITEM (a CRM id or an Exchange item id) at LOGIN's next sync."""
    from wess_core.service import review

    data = review.retry(ctx, login, item)
    emit(data, as_json, f"{item} ({data['type']}) will be re-tried at the next sync.")


@cli.command("ignore")
@click.argument("login")
@click.argument("item")
@click.option("--undo", is_flag=True, help="Resume syncing ITEM.")
@json_option
@pass_ctx
def ignore_command(ctx: Context, login: str, item: str, undo: bool, as_json: bool) -> None:
    """Stop syncing ITEM (a CRM id or an Exchange item id) for LOGIN; --undo resumes it."""
    from wess_core.service import review

    data = review.ignore(ctx, login, item, undo=undo)
    text = (f"{item} ({data['type']}) syncs again from the next sync." if undo
            else f"{item} ({data['type']}) is ignored: its changes are not synced.")  # fmt: skip
    emit(data, as_json, text)


# -- the built-in CRM ------------------------------------------------------------

RECORD_TYPES = click.Choice(["people", "meetings", "tasks", "emails"])
database_option = click.option(
    "--database", default="main", show_default=True, help="The CRM database."
)


@cli.group("crm")
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
    from wess_core.service import crm

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
    from wess_core.service import crm

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
    from wess_core.service import crm

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
    from wess_core.service import crm

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
    from wess_core.service import crm

    summary = crm.import_records(ctx, record_type, database, path)
    if as_json:  # the records with their new ids, as 'crm list --json' prints them
        emit_list(crm.imported_records(ctx, summary))
    else:
        say(f"Imported {summary['imported']} {record_type} into {database}.")


@cli.command("status")
@json_option
@pass_ctx
def status_command(ctx: Context, as_json: bool) -> None:
    """Every user's sync state: eligible, last run, last error (a user: their own line)."""
    from wess_core.service import sync

    rows = sync.status(ctx)
    columns = ["login", "sync_enabled", "eligible", "paused", "queue", "held", "jobs",
               "last_run", "last_result"]  # fmt: skip
    emit(rows, as_json, table(rows, columns) if rows else "No users yet.")


def _sync_text(data: dict[str, Any]) -> list[str]:
    lines = []
    for name, folder in data["folders"].items():
        to_crm, to_ex = folder["to_crm"], folder["to_exchange"]
        line = (
            f"{name:<12} to CRM: +{to_crm['created']} ~{to_crm['updated']} -{to_crm['deleted']}"
            f"   to Exchange: +{to_ex['created']} ~{to_ex['updated']} -{to_ex['deleted']}"
        )
        if folder.get("conflicts"):
            line += f"   conflicts: {len(folder['conflicts'])}"
        if folder.get("errors"):
            line += f"   errors: {len(folder['errors'])}"
        if folder.get("failed"):
            line += f"   FAILED: {folder['failed']}"
        lines.append(line)
    verb = "Would sync" if data.get("dry_run") else "Synced"
    login, seconds = data["login"], data["seconds"]
    errors = int(data.get("items_in_error") or 0)
    failed = [name for name, f in data["folders"].items() if f.get("failed")]
    if errors or failed:
        what = [f"{errors} item(s) in error (see wess ledger {login})"] if errors else []
        what += [f"failed: {', '.join(failed)}"] if failed else []
        lines.append(f"{verb} {login} with errors in {seconds:.2f} s: {'; '.join(what)}.")
    else:
        lines.append(f"{verb} {login} in {seconds:.2f} s.")
    return lines


def _sync_with_progress_bar(ctx: Context, login: str, dry_run: bool) -> dict[str, Any]:
    """Sync Now with a progress bar on the terminal (stderr): one step per folder."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from wess_core import plugins
    from wess_core.service import sync

    folders = len(plugins.item_types().names())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"Syncing {login}", total=folders)
        started: list[str] = []

        def step(folder: str) -> None:
            if started:
                bar.advance(task)
            started.append(folder)
            bar.update(task, description=f"Syncing {login}: {folder}")

        data = sync.sync_user(ctx, login, dry_run=dry_run, progress=step)
        bar.update(task, completed=folders)
    return data


@cli.command("sync")
@click.argument("login")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@json_option
@pass_ctx
def sync_command(ctx: Context, login: str, dry_run: bool, as_json: bool) -> None:
    """Sync Now: bring LOGIN's CRM records and mailbox in step."""
    from wess_core.service import sync

    if not as_json and sys.stderr.isatty():
        data = _sync_with_progress_bar(ctx, login, dry_run)
    else:
        data = sync.sync_user(ctx, login, dry_run=dry_run)
    emit(data, as_json, _sync_text(data))
    trouble = sync.problems(data)
    if trouble:  # a folder failed or items are in error: not a clean sync (exit 1)
        say(f"wess: sync of {login} finished with errors: {trouble}", err=True)
        sys.exit(1)


@cli.command("run")
@click.option("--workers", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=None,
    help="Seconds between passes (default: the sync_interval setting).",
)
@click.option("--once", is_flag=True, help="One pass over all eligible users, then exit.")
@json_option
@pass_ctx
def run_command(
    ctx: Context, workers: int, interval: float | None, once: bool, as_json: bool
) -> None:
    """The scheduler: sync every eligible user, WORKERS at a time, every INTERVAL seconds.

    SIGTERM or Ctrl-C starts no new sync and cuts the requests in flight (what the
    running syncs applied is saved), then exits 0 within a few seconds.
    """
    import signal
    import threading

    from wess_core import deadlines
    from wess_core.service import sync
    from wess_core.service.accounts import setting

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()
        deadlines.abort_all(f"stopped: wess run received {received[0]}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def report(outcome: dict[str, Any]) -> None:
        if as_json:
            _write(json.dumps(outcome, sort_keys=True))
        else:
            say(
                f"synced {len(outcome['synced'])}, failed {len(outcome['failed'])}, "
                f"skipped {len(outcome['skipped'])}"
            )
            for login, why in sorted(outcome["failed"].items()):
                say(f"  {login}: {why}")

    if once:
        report(sync.run_once(ctx, workers, stop))
    else:
        wait = interval if interval is not None else float(setting(ctx, "sync_interval"))
        sync.run_forever(ctx, workers, wait, stop, on_pass=report)
    if received:
        click.echo(f"wess run: stopped on {received[0]}; requests in flight were cut", err=True)


@cli.command("demo")
@click.option(
    "--size",
    type=click.IntRange(10, 5000),
    default=120,
    show_default=True,
    help="People per CRM database (other item types scale with it).",
)
def demo_command(size: int) -> None:
    """Watch a real two-way sync: emulated Exchange + the built-in CRM, two users.

    Runs in a throw-away home; exit 0 only if both sides end up identical.
    """
    from wess_core.demo import Demo

    ok = Demo(click.echo, size=size).run()
    sys.exit(0 if ok else 1)


def main() -> None:
    """Console-script entry point."""
    cli()


if __name__ == "__main__":
    main()
