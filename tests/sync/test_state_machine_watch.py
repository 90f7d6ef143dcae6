"""Pull subscriptions converge: random edits on both sides, subscription expiry, failed
polls and failed folders; the watched user ends where the unwatched one does, and an
idle watched user then costs one poll (``tests/support/watch_machine.py``)."""

from __future__ import annotations

from tests.support.watch_machine import WatchMachine

TestWatchedSyncConverges = WatchMachine.TestCase
