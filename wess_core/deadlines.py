"""Deadlines and size caps for every HTTP request WESS makes (EWS, Autodiscover, OAuth).

One server must not stall the service. exchangelib's timeout applies to each socket
read, so a server that trickles one byte every few seconds keeps a request alive
forever, and a scheduler thread with it. Here every request gets an overall deadline
and its answer a size cap, enforced where all requests pass: the HTTP adapter of
``wess_core.http``, which calls :func:`arm` before sending and :func:`disarm` once the
whole body is read.

* **The deadline** is the sooner of the request deadline (``request_deadline_seconds``)
  and the end of the user's run (``run_deadline_seconds``), both taken from the
  :func:`scope` the service layer opened for the operation. A background thread (one
  per process, waking a few times a second) shuts down the socket of every request
  past its deadline, so a blocked read returns at once, whatever the server does.
* **The size cap** (``max_response_mib``) is checked while the adapter reads the body
  in chunks: an endless answer costs the cap, not the answer, in memory.
* **Stopping** (:func:`abort_all`, SIGTERM on ``wess run``) cuts every request in flight
  the same way and refuses new ones, so running syncs end within a second or so.

A cut request fails as a connection failure would (a ``requests.ConnectionError``), so
exchangelib and the sync engine treat it like a server that went away: the batch in
flight is not committed, the rest of the run goes on or fails cleanly. The exception
is a :class:`RequestCut` (a ``WessError`` too) with one readable line; :func:`cut_in`
finds it again under the exceptions exchangelib wraps it in.
"""

from __future__ import annotations

import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from wess_core.account_settings import setting_of
from wess_core.errors import WessError, find_cause

__all__ = [
    "DEFAULT_MAX_RESPONSE_MIB",
    "DEFAULT_REQUEST_SECONDS",
    "DEFAULT_RUN_SECONDS",
    "DeadlineExceeded",
    "Limits",
    "RequestCut",
    "ResponseTooLarge",
    "RunDeadlineExceeded",
    "Stopped",
    "abort_all",
    "account_scope",
    "arm",
    "pause",
    "attach",
    "current",
    "cut_in",
    "disarm",
    "reset",
    "scope",
    "stopping",
    "too_large",
]

#: Defaults of the account settings (``wess config set``; ``account_settings.SETTINGS``
#: repeats them without importing requests, a test checks they agree), and the limits
#: outside any scope.
DEFAULT_REQUEST_SECONDS = 120
DEFAULT_RUN_SECONDS = 900
DEFAULT_MAX_RESPONSE_MIB = 64
MIB = 1024 * 1024

#: How often the watchdog looks at the requests in flight (the deadline's precision).
TICK_SECONDS = 0.2


class RequestCut(requests.exceptions.ConnectionError, WessError):
    """A request WESS cut short: past its deadline, too large an answer, or stopping.

    A ``requests.ConnectionError``, so exchangelib handles it as a connection failure
    (no retry storm, no traceback in its error log); ``str()`` is the one line to show.
    ``run_level``: the whole run is over (its deadline passed, or the service is
    stopping), so trying again within it is pointless.
    """

    run_level = False


class DeadlineExceeded(RequestCut):
    """The server did not answer completely within the deadline."""


class ResponseTooLarge(RequestCut):
    """The answer was larger than ``max_response_mib``."""


class Stopped(RequestCut):
    """The service is stopping (SIGTERM / Ctrl-C): requests in flight are cut."""

    run_level = True


class RunDeadlineExceeded(DeadlineExceeded):
    """The user's run went past ``run_deadline_seconds``."""

    run_level = True


@dataclass
class Limits:
    """The limits in force for one operation (a sync run, a connection test).

    ``run_end`` is a ``time.monotonic()`` instant or None; ``cut`` remembers the first
    request cut in this scope (the reason the run's history entry gives).
    """

    request_seconds: float = DEFAULT_REQUEST_SECONDS
    max_bytes: int = DEFAULT_MAX_RESPONSE_MIB * MIB
    run_seconds: float | None = None
    run_end: float | None = None
    cut: RequestCut | None = field(default=None, repr=False)
    #: Set → every request of this scope is cut as by a stop (a background stream's own
    #: stop, e.g. ``wess run --push`` stopping: its long reads end within a tick).
    cancel: threading.Event | None = field(default=None, repr=False)


_DEFAULT = Limits()
_limits: contextvars.ContextVar[Limits] = contextvars.ContextVar("wess_limits", default=_DEFAULT)


def current() -> Limits:
    """The limits of the operation running in this thread (defaults outside any scope)."""
    return _limits.get()


@contextlib.contextmanager
def scope(
    request_seconds: float | None = None,
    max_response_mib: float | None = None,
    run_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Limits]:
    """Apply these limits to every request made in this thread (or task) inside the block.
    ``cancel``: once set, the scope's requests in flight are cut and new ones refused."""
    limits = Limits(
        request_seconds=float(request_seconds or DEFAULT_REQUEST_SECONDS),
        max_bytes=int((max_response_mib or DEFAULT_MAX_RESPONSE_MIB) * MIB),
        run_seconds=run_seconds,
        run_end=time.monotonic() + run_seconds if run_seconds else None,
        cancel=cancel,
    )
    token = _limits.set(limits)
    try:
        yield limits
    finally:
        _limits.reset(token)


def account_scope(account: Any, *, run: bool = False) -> contextlib.AbstractContextManager[Limits]:
    """:func:`scope` with the account's settings (``run``: with its run deadline too)."""
    return scope(
        setting_of(account, "request_deadline_seconds"),
        setting_of(account, "max_response_mib"),
        setting_of(account, "run_deadline_seconds") if run else None,
    )


# -- requests in flight -------------------------------------------------------------


class Flight:
    """One request in flight: its deadline, its connection (once it has one), why it
    was cut (once it is)."""

    __slots__ = ("deadline", "host", "limits", "by_run", "conn", "cut")

    def __init__(self, deadline: float, host: str, limits: Limits, by_run: bool) -> None:
        self.deadline = deadline
        self.host = host
        self.limits = limits
        self.by_run = by_run
        self.conn: Any = None
        self.cut: RequestCut | None = None

    def error(self, cut: RequestCut | None = None) -> RequestCut:
        """The error to raise for this request, remembered on its scope."""
        return _noted(self.limits, cut or self.cut or self._expired())

    def _expired(self) -> RequestCut:
        if self.by_run:
            return _run_over(self.limits)
        return DeadlineExceeded(
            f"Exchange at {self.host} did not answer within {self.limits.request_seconds:g} s "
            "(request_deadline_seconds)"
        )


def _run_over(limits: Limits) -> RunDeadlineExceeded:
    return RunDeadlineExceeded(
        f"the run went past its deadline of {limits.run_seconds:g} s (run_deadline_seconds)"
    )


_flights: dict[int, Flight] = {}
_flights_lock = threading.Lock()
_watchdog: threading.Thread | None = None
_stopping: str | None = None
_stop_event = threading.Event()
_local = threading.local()


def arm(host: str) -> Flight:
    """Register a request about to be sent in this thread; raise at once when its run is
    over or the service is stopping. The caller must :func:`disarm` it."""
    limits = _limits.get()
    now = time.monotonic()
    deadline = now + limits.request_seconds
    by_run = limits.run_end is not None and limits.run_end < deadline
    if by_run:
        deadline = limits.run_end  # type: ignore[assignment]
    flight = Flight(deadline, host, limits, by_run)
    if _stopping is not None:
        raise flight.error(Stopped(_stopping))
    if limits.cancel is not None and limits.cancel.is_set():
        raise flight.error(Stopped("stopped"))
    pending = getattr(_local, "pending", None)
    if pending is not None:  # see pause()
        _local.pending = None
        raise flight.error(pending)
    if deadline <= now:
        raise flight.error()
    with _flights_lock:
        _flights[id(flight)] = flight
        if _watchdog is None:
            _start_watchdog()
    _local.flight = flight
    return flight


def disarm(flight: Flight) -> None:
    """The request is over (answered, failed or cut)."""
    _local.flight = None
    with _flights_lock:
        _flights.pop(id(flight), None)


def attach(conn: Any) -> None:
    """The connection this thread's request goes over (called by the pool as it hands
    one out); a request already cut gets none."""
    flight = getattr(_local, "flight", None)
    if flight is not None:
        if flight.cut is not None:
            raise Refused()
        flight.conn = conn


class Refused(Exception):
    """A cut request asked for another connection (a retry); not an ``OSError``, so
    urllib3 does not retry it again."""


def time_left(flight: Flight) -> float:
    return max(0.001, flight.deadline - time.monotonic())


def abort_all(reason: str = "stopped: the service is shutting down") -> None:
    """Cut every request in flight and refuse new ones (SIGTERM). Safe in a signal
    handler: it sets a flag (the watchdog cuts within ``TICK_SECONDS``) and wakes the
    threads waiting out a back-off (:func:`pause`; the main thread never waits there)."""
    global _stopping
    _stopping = reason
    _stop_event.set()


def reset() -> None:
    """Accept requests again after :func:`abort_all` (a worker process's next pass)."""
    global _stopping
    _stopping = None
    _stop_event.clear()


def pause(seconds: float) -> None:
    """Wait ``seconds`` (a server's back-off) before this thread's next request, unless
    the service stops meanwhile or the wait would end past the run's deadline (then not
    at all: waiting could not help); the metrics count the wait (``wess_throttle_*``).
    Never raises: the next request fails in :func:`arm` instead (where exchangelib
    expects failures and hands its session back)."""
    if seconds <= 0:
        return
    from wess_core.service import metrics

    limits = _limits.get()
    if limits.run_end is not None and time.monotonic() + seconds >= limits.run_end:
        _local.pending = RunDeadlineExceeded(
            f"Exchange asked to back off {seconds:.0f} s, past the run's deadline of "
            f"{limits.run_seconds:g} s (run_deadline_seconds)"
        )
        metrics.backoff_refused()
        return
    began = time.monotonic()
    try:
        _stop_event.wait(seconds)
    finally:
        metrics.backoff_waited(time.monotonic() - began)


def _noted(limits: Limits, cut: RequestCut) -> RequestCut:
    if limits.cut is None and limits is not _DEFAULT:
        limits.cut = cut
    return cut


def stopping() -> bool:
    return _stopping is not None


def _start_watchdog() -> None:
    global _watchdog
    _watchdog = threading.Thread(target=_watch, name="wess-deadlines", daemon=True)
    _watchdog.start()


def _watch() -> None:
    while True:
        time.sleep(TICK_SECONDS)
        if _flights:
            with contextlib.suppress(Exception):  # the watchdog must outlive any surprise
                _cut_due()


def _cut_due() -> None:
    now = time.monotonic()
    with _flights_lock:
        due = [f for f in _flights.values() if f.cut is not None or f.deadline <= now]
        cancelled = [f for f in _flights.values() if f.limits.cancel and f.limits.cancel.is_set()]
        if _stopping is not None:
            due = list(_flights.values())
        for flight in due + cancelled:
            if flight.cut is None:
                if _stopping is not None or flight in cancelled:
                    flight.cut = Stopped(_stopping or "stopped")
                else:
                    flight.cut = flight._expired()
            _shut(flight.conn)


def _shut(conn: Any) -> None:
    """Shut the connection's socket down (both ways): a read blocked on it returns now.

    ``socket.socket.shutdown`` on the object itself (a TLS socket too, without its TLS
    close-notify, which could block): no file descriptor that might be reused meanwhile.
    """
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError, ValueError, TypeError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def too_large(flight: Flight) -> ResponseTooLarge:
    """The error for an answer over the scope's cap, remembered on its scope."""
    return flight.error(  # type: ignore[return-value]
        ResponseTooLarge(
            f"Exchange at {flight.host} sent an answer larger than "
            f"{flight.limits.max_bytes / MIB:g} MiB (max_response_mib)"
        )
    )


def cut_in(exc: BaseException | None) -> RequestCut | None:
    """The :class:`RequestCut` behind ``exc`` (exchangelib re-raises connection failures
    as its own errors), if any."""
    return find_cause(exc, RequestCut)  # type: ignore[return-value]
