"""Throttling per Exchange server: one shared back-off, and batches that shrink while busy.

Exchange throttles per server and per account (EWS throttling policies). Every
user's connection to the same server shares one ``ServerThrottle``: when the server
answers ErrorServerBusy with a back-off, exchangelib waits that long for *every*
user of that server (its ``FaultTolerance`` keeps the back-off on the policy object,
which is shared here), and the batch size halves, growing back step by step once
requests go through again.
"""

from __future__ import annotations

import datetime
import threading
import time
from urllib.parse import urlsplit

from exchangelib.errors import ErrorTimeoutExpired, UnauthorizedError
from exchangelib.protocol import FaultTolerance

from wess_core import deadlines

MAX_BATCH = 100
MIN_BATCH = 10
GROW_STEP = 10
MAX_WAIT_SECONDS = 120


class SyncRetryPolicy(FaultTolerance):
    """``FaultTolerance`` that waits out throttling but reports a refused login at once.

    exchangelib's ``FaultTolerance`` treats HTTP 401 as throttling and retries it until
    ``max_wait``; for a sync that would hide a changed password for minutes. The
    server's own back-off requests are still honoured, and noted on the throttle.
    """

    def __init__(self, throttle: ServerThrottle, max_wait: int = MAX_WAIT_SECONDS) -> None:
        super().__init__(max_wait=max_wait)
        self._throttle = throttle
        self._answered = threading.local()

    @property
    def back_off_until(self):  # exchangelib reads this right before every POST
        """Wait out the server's back-off here rather than in exchangelib's plain sleep,
        so SIGTERM ends the wait and a back-off past the run's deadline ends the run."""
        self._answered.value = False
        until = super().back_off_until
        if until is not None:
            deadlines.pause((until - datetime.datetime.now()).total_seconds())
        return None

    @back_off_until.setter
    def back_off_until(self, value):
        FaultTolerance.back_off_until.fset(self, value)

    def raise_response_errors(self, response):  # exchangelib's hook: a response came back
        self._answered.value = True
        if response.status_code == 401:
            raise UnauthorizedError(f"Invalid credentials for {response.url}")
        return super().raise_response_errors(response)

    def back_off(self, seconds):  # exchangelib's hook
        if not getattr(self._answered, "value", True):
            # No HTTP answer at all (refused, reset, timed out): the server is down or the
            # URL is stale. Waiting minutes would only stall the scheduler; the next run
            # (or a fresh discovery) tries again.
            raise ErrorTimeoutExpired("no response from the server: connection failed or timed out")
        self._throttle.note_busy(seconds)
        return super().back_off(seconds)


class ServerThrottle:
    """The shared state of one Exchange server (URL host)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.policy = SyncRetryPolicy(self)
        self._lock = threading.Lock()
        self._batch = MAX_BATCH
        self.busy_count = 0
        self.last_busy: float | None = None

    @property
    def batch(self) -> int:
        return self._batch

    def note_busy(self, seconds: float | None) -> None:
        with self._lock:
            self.busy_count += 1
            self.last_busy = time.monotonic()
            self._batch = max(MIN_BATCH, self._batch // 2)

    def note_ok(self) -> None:
        with self._lock:
            if self._batch < MAX_BATCH:
                self._batch = min(MAX_BATCH, self._batch + GROW_STEP)

    def snapshot(self) -> dict[str, object]:
        until = FaultTolerance.back_off_until.fget(self.policy)  # without waiting
        return {
            "server": self.key,
            "batch": self._batch,
            "busy_count": self.busy_count,
            "backing_off_until": until.isoformat() if until else None,
        }


_throttles: dict[str, ServerThrottle] = {}
_guard = threading.Lock()


def server_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 443}"


def throttle_for(url: str) -> ServerThrottle:
    """The one throttle of the server behind ``url`` in this process."""
    key = server_key(url)
    with _guard:
        if key not in _throttles:
            _throttles[key] = ServerThrottle(key)
        return _throttles[key]


def all_throttles() -> list[ServerThrottle]:
    with _guard:
        return list(_throttles.values())
