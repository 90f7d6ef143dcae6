"""Login throttling: after too many failed log-ins for one login or from one client
address, further attempts are refused for a while, whatever the password."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most ``failures`` failed attempts per key within ``window`` seconds."""

    failures: int
    window: float


class Throttle:
    """Failed attempts per key (a login, a client address) in a sliding window.

    Memory is bounded: at most ``max_keys`` keys are tracked (the least recently failed
    are forgotten first), each with at most ``limit.failures`` timestamps.
    """

    def __init__(self, limit: Limit, max_keys: int = 10_000, clock=time.monotonic) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._clock = clock
        self._failed: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        with self._lock:
            times = self._recent(key)
            if times is None or len(times) < self.limit.failures:
                return 0.0
            return max(0.0, times[0] + self.limit.window - self._clock())

    def failed(self, key: str) -> None:
        with self._lock:
            times = self._recent(key)
            if times is None:
                times = self._failed[key] = deque(maxlen=self.limit.failures)
                while len(self._failed) > self.max_keys:
                    self._failed.popitem(last=False)
            times.append(self._clock())
            self._failed.move_to_end(key)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failed.pop(key, None)

    def __len__(self) -> int:
        return len(self._failed)

    def _recent(self, key: str) -> deque[float] | None:
        times = self._failed.get(key)
        if times is None:
            return None
        horizon = self._clock() - self.limit.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failed[key]
            return None
        return times
