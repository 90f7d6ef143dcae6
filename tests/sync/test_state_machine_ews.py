"""The state machines over the EWS transport and the emulator (real HTTPS, real
exchangelib, schema-checked), not only the in-memory fakes: fewer examples, the same
weather and invariant (``test_state_machine.py``).

A person's Outlook edits go through the transport too (creates carry no CRM id); the
item-only ``categories`` edit plays as a new changekey without new content.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import initialize

from tests.support.sync_world import Draws, World
from wess_core.strategies import ChangesPage, InvalidSyncState, ItemRef, ItemUpdate, NewItem
from wess_core.sync.memory import Faults, MemoryCrm, merge_fields
from wess_core.sync.plan import POLICIES
from wess_emulator.pytest_plugin import EWS_PASSWORD

from .test_state_machine import CONTACTS, MEETINGS, TASKS, Things, _settings, machine_for

pytestmark = pytest.mark.slow

_server: Any = None
_users = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def emulator(ews_ca: Any) -> Iterator[Any]:
    """One emulator for the module; every example gets a new user (a fresh mailbox)."""
    global _server
    from exchangelib.protocol import BaseProtocol, close_connections

    from wess_emulator.emulator import EmulatorServer
    from wess_emulator.tls import ca_bundle_adapter

    server = EmulatorServer(validate=True, ca=ews_ca).start()
    previous = BaseProtocol.HTTP_ADAPTER_CLS
    BaseProtocol.HTTP_ADAPTER_CLS = ca_bundle_adapter(server.ca_cert)
    _server = server
    try:
        yield server
    finally:
        _server = None
        close_connections()
        BaseProtocol.HTTP_ADAPTER_CLS = previous
        server.stop()
    assert not server.schema_errors, "EWS schema violations:\n" + "\n".join(server.schema_errors)
    assert not server.errors, "EWS emulator errors:\n" + "\n".join(server.errors)


class FaultyEws:
    """An ``EwsTransport`` with the fakes' fault rules, and a person using Outlook."""

    def __init__(self, server: Any, page_size: int) -> None:
        from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials

        from wess_plugins.transport_ews.transport import EwsTransport

        self.server = server
        self.email = f"user{next(_users)}@example.com"
        self.store = server.add_user(self.email, EWS_PASSWORD)
        config = Configuration(
            service_endpoint=server.ews_url,
            auth_type=BASIC,
            credentials=Credentials(self.email, EWS_PASSWORD),
        )
        self.account = Account(self.email, config=config, autodiscover=False, access_type=DELEGATE)
        self.real = EwsTransport(connection=None, account=self.account, page_size=page_size)
        self.faults = Faults()
        self._epoch = 0  # sync states carry it: older ones are refused

    @property
    def calls(self) -> Any:
        return self.faults.calls

    @property
    def max_batch(self) -> int:
        return self.real.max_batch

    def close(self) -> None:
        self.account.protocol.close()

    # -- Transport, under the fault rules ------------------------------------------------

    def changes(self, folder: str, token: str | None) -> Any:
        self.faults.enter("changes")
        if token is not None:
            epoch, _, token = token.partition("|")
            if epoch != str(self._epoch):
                raise InvalidSyncState("sync state refused (injected)")
        page = self.real.changes(folder, token)
        answer = ChangesPage(page.changes, f"{self._epoch}|{page.token}", page.done)
        self.faults.leave("changes")
        return answer

    def _bulk(self, method: str, folder: str, inputs: Sequence[Any]) -> list[Any]:
        self.faults.enter(method)
        errors = [self.faults.item_error(method, value) for value in inputs]
        todo = [value for value, err in zip(inputs, errors, strict=True) if err is None]
        done = iter(getattr(self.real, method)(folder, todo) if todo else [])
        answer = [err if err is not None else next(done) for err in errors]
        self.faults.leave(method)
        return answer

    def get(self, folder: str, ids: Sequence[str]) -> list[Any]:
        return self._bulk("get", folder, ids)

    def create(self, folder: str, items: Sequence[NewItem]) -> list[Any]:
        return self._bulk("create", folder, items)

    def update(self, folder: str, updates: Sequence[ItemUpdate]) -> list[Any]:
        return self._bulk("update", folder, updates)

    def delete(self, folder: str, refs: Sequence[ItemRef]) -> list[Any]:
        return self._bulk("delete", folder, refs)

    # -- a person using Outlook ------------------------------------------------------------

    def _ok(self, answers: list[Any]) -> Any:
        (answer,) = answers
        assert not isinstance(answer, Exception), answer
        return answer

    def add(self, folder: str, fields: dict[str, Any]) -> str:
        return self._ok(self.real.create(folder, [NewItem(fields, None)])).item_id

    def edit(self, folder: str, item_id: str, fields: dict[str, Any]) -> None:
        if "categories" in fields:  # not a synced field: only the changekey moves
            self.touch(folder, item_id)
            return
        if folder == "calendar":  # Outlook saves the whole series, exceptions included
            (current,) = self.real.get(folder, [item_id])
            fields = merge_fields(current.fields, fields)
        self._ok(self.real.update(folder, [ItemUpdate(item_id, fields, None)]))

    def touch(self, folder: str, item_id: str) -> None:
        self.store.update_item(self.store.get_item(item_id))

    def remove(self, folder: str, item_id: str) -> None:
        self._ok(self.real.delete(folder, [ItemRef(item_id, None)]))

    def items(self, folder: str) -> dict[str, Any]:
        """Every item in the folder now (ids from the store, content over EWS)."""
        ids = sorted(self.store.folder(folder).items)
        return {i.item_id: i for i in self.real.get(folder, ids)}

    def invalidate_sync_state(self) -> None:
        """Every sync state handed out so far is refused (ErrorInvalidSyncStateData), as
        the fake's ``invalidate_sync_state``."""
        self._epoch += 1


def ews_machine_for(things: Things) -> type:
    """``machine_for(things)`` with the mailbox over EWS."""

    class EwsMachine(machine_for(things)):  # type: ignore[misc]
        @initialize(
            policy=st.sampled_from(POLICIES),
            page_size=st.integers(1, 4),
            batch=st.integers(1, 3),
        )
        def setup(self, policy: str, page_size: int, batch: int) -> None:  # type: ignore[override]
            assert _server is not None, "the module's emulator fixture runs first"
            mailbox = FaultyEws(_server, page_size)
            self.w = World(
                things.item_type(),
                crm=MemoryCrm(),
                mailbox=mailbox,  # type: ignore[arg-type]
                policy=policy,
                batch_size=batch,
            )

        def teardown(self) -> None:
            try:
                super().teardown()
            finally:
                if hasattr(self, "w"):
                    self.w.mb.close()

    EwsMachine.__name__ = EwsMachine.__qualname__ = f"Ews{things.item_type.__name__}Machine"
    return EwsMachine


EwsContactsMachine = ews_machine_for(CONTACTS)
EwsContactsMachine.TestCase.settings = _settings(12, 15)
TestEwsContactsConverge = EwsContactsMachine.TestCase

EwsMeetingsMachine = ews_machine_for(MEETINGS)
EwsMeetingsMachine.TestCase.settings = _settings(8, 12)
TestEwsMeetingsConverge = EwsMeetingsMachine.TestCase

EwsTasksMachine = ews_machine_for(TASKS)
EwsTasksMachine.TestCase.settings = _settings(8, 12)
TestEwsTasksConverge = EwsTasksMachine.TestCase


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
