"""Options shared by the CLI's commands: secrets from stdin, strategy settings, --json."""

from __future__ import annotations

import sys
from typing import Any

import click

from wess_core.errors import UsageError
from wess_core.service import Context


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


broker_option = click.option(
    "--broker",
    metavar="URL",
    help="The Redis broker of a distributed deployment, redis://HOST:PORT/N, no password "
    "here (default: $WESS_BROKER_URL).",
)


def metrics_options(what: str) -> Any:
    """``--metrics-port`` and ``--metrics-host`` of a long-running command (``wess run``,
    ``wess worker``); ``what``: what its metrics count, for the help."""

    def add(command: Any) -> Any:
        command = click.option(
            "--metrics-host",
            default="127.0.0.1",
            show_default=True,
            help="Address the metrics listen on.",
        )(command)
        return click.option(
            "--metrics-port",
            type=click.IntRange(0, 65535),
            default=None,
            help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: a free port, "
            f"printed on stderr): {what}.",
        )(command)

    return add
