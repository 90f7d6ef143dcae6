"""The state machines over the Graph transport and the emulator's Graph endpoint (real
HTTPS, the OAuth app's tokens, immutable ids, ``$batch`` writes, delta rounds in pages
of one to four): the same weather and invariant as over the fakes and over EWS
(``tests/support/sync_machines.py``, ``test_state_machine_ews.py``).

A person's edits go through the Graph transport too; a lost sync state is the
emulator's: every delta token issued so far answers 410 ``syncStateNotFound``.
"""

from __future__ import annotations

import pytest

from tests.support.sync_machines import CONTACTS, TASKS, _settings, upcoming_meetings
from tests.support.transport_machines import (
    FaultyGraph,
    emulator_fixture,
    transport_machine_for,
)

pytestmark = pytest.mark.slow

GraphContactsMachine = transport_machine_for(CONTACTS, FaultyGraph, "Graph")
GraphContactsMachine.TestCase.settings = _settings(25, 15)
TestGraphContactsConverge = GraphContactsMachine.TestCase

GraphMeetingsMachine = transport_machine_for(upcoming_meetings(), FaultyGraph, "Graph")
GraphMeetingsMachine.TestCase.settings = _settings(12, 12)
TestGraphMeetingsConverge = GraphMeetingsMachine.TestCase

GraphTasksMachine = transport_machine_for(TASKS, FaultyGraph, "Graph")
GraphTasksMachine.TestCase.settings = _settings(15, 12)
TestGraphTasksConverge = GraphTasksMachine.TestCase

MACHINES = (GraphContactsMachine, GraphMeetingsMachine, GraphTasksMachine)


emulator = emulator_fixture(MACHINES)


# -- failures found over Graph, pinned as their steps (see test_state_machine_regressions) --


def test_a_meeting_made_on_both_sides_after_a_first_sync_is_linked_once() -> None:
    state = GraphMeetingsMachine()
    state.setup(policy="crm-wins", page_size=1, batch=1)
    state.sync(fault=None)
    state.both_create()
    state.teardown()
