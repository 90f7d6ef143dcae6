"""The calendar's window and its sync tokens.

``calendarView/delta`` only sees instances inside a window fixed when its round began
(Graph freezes it into the token). The window runs from ``BACK_DAYS`` before the day the
round began to ``AHEAD_DAYS`` after it, and moves forward (a new round, whose first
answer lists the new window) once it is more than ``RENEW_DAYS`` old; what only leaves
the window is never a delete.

The stored token is the whole deltaLink (or nextLink, mid-round) with the window as its
URL fragment, ``#wess-window=<start>,<end>``: a fragment is never sent, and the link
stays what Graph gave. A full listing (no token) is a different token, ``wess-listing:``
plus JSON naming the ``/events`` page to read next and the deltaLink to keep after it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from wess_core.strategies import InvalidSyncState

BACK_DAYS = 90
AHEAD_DAYS = 365
RENEW_DAYS = 7
_FRAGMENT = "#wess-window="
_LISTING = "wess-listing:"


def _text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def around(cls, now: dt.datetime | None = None) -> Window:
        """The window of a round beginning ``now`` (whole UTC days)."""
        today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(
            midnight - dt.timedelta(days=BACK_DAYS), midnight + dt.timedelta(days=AHEAD_DAYS)
        )

    def params(self) -> dict[str, str]:
        return {"startDateTime": _text(self.start), "endDateTime": _text(self.end)}

    def stale(self, now: dt.datetime | None = None) -> bool:
        """Whether a new round should move the window forward."""
        began = self.start + dt.timedelta(days=BACK_DAYS)
        return (now or dt.datetime.now(dt.UTC)) - began > dt.timedelta(days=RENEW_DAYS)

    def tag(self, link: str) -> str:
        return f"{link}{_FRAGMENT}{_text(self.start)},{_text(self.end)}"


def split(token: str) -> tuple[str, Window]:
    """A stored link token -> (the link as Graph gave it, its window)."""
    link, found, window = token.partition(_FRAGMENT)
    try:
        start, end = window.split(",")
        return link, Window(_parse(start), _parse(end))
    except ValueError:
        raise InvalidSyncState(
            "the calendar sync token names no window; the calendar is read again in full",
            code="MalformedToken",
        ) from None


def is_delta(link: str) -> bool:
    """A deltaLink (a round done) rather than a nextLink."""
    return "deltatoken=" in link.lower()


def listing_token(next_page: str, delta_token: str) -> str:
    return _LISTING + json.dumps({"next": next_page, "delta": delta_token})


def parse_listing(token: str) -> tuple[str, str] | None:
    """``(next /events page, deltaLink token)`` of a listing token; None for others."""
    if not token.startswith(_LISTING):
        return None
    try:
        doc = json.loads(token[len(_LISTING) :])
        return str(doc["next"]), str(doc["delta"])
    except (ValueError, KeyError, TypeError):
        raise InvalidSyncState(
            "the calendar listing token is unreadable; the calendar is read again in full",
            code="MalformedToken",
        ) from None
