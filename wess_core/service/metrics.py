"""Prometheus metrics: what the syncs did, the server back-offs waited, the scheduler's queue.

Every number is an aggregate: no label ever holds a login, an e-mail address, a URL or
a secret (privacy, and a label per user would make thousands of series). Labels take
values from small fixed sets (outcomes, directions, item type names, error class names).

Recording is cheap and happens where a sync ends (``wess_core.service.sync.sync_user``),
so ``wess sync``, ``wess serve``, ``wess run`` (threads or worker processes) and Celery
workers all count. A process whose syncs run in child processes calls
:func:`prepare_multiprocess` before it starts them (``serve_metrics`` does): the
children write their numbers to files in a private directory, and the serving process
adds them up (prometheus-client's multiprocess mode). prometheus-client is imported
only when something is recorded or served: plain commands start no slower.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "backoff_refused",
    "backoff_waited",
    "exposition",
    "prepare_multiprocess",
    "process_ended",
    "serve_metrics",
    "sync_ended",
    "sync_running",
]

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., None])

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Sync durations, seconds: an idle user takes tens of milliseconds, a first sync minutes,
#: and a run is cut at ``run_deadline_seconds`` (900 by default).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
#: An error kind is a class name; anything else is counted as "other".
_KIND = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(/[a-z_]{1,16})?")
#: An item type label is a plugin's item type name (``contacts``, ``calendar``, ...).
_ITEM_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
OUTCOMES = ("synced", "failed", "skipped", "locked")


@dataclass
class _Metrics:
    syncs: Any
    errors: Any
    duration: Any
    items: Any
    conflicts: Any
    running: Any
    backoffs: Any
    backoff_seconds: Any
    registry: Any


_lock = threading.Lock()
_built: dict[str | None, _Metrics] = {}
_private_dir: list[Path] = []


def _multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or os.environ.get("prometheus_multiproc_dir")


def _metrics() -> _Metrics:
    """The metrics of this process, built on first use for the mode in force (files in
    the multiprocess directory, or memory)."""
    mode = _multiproc_dir()
    found = _built.get(mode)
    if found is not None:
        return found
    with _lock:
        if mode not in _built:
            _built[mode] = _build()
        return _built[mode]


def _build() -> _Metrics:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

    values.ValueClass = values.get_value_class()  # the mode may have changed since import
    registry = CollectorRegistry(auto_describe=True)
    metrics = _Metrics(
        syncs=Counter(
            "wess_syncs",
            "User syncs ended, by outcome: synced, failed (an error entry in history), "
            "skipped (not eligible), locked (another run held the user).",
            ["outcome"],
            registry=registry,
        ),
        errors=Counter(
            "wess_sync_errors",
            "Errors in syncs, by kind (the error's class name) and scope (run, folder, item).",
            ["kind", "scope"],
            registry=registry,
        ),
        duration=Histogram(
            "wess_sync_duration_seconds",
            "How long a user's sync took, by outcome (synced, failed).",
            ["outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
        items=Counter(
            "wess_items_changed",
            "Items written by syncs, by item type, direction (to_crm, to_exchange) and "
            "change (created, updated, deleted).",
            ["item_type", "direction", "change"],
            registry=registry,
        ),
        conflicts=Counter("wess_sync_conflicts", "Conflicts resolved by syncs.", registry=registry),
        running=Gauge(
            "wess_syncs_running",
            "User syncs under way now.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        backoffs=Counter(
            "wess_throttle_backoffs",
            "Back-offs a server asked for (EWS ErrorServerBusy, Graph 429), by outcome: "
            "waited, or past_deadline (the run ended instead).",
            ["outcome"],
            registry=registry,
        ),
        backoff_seconds=Counter(
            "wess_throttle_backoff_seconds",
            "Seconds spent waiting out server back-offs.",
            registry=registry,
        ),
        registry=registry,
    )
    for outcome in OUTCOMES:  # every outcome from 0, so a rate has a start
        metrics.syncs.labels(outcome)
    for outcome in ("waited", "past_deadline"):
        metrics.backoffs.labels(outcome)
    return metrics


# -- recording -------------------------------------------------------------------------


def _never_fails(record: F) -> F:
    """Metrics are informative: a sync never fails over them (e.g. a
    PROMETHEUS_MULTIPROC_DIR an operator set that does not exist); said once in the log."""

    @functools.wraps(record)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            record(*args, **kwargs)
        except Exception as exc:
            if not _warned:
                _warned.append(True)
                log.warning("metrics not recorded: %s: %s", type(exc).__name__, exc)

    return guarded  # type: ignore[return-value]


_warned: list[bool] = []


def error_kind(name: str) -> str:
    """A label value for an error class name: the name, or "other" for anything else."""
    return name if _KIND.fullmatch(name) else "other"


def unavailable_kind(exc: Any) -> str:
    """``MailboxUnavailable`` with the meaning the core acts on (credentials, gone,
    endpoint), so refused credentials and a busy or moved server count apart."""
    for meaning in ("gone", "credentials", "endpoint", "rediscover"):
        if getattr(exc, meaning, False):
            return f"{type(exc).__name__}/{meaning}"
    return type(exc).__name__


@_never_fails
def sync_ended(
    outcome: str,
    *,
    seconds: float | None = None,
    folders: dict[str, Any] | None = None,
    run_errors: Iterable[str] = (),
) -> None:
    """Count one user's sync. ``folders``: the run's ``result.to_dict()["folders"]``
    (changes, item and folder errors); ``run_errors``: error kinds that ended the run."""
    m = _metrics()
    m.syncs.labels(outcome).inc()
    if seconds is not None:
        m.duration.labels(outcome).observe(seconds)
    for kind in run_errors:
        m.errors.labels(error_kind(kind), "run").inc()
    for folder in (folders or {}).values():
        _count_folder(m, folder)


def _count_folder(m: _Metrics, folder: dict[str, Any]) -> None:
    item_type = str(folder.get("item_type") or "")
    item_type = item_type if _ITEM_TYPE.fullmatch(item_type) else "other"
    for direction in ("to_crm", "to_exchange"):
        for change, count in (folder.get(direction) or {}).items():
            if count:
                m.items.labels(item_type, direction, change).inc(count)
    if folder.get("conflicts"):
        m.conflicts.inc(len(folder["conflicts"]))
    for error in folder.get("errors") or ():
        m.errors.labels(error_kind(error.get("error") or "other"), "item").inc()
    kind = error_kind(str(folder.get("failed") or "").partition(":")[0])
    if folder.get("failed") and kind != "MailboxUnavailable":  # counted once, per run
        m.errors.labels(kind, "folder").inc()


@contextlib.contextmanager
def sync_running() -> Iterator[None]:
    """``wess_syncs_running`` counts this block."""
    _running(1)
    try:
        yield
    finally:
        _running(-1)


@_never_fails
def _running(step: int) -> None:
    _metrics().running.inc(step)


@_never_fails
def backoff_waited(seconds: float) -> None:
    m = _metrics()
    m.backoffs.labels("waited").inc()
    m.backoff_seconds.inc(max(0.0, seconds))


@_never_fails
def backoff_refused() -> None:
    """A back-off that would have ended past the run's deadline: the run ends instead."""
    _metrics().backoffs.labels("past_deadline").inc()


# -- serving ---------------------------------------------------------------------------


def prepare_multiprocess() -> Path:
    """Make this process and the children it starts from now on write their metrics to
    one private directory (mode 0700, removed when this process exits), which
    :func:`exposition` adds up. Idempotent. Call it before starting the children."""
    with _lock:
        if _private_dir:
            return _private_dir[0]
        path = Path(tempfile.mkdtemp(prefix="wess-metrics-"))  # 0700, a fresh name
        _private_dir.append(path)
        os.environ[MULTIPROC_ENV] = str(path)
        atexit.register(_remove_private_dir, path, os.getpid())
        return path


def _remove_private_dir(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # a forked child exiting leaves its parent's directory
        shutil.rmtree(path, ignore_errors=True)


def process_ended(pid: int) -> None:
    """A child process that wrote metrics has ended: drop its "now" numbers (the syncs it
    was running); what it counted stays in the totals."""
    path = _multiproc_dir()
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)


class _Exposed:
    """What a scrape reads: this process's metrics (or every process's, in multiprocess
    mode), with a home the scheduler's board, and what ``more`` collectors give (the
    broker's gauges: ``broker_metrics.BrokerCollector``)."""

    def __init__(self, home: Path | None, more: Iterable[Any] = ()) -> None:
        self.home = home
        self.more = tuple(more)

    def collect(self) -> Iterator[Any]:
        path = _multiproc_dir()
        if path:
            from prometheus_client import multiprocess

            yield from multiprocess.MultiProcessCollector(None, path).collect()
        else:
            yield from _metrics().registry.collect()
        if self.home is not None:
            yield from _board_metrics(self.home)
        for collector in self.more:
            yield from collector.collect()


def _board_metrics(home: Path) -> Iterator[Any]:
    """``wess_scheduler_users`` waiting / running, read from the board ``wess status``
    shows (the newest pass of the scheduler on this home)."""
    from prometheus_client.core import GaugeMetricFamily

    from wess_core.service.context import Context
    from wess_core.service.queue import read_board

    try:
        board = read_board(Context(home=home)) or {}
    except Exception:  # a scrape must answer even when the database does not
        board = {}
    active = bool(board.get("active"))
    users = GaugeMetricFamily(
        "wess_scheduler_users",
        "Users of the scheduler's current pass, by state (waiting, running).",
        labels=["state"],
    )
    for state in ("waiting", "running"):
        users.add_metric([state], len(board.get(state) or ()) if active else 0)
    yield users
    yield GaugeMetricFamily(
        "wess_scheduler_active", "1 while a scheduler pass is under way.", value=int(active)
    )


def exposition(
    home: Path | None = None, accept: str | None = None, more: Iterable[Any] = ()
) -> tuple[bytes, str]:
    """The metrics in the text exposition format: (body, content type)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposed(home, more))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


def serve_metrics(
    port: int = 0,
    host: str = "127.0.0.1",
    home: Path | None = None,
    more: Iterable[Any] = (),
) -> str:
    """Serve ``/metrics`` on ``host``:``port`` (0: a free port) from a background thread,
    for this process and every child it starts after this call; returns the URL.
    ``home``: also report that home's scheduler board; ``more``: further collectors."""
    from prometheus_client import CollectorRegistry, start_http_server

    prepare_multiprocess()
    _metrics()  # every series from 0, before the first sync
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposed(Path(home) if home is not None else None, more))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    bound_host, bound_port = server.server_address[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return f"http://{shown}:{bound_port}/metrics"
