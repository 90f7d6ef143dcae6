"""Request counts: what a sync costs in mailbox calls and state-file writes."""

from __future__ import annotations

import pytest

from wess_core.store import Store
from wess_core.sync.memory import MemoryMailbox
from wess_core.sync.status import MemorySyncState, StoreSyncState

from .helpers import World, contact, person


@pytest.mark.parametrize("n", [10, 100, 250])
def test_initial_sync_costs_about_n_over_batch_calls(n):
    batch = 25
    w = World(mailbox=MemoryMailbox(max_batch=batch, page_size=100, inline=False))
    for i in range(n):
        w.crm.add("people", person(i))
        w.mb.add("contacts", contact(i))
    w.sync(batch_size=1000)  # the transport's max_batch caps it
    calls = w.mb.calls
    pages = -(-n // 100)
    assert calls["changes"] == pages
    assert calls["get"] == -(-n // batch)  # content of the n new items, IdOnly pages
    assert calls["create"] == -(-n // batch)
    assert calls["update"] == calls["delete"] == 0
    assert w.crm.calls["create"] == -(-n // batch)
    w.assert_converged()


def test_state_is_saved_once_per_batch_not_per_item(tmp_path):
    state = MemorySyncState()
    w = World(state=state, batch_size=10)
    for i in range(35):
        w.crm.add("people", person(i))
    w.sync()
    assert state.saves == 4 + 1  # 4 batches of creates, then the token and cursor
    store_state = StoreSyncState(Store(tmp_path), "alice")
    w2 = World(state=store_state, batch_size=10)
    for i in range(35):
        w2.crm.add("people", person(i))
    w2.sync()
    assert len(store_state.load("contacts").rows) == 35
    assert store_state.item_types() == ["contacts"]
