"""The transport contract every mailbox transport passes (``wess_core.sync.contract``),
run against the Graph transport on the emulator's Graph endpoint: contacts, To Do
tasks and meetings."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support import CLIENT_SECRET
from tests.support.graph_sync import graph_transport
from wess_core.sync.contract import TransportContract


class TestGraphContacts(TransportContract):
    @pytest.fixture
    def mailbox(self, emu):
        return graph_transport(emu, "alice@example.com", CLIENT_SECRET)


class TestGraphTasks(TransportContract):
    folder = "tasks"
    edit_field, kept_field, extra_field = "subject", "due_date", "body"

    def sample_item(self, n):
        return {"subject": f"Task {n}", "status": "NotStarted", "due_date": "2024-06-01"}

    @pytest.fixture
    def mailbox(self, emu):
        return graph_transport(emu, "alice@example.com", CLIENT_SECRET)


class TestGraphContactsInSmallPages(TransportContract):
    """Seven items a page: every listing follows nextLinks to its deltaLink."""

    @pytest.fixture
    def mailbox(self, emu):
        return graph_transport(emu, "alice@example.com", CLIENT_SECRET, page_size=7)


class TestGraphCalendar(TransportContract):
    """Single meetings (a day ahead, inside the calendar window)."""

    folder = "calendar"
    edit_field, kept_field, extra_field = "subject", "location", "body"

    def sample_item(self, n):
        day = (dt.date.today() + dt.timedelta(days=1 + n)).isoformat()
        return {
            "subject": f"Meeting {n}",
            "location": "Room 1",
            "start": f"{day}T09:00:00+00:00",
            "end": f"{day}T10:00:00+00:00",
        }

    @pytest.fixture
    def mailbox(self, emu):
        return graph_transport(emu, "alice@example.com", CLIENT_SECRET)
