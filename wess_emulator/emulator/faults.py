"""Thread-safe fault injection and latency control."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = (
    "server_busy",
    "http_503",
    "connection_reset",
    "slow",
    "invalid_sync_state",
    "soap_fault",
    "response_code",
    "graph_gone",
    "graph_throttle",
    "graph_unavailable",
    "graph_denied",
    "graph_timeout",
)
#: Faults answered by the Graph endpoint only (operation ``graph:<name>`` or ``graph:*``).
GRAPH_KINDS = ("graph_gone", "graph_throttle", "graph_unavailable", "graph_denied", "graph_timeout")
#: Faults applied to an operation's answer (inside it), not instead of it.
IN_ANSWER = ("invalid_sync_state", "response_code")


@dataclass
class Fault:
    kind: str
    operation: str | None = None  # None = any operation
    times: int | None = 1  # None = until cleared
    back_off_ms: int = 50  # server_busy
    delay: float = 0.5  # slow
    retry_after: int = 1  # http_503 Retry-After seconds (0 = no header)
    code: str = "ErrorInternalServerError"  # soap_fault / response_code: the ResponseCode
    text: str = "An internal server error occurred."  # soap_fault / response_code: the text
    #: response_code: keep the empty SyncState / IncludesLast...InRange elements Exchange
    #: sends in a Sync* error message (False: a message without them).
    sync_elements: bool = True
    #: response_code: which response message of the answer turns into the error.
    index: int = 0
    #: graph_*: only requests on this mailbox (an e-mail address; None: any mailbox).
    mailbox: str | None = None
    fired: int = field(default=0)

    def applies(self, operation: str | None, kind: str | None) -> bool:
        if kind is not None and self.kind != kind:
            return False
        if self.operation == "graph:*":
            return (operation or "").startswith("graph:")
        return self.operation is None or self.operation == operation


class Faults:
    """Queue of injected faults, consumed in injection order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.latency: dict[str | None, float] = {}

    def inject(self, kind: str, operation: str | None = None, times: int | None = 1, **kw) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"Unknown fault kind {kind!r}; expected one of {KINDS}")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 or None")
        fault = Fault(kind=kind, operation=operation, times=times, **kw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.latency.clear()

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, operation: str | None, kind: str | None = None) -> Fault | None:
        """Consume and return the first fault for ``operation`` (optionally of ``kind``)."""
        return self._take(lambda fault: fault.applies(operation, kind))

    def take_transport(self, operation: str | None) -> Fault | None:
        """Like take(), but skips faults applied inside answers (``IN_ANSWER``)."""
        return self._take(
            lambda fault: (
                fault.kind not in IN_ANSWER
                and fault.kind not in GRAPH_KINDS
                and fault.applies(operation, None)
            )
        )

    def take_graph(self, operation: str, mailbox: str | None) -> Fault | None:
        """The first Graph fault (``GRAPH_KINDS``) for ``operation`` on ``mailbox``."""

        def wanted(fault: Fault) -> bool:
            if fault.kind not in GRAPH_KINDS or not fault.applies(operation, None):
                return False
            return fault.mailbox is None or fault.mailbox.lower() == (mailbox or "").lower()

        return self._take(wanted)

    def _take(self, wanted: Callable[[Fault], bool]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if wanted(fault):
                    fault.fired += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        with self._lock:
            if seconds:
                self.latency[operation] = float(seconds)
            else:
                self.latency.pop(operation, None)

    def latency_for(self, operation: str | None) -> float:
        with self._lock:
            return self.latency.get(operation, self.latency.get(None, 0.0))
