"""Commands of a distributed deployment: ``wess worker`` and ``wess dead-letter``
(``wess run --executor celery`` and ``wess sync`` with a broker live with their
embedded forms in ``runs``)."""

from __future__ import annotations

import sys

import click

from wess_core.cli.options import broker_option, json_option, metrics_options, pass_ctx
from wess_core.cli.output import emit, table
from wess_core.cli.root import cli
from wess_core.service import Context


@cli.command("worker")
@broker_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 512),
    default=8,
    show_default=True,
    help="Users this worker syncs at once.",
)
@click.option(
    "--pool",
    type=click.Choice(["threads", "prefork", "solo"]),
    default="threads",
    show_default=True,
    help="Celery's pool: threads (syncs mostly wait for Exchange), or processes.",
)
@metrics_options("this worker's syncs, errors, durations, back-offs; the broker's queue")
@pass_ctx
def worker_command(
    ctx: Context,
    broker: str | None,
    concurrency: int,
    pool: str,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """A Celery worker: syncs the users the beat (wess run --executor celery) and Sync Now
    queue, CONCURRENCY at a time. SIGTERM: takes no new task, finishes the syncs under
    way, exits 0. A worker killed mid-sync loses nothing: after worker_lost_seconds its
    users go to another worker."""
    from wess_core.distributed import broker as broker_mod
    from wess_core.distributed.worker import run_worker

    url = broker_mod.required(broker, "wess worker")
    if metrics_port is not None:  # before a prefork pool's children start
        from wess_core.cli.runs import serve_metrics_for

        serve_metrics_for(ctx, metrics_port, metrics_host, broker_url=url)
    sys.exit(run_worker(ctx, url, concurrency=concurrency, pool=pool))


@cli.group("dead-letter")
def dead_letter_group() -> None:
    """Users whose syncs failed dead_letter_after times in a row: the beat skips them."""


@dead_letter_group.command("list")
@broker_option
@json_option
@pass_ctx
def dead_letter_list(ctx: Context, broker: str | None, as_json: bool) -> None:
    """The dead-letter list: login, failures, the last error, since when."""
    from wess_core.distributed import broker as broker_mod
    from wess_core.distributed import budgets

    ctx.require_admin()
    r = broker_mod.redis_client(broker_mod.required(broker, "wess dead-letter"))
    rows = [{"login": k, **v} for k, v in budgets.dead_letters(r).items()]
    text = table(rows, ["login", "failures", "time", "error"]) if rows else "No dead letters."
    emit(rows, as_json, text)


@dead_letter_group.command("release")
@click.argument("login")
@broker_option
@json_option
@pass_ctx
def dead_letter_release(ctx: Context, login: str, broker: str | None, as_json: bool) -> None:
    """Take LOGIN off the dead-letter list: the beat syncs it again at its next pass."""
    from wess_core.distributed import broker as broker_mod
    from wess_core.distributed import budgets

    ctx.require_admin()
    r = broker_mod.redis_client(broker_mod.required(broker, "wess dead-letter"))
    released = budgets.release(r, login)
    text = (
        f"{login} released; synced at the next pass."
        if released
        else f"{login} was not dead-lettered."
    )
    emit({"login": login, "released": released}, as_json, text)
