"""The ``wess`` command line: a thin click shell over ``wess_core.service``.

Nothing here decides anything: each command parses options, calls one service
function and prints the result (a table, or one JSON document with ``--json``).
Every ``WessError`` becomes one line on stderr and its exit code. Plugins add
commands through ``wess_register_commands`` (the built-in CRM's ``crm``, the
emulator's ``emulator``, ``bench`` and ``demo``).
"""

from __future__ import annotations

from wess_core.cli import (  # noqa: F401  (they register their commands)
    account,
    admins,
    distributed,
    migrate,
    runs,
    users,
)
from wess_core.cli.options import json_option, pass_ctx
from wess_core.cli.output import emit, emit_list, say, table
from wess_core.cli.root import WessGroup, cli

__all__ = [
    "WessGroup",
    "cli",
    "emit",
    "emit_list",
    "json_option",
    "main",
    "pass_ctx",
    "say",
    "table",
]


def main() -> None:
    """Console-script entry point."""
    cli()
