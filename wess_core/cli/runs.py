"""Running and inspecting syncs: sync, run, status, history, review, ledger, plugins."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

import click

from wess_core.cli.options import (
    broker_option,
    json_option,
    metrics_options,
    pass_ctx,
)
from wess_core.cli.output import (
    _fmt,
    _write,
    emit,
    say,
    table,
)
from wess_core.cli.root import cli
from wess_core.errors import UsageError, WessError
from wess_core.service import Context, checklist

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
    from wess_core.service import history  # the tables' engine: only when it is read

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
    if undo:
        text = f"{item} ({data['type']}) syncs again from the next sync."
    else:
        text = f"{item} ({data['type']}) is ignored: its changes are not synced."
    emit(data, as_json, text)


@cli.command("status")
@broker_option
@json_option
@pass_ctx
def status_command(ctx: Context, broker: str | None, as_json: bool) -> None:
    """Every user's sync state: eligible, last run, last error (a user: their own line).

    With a broker (--broker or WESS_BROKER_URL; admin): also the queue, the workers
    alive, each server's budget and the dead-letter list; --json then prints
    {"users": [...], "distributed": {...}}."""
    from wess_core.distributed import broker as broker_mod
    from wess_core.service import sync

    rows = sync.status(ctx)
    columns = "login sync_enabled eligible paused queue held jobs last_run last_result".split()
    text = table(rows, columns) if rows else ["No users yet."]
    url = broker_mod.configured(broker)
    if url is None or not ctx.is_admin:
        emit(rows, as_json, text)
        return
    from wess_core.distributed import status as distributed_status

    view = distributed_status.overview(ctx, url)
    text = [*text, *distributed_status.lines(view)]
    emit({"users": rows, "distributed": view}, as_json, text)


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
@broker_option
@click.option(
    "--no-wait",
    is_flag=True,
    help="With a broker: queue the sync and return at once (--json: its task id).",
)
@json_option
@pass_ctx
def sync_command(
    ctx: Context, login: str, dry_run: bool, broker: str | None, no_wait: bool, as_json: bool
) -> None:
    """Sync Now: bring LOGIN's CRM records and mailbox in step.

    With a broker (--broker or WESS_BROKER_URL), a worker syncs LOGIN ahead of every
    scheduled sync and this command waits for it (--no-wait: returns at once)."""
    from wess_core.distributed import broker as broker_mod
    from wess_core.service import sync

    url = broker_mod.configured(broker)
    if url is None and no_wait:
        raise UsageError("--no-wait needs a broker (--broker or WESS_BROKER_URL)")
    if url is not None:
        from wess_core.distributed.now import sync_now

        data = sync_now(ctx, url, login, wait=not no_wait, dry_run=dry_run)
        if no_wait:
            emit(data, as_json, f"Sync of {login} queued (task {data['task_id']}).")
            return
    elif not as_json and sys.stderr.isatty():
        data = _sync_with_progress_bar(ctx, login, dry_run)
    else:
        data = sync.sync_user(ctx, login, dry_run=dry_run)
    emit(data, as_json, _sync_text(data))
    trouble = sync.problems(data)
    if trouble:  # a folder failed or items are in error: not a clean sync (exit 1)
        say(f"wess: sync of {login} finished with errors: {trouble}", err=True)
        sys.exit(1)


@cli.command("run")
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Users synced at once (default: the throttle_cap setting; more than 8 run in "
    "worker processes, one per core).",
)
@click.option(
    "--interval",
    type=click.FloatRange(0.1),
    default=None,
    help="Seconds between passes (default: the sync_interval setting).",
)
@click.option("--once", is_flag=True, help="One pass over all eligible users, then exit.")
@click.option(
    "--executor",
    type=click.Choice(["local", "celery"]),
    default="local",
    show_default=True,
    help="local: this process syncs (threads, worker processes); celery: queue the "
    "syncs for 'wess worker' processes on the broker (--broker or WESS_BROKER_URL).",
)
@broker_option
@click.option(
    "--push",
    is_flag=True,
    help="Also sync a user within seconds of a change in their mailbox (streaming "
    "notifications), between the passes.",
)
@metrics_options("syncs, errors, durations, back-offs, the queue, for every worker process")
@json_option
@pass_ctx
def run_command(
    ctx: Context,
    workers: int | None,
    interval: float | None,
    once: bool,
    executor: str,
    broker: str | None,
    push: bool,
    metrics_port: int | None,
    metrics_host: str,
    as_json: bool,
) -> None:
    """The scheduler: sync every eligible user, WORKERS at a time, every INTERVAL seconds.

    With --push, a streaming connection to Exchange (EWS: one per 200 users of a server)
    reports each change in a user's synced folders, and that user is synced at once,
    before anyone waiting; the passes every INTERVAL still run (they carry CRM-side
    changes, and anything a lost stream missed). A transport without streaming
    notifications is polled only.

    SIGTERM or Ctrl-C starts no new sync and cuts the requests in flight (what the
    running syncs applied is saved), closes the streams, then exits 0 within a few
    seconds.

    With --executor celery this is the beat: every INTERVAL it queues one sync per
    eligible user for the 'wess worker' processes (never a second one for a user whose
    sync is queued or running; dead-lettered users are skipped); with --once it queues
    one pass and waits until every sync of it has ended.
    """
    import signal
    import threading

    from wess_core import deadlines

    if push and once:
        raise UsageError(
            "--push keeps running to sync changes as they come; drop --once (or --push)"
        )

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()
        deadlines.abort_all(f"stopped: wess run received {received[0]}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if metrics_port is not None:  # before any worker process starts
        from wess_core.distributed.broker import configured

        url = configured(broker) if executor == "celery" else None
        serve_metrics_for(ctx, metrics_port, metrics_host, broker_url=url)

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

    if executor == "celery":
        options = _CeleryRun(broker, once, interval, push, workers, as_json)
        _run_celery(ctx, options, stop, report)
    else:
        _run_local(ctx, workers, interval, once, push, stop, report)
    if received:
        click.echo(f"wess run: stopped on {received[0]}; requests in flight were cut", err=True)


def _run_local(
    ctx: Context,
    workers: int | None,
    interval: float | None,
    once: bool,
    push: bool,
    stop: Any,
    report: Any,
) -> None:
    """``wess run`` with the local executor: this process's threads and processes."""
    from wess_core.service import scheduler
    from wess_core.service.accounts import setting

    if workers is None:  # one budget: throttle_cap users at once (no more than are due)
        workers = int(setting(ctx, "throttle_cap"))
        if once:
            workers = max(1, min(workers, len(scheduler.eligible_logins(ctx))))
    if once:
        report(scheduler.run_once(ctx, workers, stop))
    else:
        wait = _interval(ctx, interval)
        urgent = streams = None
        if push:
            from wess_core.service import push as push_mod

            urgent = push_mod.Urgent()
            streams = push_mod.start_streams(ctx, urgent.push, stop)
            for name in streams.polled_only:
                say(
                    f"wess run: the {name} transport has no streaming notifications; "
                    "its users are polled only",
                    err=True,
                )
        try:
            scheduler.run_forever(ctx, workers, wait, stop, on_pass=report, urgent=urgent)
        finally:
            stop.set()
            if streams is not None:
                streams.join()


def _interval(ctx: Context, interval: float | None) -> float:
    """Seconds between passes: ``--interval``, else the account's ``sync_interval``."""
    from wess_core.service.accounts import setting

    return interval if interval is not None else float(setting(ctx, "sync_interval"))


@dataclass(frozen=True)
class _CeleryRun:
    """The options of ``wess run --executor celery``."""

    broker: str | None
    once: bool
    interval: float | None
    push: bool
    workers: int | None
    as_json: bool


def _run_celery(ctx: Context, options: _CeleryRun, stop: Any, report: Any) -> None:
    """``wess run --executor celery``: the beat (the workers are ``wess worker``)."""
    from wess_core.distributed import beat
    from wess_core.distributed import broker as broker_mod

    if options.push:
        raise UsageError("--push runs with the local executor only")
    if options.workers is not None:
        raise UsageError("--workers is for the local executor; give 'wess worker' --concurrency")
    url = broker_mod.required(options.broker, "wess run --executor celery")
    if options.once:
        report(beat.run_once(ctx, url, stop))
        return
    interval = options.interval
    wait = _interval(ctx, interval)

    def queued(doc: dict[str, Any]) -> None:
        if "error" in doc:
            say(f"wess run: pass not queued: {doc['error']}", err=True)
        elif options.as_json:
            _write(json.dumps(doc, sort_keys=True))
        else:
            say(f"queued {len(doc['queued'])}, skipped {len(doc['skipped'])}")

    beat.run_forever(ctx, url, wait, stop, queued)


def serve_metrics_for(ctx: Context, port: int, host: str, *, broker_url: str | None = None) -> None:
    """Start ``/metrics`` for a long-running command (``wess run``, ``wess worker``); its
    URL goes to stderr (stdout: the passes). ``broker_url``: also the broker's gauges."""
    from wess_core.service.broker_metrics import BrokerCollector
    from wess_core.service.metrics import serve_metrics

    try:
        more = [BrokerCollector(broker_url, ctx.home)] if broker_url else []
        url = serve_metrics(port, host, home=ctx.home, more=more)
    except OSError as exc:
        raise WessError(f"cannot serve metrics on {host} port {port}: {exc.strerror}") from None
    click.echo(json.dumps({"metrics_url": url}), err=True)
