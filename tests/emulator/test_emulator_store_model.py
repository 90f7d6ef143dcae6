"""Model-based check of the change log behind SyncFolderItems (no HTTP): after any sequence of
creates, updates, read-flag changes and deletes, paging through the changes since a saved
state reproduces the folder exactly, whatever the page size."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wess_emulator.emulator.store import Mailbox

ops = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, 3)),
        st.tuples(st.just("update"), st.integers(0, 50)),
        st.tuples(st.just("read"), st.integers(0, 50)),
        st.tuples(st.just("delete"), st.integers(0, 50)),
        st.tuples(st.just("sync"), st.integers(1, 7)),
    ),
    max_size=60,
)


def full_sync(folder, since, page, client):
    for _ in range(10_000):  # bounded
        changes, since, last = folder.changes_since(since, page, include_deletes=since > 0)
        for kind, obj in changes:
            if kind == "Delete":
                client.pop(obj, None)
            else:
                client[obj.id] = obj.version
        if last:
            return since
    raise AssertionError("sync did not finish")


@settings(max_examples=150, deadline=None)
@given(ops)
def test_incremental_sync_reproduces_folder(sequence):
    mbx = Mailbox("k", 1, "m@example.com")
    folder = mbx.distinguished["inbox"]
    client: dict[str, int] = {}
    state = 0
    for op, arg in sequence:
        ids = list(folder.items)
        if op == "create":
            mbx.add_items(folder, [{"Subject": f"s{arg}"}] * (arg + 1))
        elif op == "sync":
            state = full_sync(folder, state, arg, client)
            assert client == {i: it.version for i, it in folder.items.items()}
        elif ids:
            item = folder.items[ids[arg % len(ids)]]
            if op == "update":
                item.set_field("Subject", "changed")
                mbx.update_item(item)
            elif op == "read":
                item.set_field("IsRead", "true")
                mbx.update_item(item, read_only_change=True)
            else:
                mbx.delete_item(item)
    state = full_sync(folder, state, 3, client)
    assert client == {i: it.version for i, it in folder.items.items()}
    fresh: dict[str, int] = {}
    full_sync(folder, 0, 5, fresh)
    assert fresh == client


def test_log_compaction_keeps_sync_states_valid():
    mbx = Mailbox("k", 1, "m@example.com")
    folder = mbx.distinguished["contacts"]
    ids = mbx.add_items(folder, [{"DisplayName": f"c{i}"} for i in range(10)])
    client: dict[str, int] = {}
    state = full_sync(folder, 0, 4, client)
    for round_ in range(300):
        for item_id in ids[:5]:
            item = folder.items[item_id]
            item.set_field("DisplayName", f"r{round_}")
            mbx.update_item(item)
    assert len(folder.log) < 300 * 5  # stale entries were compacted away
    mbx.delete_item(folder.items[ids[9]])
    state = full_sync(folder, state, 2, client)
    assert client == {i: it.version for i, it in folder.items.items()}
