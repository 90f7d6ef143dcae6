"""The test tooling's commands, ``wess emulator``, ``wess bench`` and ``wess demo``, added to
the ``wess`` command line through ``wess_register_commands``: the project uses its own hook,
and ``wess_core`` never imports the emulator."""

from __future__ import annotations

import sys

import click

from wess_core import hookimpl
from wess_emulator.bench import bench_command
from wess_emulator.cli import emulator


@click.command("demo")
@click.option(
    "--size",
    type=click.IntRange(10, 5000),
    default=120,
    show_default=True,
    help="People per CRM database (other item types scale with it).",
)
@click.option(
    "--transport",
    type=click.Choice(["ews", "graph"]),
    default="ews",
    show_default=True,
    help="Sync over Exchange Web Services or Microsoft Graph (OAuth app).",
)
def demo_command(size: int, transport: str) -> None:
    """Watch a real two-way sync: emulated Exchange + the built-in CRM, two users.

    Runs in a throw-away home; exit 0 only if both sides end up identical.
    """
    from wess_emulator.demo import Demo

    ok = Demo(click.echo, size=size, transport=transport).run()
    sys.exit(0 if ok else 1)


@hookimpl
def wess_register_commands(cli):
    """``emulator``, ``bench`` and ``demo``."""
    for command in (emulator, bench_command, demo_command):
        cli.add_command(command)
