"""The shared contracts, run against the built-in implementations."""

from __future__ import annotations

import pytest

from wess_core.sync.contract import CrmBackendContract, TransportContract
from wess_core.sync.memory import MemoryCrm, MemoryMailbox
from wess_plugins.crm_local.local import LocalCrm


class TestMemoryCrm(CrmBackendContract):
    @pytest.fixture
    def crm(self):
        return MemoryCrm()


@pytest.mark.usefixtures("database")  # its tables in the home's file, or PostgreSQL
class TestLocalCrm(CrmBackendContract):
    @pytest.fixture
    def crm(self, tmp_path):
        return LocalCrm(tmp_path / "home", "main")


@pytest.mark.usefixtures("database")  # its tables in the home's file, or PostgreSQL
class TestLocalCrmMeetings(CrmBackendContract):
    record_type = "meetings"
    edit_field, removable_field, kept_field = "location", "email", "subject"

    def sample_record(self, n):
        return {"subject": f"Review {n}", "start": "2024-05-06T10:00:00+02:00", "email": "x@y"}

    @pytest.fixture
    def crm(self, tmp_path):
        return LocalCrm(tmp_path / "home", "other")


class TestMemoryMailbox(TransportContract):
    @pytest.fixture
    def mailbox(self):
        return MemoryMailbox()


class TestMemoryMailboxPagedWithoutContent(TransportContract):
    @pytest.fixture
    def mailbox(self):
        return MemoryMailbox(max_batch=4, page_size=3, inline=False)


class TestMemoryMailboxTasks(TransportContract):
    folder = "tasks"
    edit_field, kept_field, extra_field = "due_date", "subject", "body"

    def sample_item(self, n):
        return {"subject": f"Task {n}", "status": "NotStarted", "due_date": "2024-06-01"}

    @pytest.fixture
    def mailbox(self):
        return MemoryMailbox(page_size=7)
