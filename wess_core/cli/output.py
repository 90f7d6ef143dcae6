"""Printing for the CLI: one escaped line, one JSON document, tables; a reader that left."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

import click

from wess_core.display import visible

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
