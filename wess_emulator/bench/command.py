"""``wess bench``: the click command (loaded with every ``wess`` command, so the cases
are imported only when it runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .sizes import CASES


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON document.")
@click.option("--quick", is_flag=True, help="Small sizes (1,000 items, 20 users): seconds.")
@click.option(
    "--case",
    "cases",
    multiple=True,
    type=click.Choice(CASES),
    help="Run only this case (repeatable).",
)
@click.option("--output", type=click.Path(dir_okay=False), help="Also write the JSON here.")
@click.option(
    "--scale-workers",
    type=click.IntRange(1, 256),
    help="scale case: the --workers of the measured 'wess run --once' "
    "(default: none, so the account's throttle_cap).",
)
@click.option(
    "--scale-throttle-cap",
    type=click.IntRange(1, 1000),
    help="scale case: the account's throttle_cap (default: the account's default).",
)
def bench_command(
    as_json: bool,
    quick: bool,
    cases: tuple[str, ...],
    output: str | None,
    scale_workers: int | None,
    scale_throttle_cap: int | None,
) -> None:
    """Benchmarks against the emulator on 127.0.0.1: WESS vs bare exchangelib, and
    over Microsoft Graph (the graph_* cases) vs a bare Graph client and vs EWS. The
    scale case (the real 'wess run --once' over up to 10,000 users) runs only when
    named with --case."""
    from .runner import run

    log = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    options = {"scale_workers": scale_workers, "scale_throttle_cap": scale_throttle_cap}
    overrides = {k: v for k, v in options.items() if v is not None}
    doc = run(list(cases) or None, quick=quick, log=log, overrides=overrides)
    text = json.dumps(doc, indent=2, sort_keys=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    if as_json:
        click.echo(text)
    failed = [c["name"] for c in doc["cases"] if "error" in c]
    if failed:
        click.echo(f"wess bench: case(s) failed to run: {', '.join(failed)}", err=True)
        sys.exit(1)
