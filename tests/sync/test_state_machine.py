"""Random edits on both sides, random syncs, kills and faults; then convergence.

The invariant (checked after two clean syncs at the end of every run): both sides hold
the same things, each linked once, with equal contents; every thing never deleted by
a person exists exactly once on each side (nothing lost, nothing duplicated).

One machine per item type (``tests/support/sync_machines.py``): contacts over the
in-memory fakes and over the local CRM with the state in a store file, recurring
meetings with exceptions, and tasks. ``test_state_machine_ews.py`` and
``test_state_machine_graph.py`` run the same machines over each transport and the
emulator. Pinned failures: ``test_state_machine_regressions.py``.
"""

from __future__ import annotations

from tests.support.sync_machines import (
    LocalSyncMachine,
    MeetingSyncMachine,
    SyncMachine,
    TaskSyncMachine,
)

TestSyncConverges = SyncMachine.TestCase
TestLocalSyncConverges = LocalSyncMachine.TestCase
TestMeetingsConverge = MeetingSyncMachine.TestCase
TestTasksConverge = TaskSyncMachine.TestCase
