"""``wess bench``: the click command (loaded with every ``wess`` command, so the cases
are imported only when it runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .sizes import CASES


def _worker_counts(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, ...] | None:
    """``1,2,4`` -> ``(1, 2, 4)``: each a worker count from 1 to 64."""
    if value is None:
        return None
    try:
        counts = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of numbers like 1,2,4") from None
    if not counts or any(not 1 <= n <= 64 for n in counts):
        raise click.BadParameter(f"{value!r}: each worker count must be from 1 to 64")
    return counts


def _require_redis() -> None:
    """One line and exit 1 when redis-server is missing (before any set-up)."""
    from wess_emulator.redis_server import RedisMissing

    from .distributed_case import require_redis

    try:
        require_redis()
    except RedisMissing as exc:
        raise click.ClickException(str(exc)) from None


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
@click.option(
    "--distributed-users",
    type=click.IntRange(1, 100_000),
    help="distributed case: users in the home (default 2,000; --quick 60).",
)
@click.option(
    "--distributed-latency-ms",
    type=click.FloatRange(0, 10_000),
    help="distributed case: the emulator's latency per EWS request (default 100; --quick 20).",
)
@click.option(
    "--distributed-workers",
    callback=_worker_counts,
    metavar="N,N,...",
    help="distributed case: the wess worker counts, one pass each (default 1,2,4; the "
    "first is the scaling ratios' baseline).",
)
@click.option(
    "--distributed-concurrency",
    type=click.IntRange(1, 512),
    help="distributed case: each worker's --concurrency (default 8, wess worker's own: "
    "4 workers sync throttle_cap 32 users at once, as the embedded pass does).",
)
def bench_command(
    as_json: bool,
    quick: bool,
    cases: tuple[str, ...],
    output: str | None,
    scale_workers: int | None,
    scale_throttle_cap: int | None,
    distributed_users: int | None,
    distributed_latency_ms: float | None,
    distributed_workers: tuple[int, ...] | None,
    distributed_concurrency: int | None,
) -> None:
    """Benchmarks against the emulator on 127.0.0.1: WESS vs bare exchangelib, and
    over Microsoft Graph (the graph_* cases) vs a bare Graph client and vs EWS. The
    scale case (the real 'wess run --once' over up to 10,000 users) and the distributed
    case ('wess run --once' against 1, 2 and 4 'wess worker' processes on a
    redis-server) run only when named with --case."""
    from .runner import run

    if "distributed" in cases:
        _require_redis()
    log = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    latency_s = None if distributed_latency_ms is None else distributed_latency_ms / 1000
    options = {
        "scale_workers": scale_workers,
        "scale_throttle_cap": scale_throttle_cap,
        "distributed_users": distributed_users,
        "distributed_latency_s": latency_s,
        "distributed_workers": distributed_workers,
        "distributed_concurrency": distributed_concurrency,
    }
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
