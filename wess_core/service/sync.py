"""Sync Now and a scheduled user's sync: eligibility, the per-user lock, history, observers.

The engine (``wess_core.sync.engine``) brings one user's folders in step; this
module decides whether a user may sync, holds the user's run lock so "Sync Now"
and the scheduler never overlap, builds the CRM connector and the transport
from a freshly resolved connection (a changed URL or password takes effect on
the next run), and records the outcome in the user's history.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from wess_core import plugins
from wess_core.connection import require_trusted, resolve, user_url_failure
from wess_core.errors import (
    ConnectionFailed,
    NotEligible,
    SyncLocked,
    UntrustedSetting,
    WessError,
)
from wess_core.service import history
from wess_core.service.accounts import load_account, setting_of
from wess_core.service.context import Context
from wess_core.service.users import edit_profile, eligibility, get_profile, list_profiles
from wess_core.strategies import MailboxUnavailable
from wess_core.sync.result import SyncResult


@contextlib.contextmanager
def user_lock(ctx: Context, login: str) -> Iterator[None]:
    """The per-user run lock (``ctx.stores.run_lock``: a file in the home, or an advisory
    lock of the shared database); refuses at once when another process holds it."""
    with ctx.stores.run_lock(login) as taken:
        if not taken:
            raise SyncLocked(f"a sync of {login} is already running; try again when it ends")
        yield


def summary_line(result: Any) -> str:
    """One human line: what moved each way."""
    to_crm = sum(f.to_crm.total for f in result.folders.values())
    to_ex = sum(f.to_exchange.total for f in result.folders.values())
    parts = [f"{to_crm} change(s) to the CRM", f"{to_ex} to Exchange"]
    if result.conflicts:
        parts.append(f"{len(result.conflicts)} conflict(s)")
    if result.errors:
        parts.append(f"{len(result.errors)} error(s)")
    held = getattr(result, "held", [])
    if held:
        parts.append(f"{len(held)} held for review")
    failed = [name for name, f in result.folders.items() if f.failed]
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    return ", ".join(parts)


def is_idle(result: SyncResult) -> bool:
    """A run with nothing to tell: no change either way, no conflict, error or held item,
    no failed folder, no full listing (its history entry is folded with the idle runs
    before it)."""
    return not (
        result.total_changes
        or result.conflicts
        or result.errors
        or result.held
        or any(f.failed or f.full_resync for f in result.folders.values())
    )


def problems(data: dict[str, Any]) -> str | None:
    """What went wrong in a run (a ``sync_user`` document), one line; None when nothing did.

    A run with a failed folder or an item in error is a failed run: ``wess sync`` exits 1
    and ``wess run`` counts the user as failed, so a script never reads "synced" for a
    run that left items behind (they are in the ledger and retried by the next run)."""
    login = data["login"]
    parts = []
    errors = int(data.get("items_in_error") or 0)
    if errors:
        parts.append(f"{errors} item(s) in error (see wess ledger {login})")
    failed = {name: f["failed"] for name, f in data["folders"].items() if f.get("failed")}
    if failed:
        reasons = sorted(set(failed.values()))
        more = f" (and {len(reasons) - 1} other reason(s))" if len(reasons) > 1 else ""
        parts.append(f"failed for {', '.join(sorted(failed))}: {reasons[0]}{more}")
    return "; ".join(parts) or None


def _connection_for(
    ctx: Context, login: str, rediscover: bool, known: tuple[Any, Any], needs_url: bool = True
) -> Any:
    """Resolve the user's connection; for a transport that ``needs_url``, discover (and
    cache) the EWS URL when none is known or when the cached one stopped answering.
    ``known``: the account and profile this run just read (reading the users file again
    costs ~1 ms per 500 users)."""
    from wess_core.service.connect import discover

    account, profile = known
    connection = resolve(account, profile, ctx.secrets.decrypt, ctx.home)
    require_trusted(connection)  # never service credentials with a user-set address or URL
    if not needs_url:
        return connection
    if connection.url is None or (rediscover and not connection.ews_url):
        connection = connection.with_url(discover(ctx, login)["ews_url"])
    return connection


def connection_for(ctx: Context, login: str, known: tuple[Any, Any], needs_url: bool) -> Any:
    """The user's resolved (and, for ``needs_url``, discovered) connection, with the
    trust checks of a sync (``wess run --push`` streams with it)."""
    return _connection_for(ctx, login, False, known, needs_url)


def _set_pause(ctx: Context, login: str, reason: str | None) -> bool:
    """Pause (reason) or resume (None) a user; True when that changed anything."""
    changed = []

    def change(profile: Any, db: Any) -> None:
        if profile.paused_reason != reason:
            profile.paused_reason = reason
            changed.append(True)

    edit_profile(ctx, login, change)
    return bool(changed)


@dataclass
class _Seen:
    """How far a run got, for its metrics (``wess_core.service.metrics``)."""

    started: float | None = None
    limits: Any = None
    result: Any = None
    folders: dict[str, Any] | None = None
    #: Called with the engine's result when the run ends (``sync_user``'s ``observe``).
    observe: Callable[[SyncResult], None] | None = None


def sync_user(
    ctx: Context,
    login: str,
    *,
    dry_run: bool = False,
    transport_factory: Callable[[Any], Any] | None = None,
    progress: Callable[[str], None] | None = None,
    observe: Callable[[SyncResult], None] | None = None,
) -> dict[str, Any]:
    """Sync Now for one user. Ineligible: NotEligible (recorded in history).

    ``progress(folder)`` is called as each folder's sync begins (a progress bar's hook);
    ``observe(result)`` with the engine's result when the run ends (a worker reads what
    the document leaves out, e.g. a server's request to back off). Every run that ends
    here is counted in the metrics, whoever started it (a dry run, which history does
    not record either, is not).
    """
    if dry_run:
        return _sync_user(ctx, login, _Seen(observe=observe), dry_run, transport_factory, progress)
    from wess_core.service import metrics

    seen = _Seen(observe=observe)
    with metrics.sync_running():
        try:
            data = _sync_user(ctx, login, seen, dry_run, transport_factory, progress)
        except NotEligible:
            metrics.sync_ended("skipped")
            raise
        except SyncLocked:
            metrics.sync_ended("locked")
            raise
        except BaseException as exc:
            if seen.started is not None:
                _count_run(seen, exc)
            raise
    _count_run(seen, None, failed=problems(data) is not None)
    return data


def _count_run(seen: _Seen, exc: BaseException | None, failed: bool = True) -> None:
    """One run that got past its lock, in the metrics: its outcome, duration, changes and
    errors (what ended the run, when something did: a cut request, an unusable mailbox,
    any other exception)."""
    from wess_core import deadlines
    from wess_core.service import metrics

    seconds = time.monotonic() - seen.started if seen.started is not None else None
    result = seen.result
    ended: list[str] = []
    if result is not None and result.unavailable is not None:
        ended.append(metrics.unavailable_kind(result.unavailable))
    cut = deadlines.cut_in(exc) or (seen.limits.cut if seen.limits is not None else None)
    if cut is not None:
        ended.append(type(cut).__name__)
    elif exc is not None and not ended:
        ended.append(type(exc).__name__)
    outcome = "failed" if failed or ended else "synced"
    metrics.sync_ended(outcome, seconds=seconds, folders=seen.folders, run_errors=ended)


def _sync_user(
    ctx: Context,
    login: str,
    seen: _Seen,
    dry_run: bool,
    transport_factory: Callable[[Any], Any] | None,
    progress: Callable[[str], None] | None,
) -> dict[str, Any]:
    ctx.require_self_or_admin(login)
    account = load_account(ctx)
    profile = get_profile(ctx, login)
    reasons = eligibility(account, profile)
    if reasons:
        history.record(ctx, login, "skipped", "not synced: " + "; ".join(reasons), reasons=reasons)
        raise NotEligible(login, reasons)
    from wess_core import deadlines  # imports requests: only when syncing

    pm = plugins.get_plugin_manager()
    with user_lock(ctx, login), deadlines.account_scope(account, run=True) as limits:
        started = seen.started = time.monotonic()
        seen.limits = limits
        types = [t for _, t in plugins.item_types().items()]
        crm = plugins.crm_backends().get(profile.crm_backend)(ctx.home, profile.database)
        factory = transport_factory or plugins.transports().get(
            profile.transport or account.transport
        )
        policy = setting_of(account, "conflict_policy")
        pm.hook.wess_sync_started(user=profile, item_types=[t.name for t in types])
        try:
            run = _Run(types, crm, factory, policy, dry_run, (account, profile), limits, progress)
            result = seen.result = _run(ctx, login, run)
        except UntrustedSetting as exc:
            # service credentials with a user-set address: paused (the scheduler skips
            # the user, one history entry) until an admin sets or approves the value
            if dry_run or _set_pause(ctx, login, str(exc)):
                history.record(ctx, login, "error", f"sync paused: {exc}", paused=not dry_run)
            raise
        except Exception as exc:
            cut = deadlines.cut_in(exc) or limits.cut
            if cut is None and not isinstance(exc, WessError):
                raise
            why = f"sync cut off: {cut}" if cut is not None else f"sync failed: {exc}"
            history.record(ctx, login, "error", why)
            if cut is None:
                raise
            raise ConnectionFailed(f"sync of {login} cut off: {cut}") from None
        fatal = result.unavailable
        seconds = round(time.monotonic() - started, 3)
        result_dict = result.to_dict()
        seen.folders = result_dict["folders"]
        data = {"login": login, "seconds": seconds, **result_dict}
        pm.hook.wess_sync_finished(user=profile, result=result)
        if seen.observe is not None:
            seen.observe(result)
        if fatal is not None and fatal.credentials and not dry_run:
            reason = str(fatal)
            if _set_pause(ctx, login, reason):  # one history entry per new problem
                history.record(ctx, login, "error", f"sync paused: {reason}", paused=True)
            if fatal.gone:  # the mailbox or the access to it is gone
                fix = (
                    "fix the Exchange e-mail or the mailbox's access, then save the settings "
                    f"to resume (wess users set {login} --exchange-email ADDRESS)"
                )
            else:
                fix = "save working credentials to resume"
                fix += f" (wess users set {login} --password-stdin)"
            raise ConnectionFailed(f"sync of {login} is paused: {reason}; {fix}")
        if not dry_run:
            if fatal is None and profile.paused_reason and _set_pause(ctx, login, None):
                history.record(ctx, login, "resumed", "credentials work again; sync resumed")
            failed = result.errors or any(f.failed for f in result.folders.values())
            line = summary_line(result)
            if limits.cut is not None:
                line = f"sync cut off: {limits.cut}; {line}"
            failed = failed or limits.cut is not None
            history.record(
                ctx,
                login,
                "error" if failed else "sync",
                line,
                idle=not failed and is_idle(result),
                seconds=seconds,
                result=result_dict,
            )
            if result.held:
                line = _held_line(login, result.held)
                history.record(ctx, login, "review", line, held=result.held)
        if limits.cut is not None:  # what was done is saved; the scheduler counts a failure
            raise ConnectionFailed(f"sync of {login} cut off: {limits.cut}")
    return data


def _held_line(login: str, held: list[dict[str, Any]]) -> str:
    """The history line for entries newly held: what, and where to decide."""
    deletes = sum(1 for h in held if h["kind"] == "delete")
    matches = len(held) - deletes
    parts = []
    if deletes:
        parts.append(f"{deletes} deletion(s) held for review")
    if matches:
        parts.append(f"{matches} ambiguous match(es) held for review")
    return "; ".join(parts) + f"; see 'wess review {login}'"


def deletion_guard(ctx: Context, account: Any = None) -> Any:
    """The account's deletion guard (``deletion_guard_percent`` / ``_max`` / ``_min``);
    ``account``: the account this run already read."""
    from wess_core.sync.review import DeletionGuard

    account = account or load_account(ctx)
    return DeletionGuard(
        percent=int(setting_of(account, "deletion_guard_percent")),
        maximum=int(setting_of(account, "deletion_guard_max")),
        minimum=int(setting_of(account, "deletion_guard_min")),
    )


@dataclass
class _Run:
    """What one engine run of a user needs besides the context."""

    types: list[Any]
    crm: Any
    factory: Callable[[Any], Any]
    policy: str
    dry_run: bool
    #: The account and profile this run just read.
    known: tuple[Any, Any]
    #: The run's deadlines (``deadlines.account_scope``): a cut run is not rediscovered.
    limits: Any
    progress: Callable[[str], None] | None = None


def _run(ctx: Context, login: str, run: _Run) -> Any:
    """The engine over every folder, with a freshly resolved connection.

    A whole-mailbox failure (``MailboxUnavailable``) comes here once, through the
    engine's ``recover``: an endpoint failure of a user-set URL gets the one message
    that reveals nothing (``user_url_failure``); ``rediscover`` discovers the URL again
    and the engine retries the folder that failed with it, once per run. A run that was
    cut off is not rediscovered: the server is alive at that address, discovering it
    again would only spend the rest of the run on it."""
    from wess_core.sync.engine import sync_all
    from wess_core.sync.ledger import StoreLedger

    needs_url = bool(getattr(run.factory, "needs_ews_url", False))
    connection = _connection_for(ctx, login, False, run.known, needs_url)
    conceal = user_url_failure(connection).reason if "ews_url" in connection.user_set else None
    rediscovered: list[bool] = []

    def recover(exc: MailboxUnavailable) -> Any:
        if conceal and exc.endpoint:
            exc.args = (conceal,)  # refused, timed out, TLS: all look the same
        if not exc.rediscover or rediscovered or run.limits.cut:
            return None
        rediscovered.append(True)
        known = (load_account(ctx), get_profile(ctx, login))
        return run.factory(_connection_for(ctx, login, True, known, needs_url))

    account = run.known[0]
    ledger = StoreLedger(ctx.store, login, int(setting_of(account, "ledger_retention_days")))
    state = ctx.stores.sync_state(login)
    return sync_all(
        run.types,
        run.crm,
        run.factory(connection),
        state,
        run.policy,
        dry_run=run.dry_run,
        guard=deletion_guard(ctx, account),
        ledger=ledger,
        progress=run.progress,
        recover=recover,
        watch=state if setting_of(account, "pull_subscriptions") else None,
    )


@dataclass
class Attempt:
    """One sync's outcome as a scheduler counts it; ``data`` the ``sync_user`` document
    when the run got that far, ``exit_code`` what ``wess sync`` would exit with."""

    status: str  # "synced" | "skipped" | "failed"
    message: str
    data: dict[str, Any] | None = None
    exit_code: int = 0


def attempt(
    ctx: Context,
    login: str,
    *,
    dry_run: bool = False,
    transport_factory: Callable[[Any], Any] | None = None,
    observe: Callable[[SyncResult], None] | None = None,
) -> Attempt:
    """A user's sync that never raises: one user's failure (or bug) never stops others."""
    try:
        data = sync_user(
            ctx, login, dry_run=dry_run, transport_factory=transport_factory, observe=observe
        )
        trouble = problems(data)
        if trouble:
            return Attempt("failed", trouble, data, 1)
        return Attempt("synced", "", data)
    except SyncLocked as exc:
        return Attempt("skipped", str(exc), exit_code=exc.exit_code)
    except WessError as exc:
        return Attempt("failed", str(exc), exit_code=exc.exit_code)
    except Exception as exc:  # one user's bug must not stop the others
        history.record(ctx, login, "error", f"sync failed: {type(exc).__name__}: {exc}")
        return Attempt("failed", f"{type(exc).__name__}: {exc}", exit_code=1)


def sync_one(
    ctx: Context, login: str, transport_factory: Callable[[Any], Any] | None = None
) -> tuple[str, str]:
    """One scheduled user's sync: ("synced" | "skipped" | "failed", message)."""
    done = attempt(ctx, login, transport_factory=transport_factory)
    return done.status, done.message


def _held_count(entry: dict[str, Any] | None) -> int:
    """Items held for review as of the user's last run (``wess review`` lists them)."""
    folders = ((entry or {}).get("result") or {}).get("folders") or {}
    return sum(len(f.get("held") or []) for f in folders.values())


def status(ctx: Context) -> list[dict[str, Any]]:
    """Per user: eligibility, last run, last error. A user sees only their own line."""
    from wess_core.service.jobs import jobs_by_login
    from wess_core.service.queue import read_board

    account = load_account(ctx)
    profiles = list_profiles(ctx)
    if not ctx.is_admin:
        profiles = [p for p in profiles if p.login == ctx.actor]
    board = read_board(ctx) or {}
    running = set(board.get("running", [])) if board.get("active") else set()
    waiting = set(board.get("waiting", [])) if board.get("active") else set()
    rows = []
    newest = history.newest_by_kind(ctx, [p.login for p in profiles])
    markers = jobs_by_login(ctx)
    for p in profiles:
        reasons = eligibility(account, p)
        kinds = newest.get(p.login, {})
        last = max(kinds.values(), key=lambda e: e["_id"], default=None)
        last_sync, last_error = kinds.get("sync"), kinds.get("error")
        rows.append(
            {
                "login": p.login,
                "sync_enabled": p.sync_enabled,
                "eligible": not reasons,
                "reasons": reasons,
                "paused": p.paused_reason,
                "queue": "running"
                if p.login in running
                else ("waiting" if p.login in waiting else None),
                "jobs": [
                    f"{job.get('kind', 'discovery')} {job.get('state', 'running')}"
                    for job in markers.get(p.login, [])
                ],
                "held": _held_count(
                    max(
                        (e for e in (last_sync, last_error) if e and e.get("result")),
                        key=lambda e: e["time"],
                        default=None,
                    )
                ),
                "last_run": last_sync["time"] if last_sync else None,
                "last_result": last["message"] if last else None,
                "last_error": last_error["message"] if last_error else None,
            }
        )
    return rows
