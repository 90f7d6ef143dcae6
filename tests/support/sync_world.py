"""A small world for sync tests: a CRM, a mailbox, saved state, and a convergence check."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import settings

from wess_core.strategies import CrmBackend, ItemType
from wess_core.sync.engine import sync_folder
from wess_core.sync.itemtypes import ContactsType
from wess_core.sync.memory import MemoryCrm, MemoryMailbox
from wess_core.sync.plan import Views
from wess_core.sync.result import FolderResult
from wess_core.sync.status import MemorySyncState, SyncState

WRITES = ("create", "update", "delete")


def examples(n: int) -> int:
    """``n`` examples under the default profiles (``dev``, ``ci``: 100 per test), scaled
    by the loaded profile, so ``--hypothesis-profile=explore`` (500) runs 5 x ``n``."""
    return max(1, n * settings.default.max_examples // 100)


class Draws:
    """Stands in for ``st.data()`` when a pinned regression replays a state machine's
    steps: ``draw`` returns the given values in order, whatever the strategy."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any, label: Any = None) -> Any:
        assert self.values, "the pinned steps drew more values than they gave"
        return self.values.pop(0)


class World:
    """One user's two sides for one item type; the state, unless given, from
    ``World.new_state`` (in memory; ``tests.support.postgres.world_state`` swaps it)."""

    new_state: Callable[[], SyncState] = MemorySyncState

    def __init__(
        self,
        item_type: ItemType | None = None,
        *,
        crm: CrmBackend | None = None,
        mailbox: MemoryMailbox | None = None,
        state: SyncState | None = None,
        policy: str = "crm-wins",
        batch_size: int = 100,
    ) -> None:
        self.t = item_type or ContactsType()
        self.crm: Any = crm if crm is not None else MemoryCrm()
        self.mb = mailbox if mailbox is not None else MemoryMailbox()
        self.state: Any = state if state is not None else World.new_state()
        self.policy = policy
        self.batch_size = batch_size
        self.views = Views(self.t)

    @property
    def folder(self) -> str:
        return self.t.folder

    @property
    def rtype(self) -> str:
        return self.t.record_type

    def sync(self, **kw: Any) -> FolderResult:
        kw.setdefault("batch_size", self.batch_size)
        return sync_folder(
            self.t, self.crm, self.mb, self.state, kw.pop("policy", self.policy), **kw
        )

    # -- the sides, as people see them -------------------------------------------

    def records(self) -> dict[str, Any]:
        if hasattr(self.crm, "live"):
            return self.crm.live(self.rtype)
        found, _ = self.crm.changes(self.rtype, None)
        return {r.id: r for r in found}

    def items(self) -> dict[str, Any]:
        return self.mb.items(self.folder)

    def record_views(self) -> Counter[str]:
        return Counter(self.views.record_hash(r) for r in self.records().values())

    def item_views(self) -> Counter[str]:
        return Counter(self.views.item_hash(i) for i in self.items().values())

    def mailbox_writes(self) -> int:
        return sum(self.mb.calls[m] for m in WRITES)

    def crm_writes(self) -> int:
        return sum(self.crm.calls[m] for m in WRITES) if hasattr(self.crm, "calls") else 0

    def reset_calls(self) -> None:
        self.mb.calls.clear()
        if hasattr(self.crm, "calls"):
            self.crm.calls.clear()

    def assert_converged(self) -> None:
        """Both sides hold the same things, each linked exactly once, contents equal."""
        records, items = self.records(), self.items()
        state = self.state.load(self.t.name)
        linked_records = Counter(r.crm_id for r in state)
        linked_items = Counter(r.item_id for r in state)
        assert set(linked_records) == set(records), "every live record is linked, nothing else"
        assert set(linked_items) == set(items), "every item is linked, nothing else"
        assert max(linked_records.values(), default=1) == 1
        assert max(linked_items.values(), default=1) == 1
        for row in state:
            rec, item = records[row.crm_id], items[row.item_id]
            assert self.views.record_view(rec.fields) == self.views.item_view(item.fields), row
        assert self.record_views() == self.item_views()


def person(n: int | str, **extra: Any) -> dict[str, Any]:
    return {"first_name": f"Ann{n}", "last_name": "Lee", "email": f"ann{n}@example.com", **extra}


def contact(n: int | str, **extra: Any) -> dict[str, Any]:
    return {
        "given_name": f"Bob{n}",
        "surname": "Ray",
        "email_addresses": [{"label": "EmailAddress1", "email": f"bob{n}@example.com"}],
        **extra,
    }


class FaultyLocalCrm:
    """``LocalCrm`` with the fakes' fault rules and "person" methods, for the state machine."""

    def __init__(self, home: Any, database: str = "main") -> None:
        from wess_core.sync.memory import Faults
        from wess_plugins.crm_local.local import LocalCrm

        self.real = LocalCrm(home, database)
        self.faults = Faults()

    @property
    def calls(self) -> Counter[str]:
        return self.faults.calls

    def changes(self, record_type: str, cursor: Any) -> Any:
        self.faults.enter("changes")
        answer = self.real.changes(record_type, cursor)
        self.faults.leave("changes")
        return answer

    def _bulk(self, method: str, record_type: str, inputs: Any) -> list[Any]:
        self.faults.enter(method)
        errors = [self.faults.item_error(method, value) for value in inputs]
        todo = [value for value, err in zip(inputs, errors, strict=True) if err is None]
        done = iter(getattr(self.real, method)(record_type, todo) if todo else [])
        answer = [err if err is not None else next(done) for err in errors]
        self.faults.leave(method)
        return answer

    def get(self, record_type: str, ids: Any) -> list[Any]:
        return self._bulk("get", record_type, ids)

    def create(self, record_type: str, records: Any) -> list[Any]:
        return self._bulk("create", record_type, records)

    def update(self, record_type: str, updates: Any) -> list[Any]:
        return self._bulk("update", record_type, updates)

    def delete(self, record_type: str, ids: Any) -> list[Any]:
        return self._bulk("delete", record_type, ids)

    # -- a person using the CRM --------------------------------------------------

    def add(self, record_type: str, fields: dict[str, Any]) -> str:
        from wess_plugins.crm_local import local

        return local.add_record(self.real.home, self.real.database, record_type, fields)["id"]

    def edit(self, record_type: str, record_id: str, fields: dict[str, Any]) -> None:
        from wess_plugins.crm_local import local

        local.update_record(self.real.home, self.real.database, record_type, record_id, fields)

    def remove(self, record_type: str, record_id: str) -> None:
        from wess_plugins.crm_local import local

        local.delete_record(self.real.home, self.real.database, record_type, record_id)

    def live(self, record_type: str) -> dict[str, Any]:
        found, _ = self.real.changes(record_type, None)
        return {r.id: r for r in found}
