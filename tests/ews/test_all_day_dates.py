"""The zone an all-day event's dates are read in, from whatever Exchange calls it."""

from __future__ import annotations

import datetime as dt

import pytest

from wess_plugins.transport_ews.calendar_fields import all_day_date, zone_from_name


@pytest.mark.parametrize(
    ("name", "offset_in_december"),
    [
        ("Pacific Standard Time", -8),  # a Windows id
        ("Asia/Kolkata", 5.5),  # an IANA name, as Exchange sometimes sends
        ("(UTC-08:00) Pacific Time (US & Canada)", -8),  # legacy display names
        ("(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi", 5.5),
        ("(GMT+09:00) Osaka, Sapporo, Tokyo", 9),
        ("(UTC) Coordinated Universal Time", 0),
    ],
)
def test_zone_names_exchange_uses(name, offset_in_december):
    zone = zone_from_name(name)
    assert zone is not None
    when = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    assert when.astimezone(zone).utcoffset() == dt.timedelta(hours=offset_in_december)


@pytest.mark.parametrize("name", [None, "", "Customized Time Zone", "Mars/Olympus", "(UTC"])
def test_names_that_name_nothing_known(name):
    assert zone_from_name(name) is None


def test_a_local_midnight_rounds_to_its_day_even_with_the_standard_offset_in_summer():
    # 7 July in Los Angeles (PDT, UTC-7) starts at 07:00 UTC; read with the display
    # name's standard offset (UTC-8) that is 23:00 on the 6th: still the 7th.
    start = dt.datetime(2026, 7, 7, 7, tzinfo=dt.UTC)
    fixed = zone_from_name("(UTC-08:00) Pacific Time (US & Canada)")
    assert all_day_date(start, fixed) == dt.date(2026, 7, 7)
    end = dt.datetime(2026, 7, 9, 7, tzinfo=dt.UTC)  # the next midnight after the 8th
    assert all_day_date(end, fixed, end=True) == dt.date(2026, 7, 8)
