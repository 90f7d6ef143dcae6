"""The Graph calendar's rules that need no server: the window kept with the token and
when it moves, a series' exceptions and cancelled occurrences read from its instances,
and its version."""

from __future__ import annotations

import datetime as dt

import pytest

from wess_core.strategies import InvalidSyncState
from wess_plugins.transport_graph.calendar_fields import event_from_fields
from wess_plugins.transport_graph.calendar_series import occurrences_of, series_changekey
from wess_plugins.transport_graph.calendar_window import (
    Window,
    is_delta,
    listing_token,
    parse_listing,
    split,
)
from wess_plugins.transport_graph.calendar_writes import canonical, if_match, series_key

LINK = "https://graph.microsoft.com/v1.0/users/a@b.com/calendarView/delta?$deltatoken=x"
NOW = dt.datetime(2026, 12, 5, 15, 30, tzinfo=dt.UTC)


def test_the_window_runs_from_90_days_back_to_a_year_ahead_and_rides_on_the_link():
    window = Window.around(NOW)
    assert window.params() == {
        "startDateTime": "2026-09-06T00:00:00Z",
        "endDateTime": "2027-12-05T00:00:00Z",
    }
    token = window.tag(LINK)
    assert token.startswith(LINK + "#")  # a fragment: never sent to the server
    assert split(token) == (LINK, window)
    assert is_delta(LINK) and not is_delta(LINK.replace("deltatoken", "skiptoken"))


def test_the_window_moves_after_a_week():
    window = Window.around(NOW)
    assert not window.stale(dt.datetime(2026, 12, 12, 0, 0, tzinfo=dt.UTC))
    assert window.stale(dt.datetime(2026, 12, 12, 0, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize("token", [LINK, LINK + "#wess-window=junk", "wess-listing:{"])
def test_a_token_without_a_readable_window_is_a_lost_token(token):
    with pytest.raises(InvalidSyncState):
        parse_listing(token) or split(token)


def test_a_listing_token_names_the_next_page_and_the_delta_link_to_keep():
    token = listing_token("https://x/v1.0/users/a/events?$skip=200", Window.around(NOW).tag(LINK))
    assert parse_listing(token) == (
        "https://x/v1.0/users/a/events?$skip=200",
        Window.around(NOW).tag(LINK),
    )
    assert parse_listing(LINK) is None


SERIES = {
    "subject": "Standup",
    "body": None,
    "location": None,
    "start": "2026-10-19T09:00:00+01:00",
    "end": "2026-10-19T09:30:00+01:00",
    "is_all_day": False,
    "timezone": "Europe/London",
    "recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday"]},
        "boundary": {"type": "numbered", "start": "2026-10-19", "number": 4},
    },
}
SPAN = ("2026-10-18T00:00:00Z", "2027-01-01T00:00:00Z")


def _instance(original_utc: str, **changes) -> dict:
    event = event_from_fields({**SERIES, **changes})
    event.update(originalStart=original_utc, type="exception" if changes else "occurrence")
    return event


def test_slots_without_an_instance_are_cancelled_across_a_dst_change():
    # 19 Oct (BST), 26 Oct cancelled (GMT from the 25th), 2 Nov moved, 9 Nov
    instances = [
        _instance("2026-10-19T08:00:00Z", start="2026-10-19T09:00:00+01:00"),
        _instance(
            "2026-11-02T09:00:00Z",
            start="2026-11-02T11:00:00+00:00",
            end="2026-11-02T11:30:00+00:00",
        ),
        _instance("2026-11-09T09:00:00Z", start="2026-11-09T09:00:00+00:00"),
    ]
    instances[0]["type"] = instances[2]["type"] = "occurrence"
    fields = occurrences_of(dict(SERIES), instances, SPAN)
    assert fields["deleted_occurrences"] == ["2026-10-26T09:00:00+00:00"]
    assert fields["modified_occurrences"] == [
        {
            "original_start": "2026-11-02T09:00:00+00:00",
            "start": "2026-11-02T11:00:00+00:00",
            "end": "2026-11-02T11:30:00+00:00",
        }
    ]


def test_a_series_version_changes_with_its_exceptions_not_only_its_change_key():
    master = {"changeKey": "CK1"}
    plain = occurrences_of(dict(SERIES), [], SPAN)
    one = series_changekey(master, plain)
    assert one.startswith("CK1|") and if_match(one) == 'W/"CK1"'
    fewer = occurrences_of(dict(SERIES), [_instance("2026-10-19T08:00:00Z")], SPAN)
    assert series_changekey(master, fewer) != one


def test_an_exception_equal_to_its_slot_is_none_and_a_moved_one_is_compared_as_instants():
    same = {"original_start": "2026-10-26T09:00:00+00:00"}
    assert canonical(SERIES, same) is None
    moved = {
        "original_start": "2026-10-26T09:00:00+00:00",
        "start": "2026-10-26T10:00:00Z",
        "end": "2026-10-26T10:30:00Z",
    }
    other_spelling = {**moved, "start": "2026-10-26T10:00:00+00:00"}
    assert canonical(SERIES, moved) == canonical(SERIES, other_spelling) is not None


def test_what_drops_a_series_exceptions():
    assert series_key(SERIES) == series_key({**SERIES, "subject": "renamed"})
    assert series_key(SERIES) == series_key({**SERIES, "start": "2026-10-19T08:00:00Z"})
    assert series_key(SERIES) != series_key({**SERIES, "end": "2026-10-19T09:45:00+01:00"})
