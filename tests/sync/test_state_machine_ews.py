"""The state machines over the EWS transport and the emulator (real HTTPS, real
exchangelib, schema-checked), not only the in-memory fakes: fewer examples, the same
weather and invariant (``tests/support/sync_machines.py``); the same machines run over
Graph in ``test_state_machine_graph.py``.

A person's Outlook edits go through the transport too (creates carry no CRM id); the
item-only ``categories`` edit plays as a new changekey without new content.
"""

from __future__ import annotations

import pytest

from tests.support.sync_machines import CONTACTS, MEETINGS, TASKS, _settings
from tests.support.sync_world import Draws
from tests.support.transport_machines import (
    FaultyEws,
    emulator_fixture,
    transport_machine_for,
)

pytestmark = pytest.mark.slow

EwsContactsMachine = transport_machine_for(CONTACTS, FaultyEws, "Ews")
EwsContactsMachine.TestCase.settings = _settings(12, 15)
TestEwsContactsConverge = EwsContactsMachine.TestCase

EwsMeetingsMachine = transport_machine_for(MEETINGS, FaultyEws, "Ews")
EwsMeetingsMachine.TestCase.settings = _settings(8, 12)
TestEwsMeetingsConverge = EwsMeetingsMachine.TestCase

EwsTasksMachine = transport_machine_for(TASKS, FaultyEws, "Ews")
EwsTasksMachine.TestCase.settings = _settings(8, 12)
TestEwsTasksConverge = EwsTasksMachine.TestCase

MACHINES = (EwsContactsMachine, EwsMeetingsMachine, EwsTasksMachine)


emulator = emulator_fixture(MACHINES)


# -- failures found over EWS, pinned as their steps (see test_state_machine_regressions) ----


def test_a_crm_task_without_status_converges_over_ews() -> None:
    """Exchange gives every task a status ("not started"); the CRM task had none."""
    state = EwsTasksMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.both_create()
    state.teardown()


def test_a_task_completed_in_the_crm_converges_over_ews() -> None:
    """exchangelib makes a completed task 100 % done; the CRM record said nothing."""
    state = EwsTasksMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.crm_create(title=None)
    state.both_create()
    state.crm_edit(Draws("1", "b"), field="status")  # 'completed'
    state.teardown()


def test_sync_state_refused_mid_listing_over_ews() -> None:
    state = EwsTasksMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.both_create()
    state.both_create()
    state.sync(fault=None)
    state.invalidate_sync_state()
    state.teardown()


def test_a_task_begun_in_the_crm_converges_over_ews() -> None:
    """exchangelib resets a "not started" task's percent to 0; the CRM said 10 %."""
    state = EwsTasksMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.crm_create(title=None)
    state.both_create()
    state.crm_edit(Draws("1", "a"), field="percent_complete")  # 10 %
    state.teardown()


def test_a_task_completed_in_outlook_converges_over_ews() -> None:
    """Completed in Outlook at 0 %: the CRM gets a completed task, 100 % done."""
    state = EwsTasksMachine()
    state.setup(policy="exchange-wins", page_size=1, batch=1)
    state.both_create()
    state.both_create()
    state.mailbox_edit(Draws(sorted(state.w.items())[0], "b"), field="status")  # Completed
    state.teardown()


def test_a_single_meeting_given_deleted_occurrences_converges_over_ews() -> None:
    """Exchange holds no exceptions on a one-off meeting; the CRM record named one."""
    state = EwsMeetingsMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.crm_create(title="c")  # a one-off meeting
    state.both_create()
    state.crm_edit(Draws("1", "a"), field="deleted_occurrences")
    state.teardown()


def test_an_occurrence_deleted_in_outlook_before_the_first_sync_converges() -> None:
    """Matched on the first sync, the CRM wins: the deleted occurrence cannot come back,
    so the transport says Exchange differs and the CRM takes the deletion."""
    state = EwsMeetingsMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.both_create()
    state.both_create()
    first = sorted(state.w.items())[0]
    state.mailbox_edit(Draws(first, "a"), field="deleted_occurrences")
    state.teardown()
