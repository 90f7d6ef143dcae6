"""The state machines (``sync_machines``) with a real mailbox: a transport on the
emulator (real HTTPS, schema-checked) under the fakes' fault rules, and a person whose
Outlook edits go through the same transport (creates carry no CRM id; the item-only
``categories`` edit plays as a new version without new content).

``FaultyEws`` and ``FaultyGraph`` differ only in how they reach the mailbox and how a
sync state is lost; ``transport_machine_for`` builds one machine per item type over
either (``tests/sync/test_state_machine_ews.py``, ``test_state_machine_graph.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import initialize

from tests.support import CLIENT_SECRET, listing
from tests.support.graph_sync import graph_transport
from tests.support.sync_machines import Things, machine_for
from tests.support.sync_world import World
from wess_core.strategies import ChangesPage, InvalidSyncState, ItemRef, ItemUpdate, NewItem
from wess_core.sync.memory import Faults, MemoryCrm, merge_fields
from wess_core.sync.plan import POLICIES
from wess_emulator.pytest_plugin import EWS_PASSWORD

_users = itertools.count(1)


@contextmanager
def module_emulator(ews_ca: Any) -> Iterator[Any]:
    """One emulator (EWS and Graph, the OAuth app of ``populate``) for a test module;
    every example gets a new user (a fresh mailbox). exchangelib trusts its CA."""
    from exchangelib.protocol import BaseProtocol, close_connections

    from wess_emulator.emulator import EmulatorServer
    from wess_emulator.tls import ca_bundle_adapter

    server = EmulatorServer(validate=True, ca=ews_ca)
    server.add_app("wess-app", CLIENT_SECRET, tenant="contoso")
    server.start()
    previous = BaseProtocol.HTTP_ADAPTER_CLS
    BaseProtocol.HTTP_ADAPTER_CLS = ca_bundle_adapter(server.ca_cert)
    try:
        yield server
    finally:
        close_connections()
        BaseProtocol.HTTP_ADAPTER_CLS = previous
        server.stop()
    assert not server.schema_errors, "EWS schema violations:\n" + "\n".join(server.schema_errors)
    assert not server.errors, "emulator errors:\n" + "\n".join(server.errors)


@contextmanager
def machines_on_one_emulator(ews_ca: Any, machines: Sequence[Any]) -> Iterator[Any]:
    """``module_emulator`` with ``machines`` (``transport_machine_for``) pointed at it."""
    with module_emulator(ews_ca) as server:
        for machine in machines:
            machine.server = server
        try:
            yield server
        finally:
            for machine in machines:
                machine.server = None


def emulator_fixture(machines: Sequence[Any]) -> Any:
    """A module's autouse fixture: one emulator for ``machines``; every example gets a
    new user (a fresh mailbox). Assign it in the test module (``emulator = ...``)."""

    @pytest.fixture(scope="module", autouse=True)
    def emulator(ews_ca: Any) -> Iterator[Any]:
        with machines_on_one_emulator(ews_ca, machines) as server:
            yield server

    return emulator


class FaultyTransport:
    """A real transport (``self.real``) with the fakes' fault rules, and a person using
    Outlook on the same mailbox. Subclasses open the transport and lose sync states."""

    real: Any

    def __init__(self, server: Any) -> None:
        self.server = server
        self.email = f"user{next(_users)}@example.com"
        self.faults = Faults()

    @property
    def calls(self) -> Any:
        return self.faults.calls

    @property
    def max_batch(self) -> int:
        return self.real.max_batch

    def close(self) -> None:
        """Nothing held by default."""

    # -- Transport, under the fault rules ------------------------------------------------

    def changes(self, folder: str, token: str | None) -> Any:
        self.faults.enter("changes")
        page = self._changes(folder, token)
        self.faults.leave("changes")
        return page

    def _changes(self, folder: str, token: str | None) -> ChangesPage:
        return self.real.changes(folder, token)

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
        if "categories" in fields:  # not a synced field: only the version moves
            self.touch(folder, item_id)
            return
        if folder == "calendar":  # Outlook saves the whole series, exceptions included
            (current,) = self.real.get(folder, [item_id])
            fields = merge_fields(current.fields, fields)
        self._ok(self.real.update(folder, [ItemUpdate(item_id, fields, None)]))

    def touch(self, folder: str, item_id: str) -> None:
        """A save without a synced change: the item gets a new version."""
        item = self._stored(item_id)
        self.store.update_item(item)

    def _stored(self, item_id: str) -> Any:
        return self.store.get_item(item_id)

    def remove(self, folder: str, item_id: str) -> None:
        self._ok(self.real.delete(folder, [ItemRef(item_id, None)]))

    def items(self, folder: str) -> dict[str, Any]:
        raise NotImplementedError

    def invalidate_sync_state(self) -> None:
        raise NotImplementedError


class FaultyEws(FaultyTransport):
    """An ``EwsTransport`` (exchangelib, Basic auth) on a fresh mailbox."""

    def __init__(self, server: Any, page_size: int) -> None:
        from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials

        from wess_plugins.transport_ews.transport import EwsTransport

        super().__init__(server)
        self.store = server.add_user(self.email, EWS_PASSWORD)
        config = Configuration(
            service_endpoint=server.ews_url,
            auth_type=BASIC,
            credentials=Credentials(self.email, EWS_PASSWORD),
        )
        self.account = Account(self.email, config=config, autodiscover=False, access_type=DELEGATE)
        self.real = EwsTransport(connection=None, account=self.account, page_size=page_size)
        self._epoch = 0  # sync states carry it: older ones are refused

    def close(self) -> None:
        self.account.protocol.close()

    def _changes(self, folder: str, token: str | None) -> ChangesPage:
        if token is not None:
            epoch, _, token = token.partition("|")
            if epoch != str(self._epoch):
                raise InvalidSyncState("sync state refused (injected)")
        page = self.real.changes(folder, token)
        return ChangesPage(page.changes, f"{self._epoch}|{page.token}", page.done)

    def items(self, folder: str) -> dict[str, Any]:
        """Every item in the folder now (ids from the store, content over EWS)."""
        ids = sorted(self.store.folder(folder).items)
        return {i.item_id: i for i in self.real.get(folder, ids)}

    def invalidate_sync_state(self) -> None:
        """Every sync state handed out so far is refused (ErrorInvalidSyncStateData), as
        the fake's ``invalidate_sync_state``."""
        self._epoch += 1


class FaultyGraph(FaultyTransport):
    """A ``GraphTransport`` (the OAuth app, immutable ids, ``$batch`` writes) on a fresh
    mailbox. A lost sync state is the emulator's own: every delta and skip token issued
    so far answers 410 ``syncStateNotFound``."""

    def __init__(self, server: Any, page_size: int) -> None:
        super().__init__(server)
        self.store = server.add_user(self.email, EWS_PASSWORD)
        self.real = graph_transport(server, self.email, CLIENT_SECRET, page_size=page_size)

    def _stored(self, item_id: str) -> Any:
        from wess_emulator.emulator.graph.ids import resolve_item

        item = resolve_item(self.store, item_id)
        assert item is not None, item_id
        return item

    def items(self, folder: str) -> dict[str, Any]:
        """Every item in the folder now: a fresh delta round over Graph."""
        return {item.item_id: item for item in listing(self.real, folder)}

    def invalidate_sync_state(self) -> None:
        self.server.graph.expire_delta_tokens()


def transport_machine_for(
    things: Things, mailbox: Callable[[Any, int], FaultyTransport], name: str
) -> type:
    """``machine_for(things)`` with the mailbox a ``mailbox(server, page_size)`` on the
    emulator that ``set_server`` named."""

    class TransportMachine(machine_for(things)):  # type: ignore[misc]
        server: Any = None

        @initialize(
            policy=st.sampled_from(POLICIES),
            page_size=st.integers(1, 4),
            batch=st.integers(1, 3),
        )
        def setup(self, policy: str, page_size: int, batch: int) -> None:  # type: ignore[override]
            assert self.server is not None, "the module's emulator fixture runs first"
            self.w = World(
                things.item_type(),
                crm=MemoryCrm(),
                mailbox=mailbox(self.server, page_size),  # type: ignore[arg-type]
                policy=policy,
                batch_size=batch,
            )

        def teardown(self) -> None:
            try:
                super().teardown()
            finally:
                if hasattr(self, "w"):
                    self.w.mb.close()

    TransportMachine.__name__ = f"{name}{things.item_type.__name__}Machine"
    TransportMachine.__qualname__ = TransportMachine.__name__
    return TransportMachine
