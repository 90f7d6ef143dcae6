"""Contract tests every CRM connector and every mailbox transport must pass.

Mix a class into your test module and give it a fixture that builds a fresh, empty
instance (pytest finds the ``test_*`` methods through your subclass)::

    from wess_core.sync.contract import CrmBackendContract, TransportContract

    class TestAcmeCrm(CrmBackendContract):
        @pytest.fixture
        def crm(self, tmp_path):
            return AcmeCrm(sandbox_url)

    class TestEwsTransport(TransportContract):
        @pytest.fixture
        def mailbox(self, emulator_account):
            return EwsTransport(connection, account=emulator_account)

Override ``record_type`` / ``folder`` and ``sample_record`` / ``sample_item`` when your
connector or folder needs other fields. Only the protocol methods are used, so the
tests run as they are against a real server's sandbox too.
"""

from __future__ import annotations

import json
from typing import Any

from wess_core.strategies import (
    CrmBackend,
    CrmRecord,
    InvalidSyncState,
    ItemChanged,
    ItemNotFound,
    ItemRef,
    ItemUpdate,
    MailboxChange,
    MailboxItem,
    NewItem,
    NewRecord,
    RecordChanged,
    RecordNotFound,
    RecordUpdate,
    Transport,
)


def _ok(answers: list[Any]) -> list[Any]:
    for answer in answers:
        assert not isinstance(answer, Exception), answer
    return answers


class CrmBackendContract:
    """What the engine relies on from a ``CrmBackend`` (fixture: ``crm``)."""

    record_type = "people"
    #: A field the tests write, one ``sample_record`` sets, one it sets and keeps.
    edit_field = "job_title"
    removable_field = "email"
    kept_field = "first_name"

    def sample_record(self, n: int) -> dict[str, Any]:
        return {"first_name": f"Ann{n}", "last_name": "Lee", "email": f"ann{n}@example.com"}

    def _all(self, crm: CrmBackend, cursor: str | None) -> tuple[dict[str, CrmRecord], Any]:
        found, new_cursor = crm.changes(self.record_type, cursor)
        return {r.id: r for r in found}, new_cursor

    def test_is_a_crm_backend(self, crm: CrmBackend) -> None:
        assert isinstance(crm, CrmBackend)

    def test_create_answers_in_input_order(self, crm: CrmBackend) -> None:
        new = [NewRecord(self.sample_record(n), exchange_id=f"X{n}") for n in range(3)]
        got = _ok(crm.create(self.record_type, new))
        assert [r.fields for r in got] == [n.fields for n in new]
        assert [r.exchange_id for r in got] == ["X0", "X1", "X2"]
        assert len({r.id for r in got}) == 3
        assert all(isinstance(r.id, str) and not r.deleted for r in got)

    def test_changes_from_none_lists_live_records_and_then_nothing(self, crm: CrmBackend) -> None:
        made = _ok(
            crm.create(self.record_type, [NewRecord(self.sample_record(n)) for n in range(3)])
        )
        _ok(crm.delete(self.record_type, [made[0].id]))
        found, cursor = self._all(crm, None)
        assert set(found) == {made[1].id, made[2].id}
        json.dumps(cursor)  # stored in the state file
        again, cursor2 = self._all(crm, cursor)
        assert again == {}
        assert self._all(crm, cursor2)[0] == {}

    def test_changes_report_each_record_once_in_its_latest_state(self, crm: CrmBackend) -> None:
        (rec,) = _ok(crm.create(self.record_type, [NewRecord(self.sample_record(1))]))
        _, cursor = self._all(crm, None)
        _ok(crm.update(self.record_type, [RecordUpdate(rec.id, {self.edit_field: "CEO"})]))
        (last,) = _ok(
            crm.update(self.record_type, [RecordUpdate(rec.id, {self.edit_field: "CTO"})])
        )
        found = list(crm.changes(self.record_type, cursor)[0])
        assert [r.id for r in found] == [rec.id]
        assert found[0].fields[self.edit_field] == "CTO"
        assert found[0].revision == last.revision  # how the engine recognises its own write

    def test_update_merges_and_none_removes(self, crm: CrmBackend) -> None:
        (rec,) = _ok(crm.create(self.record_type, [NewRecord(self.sample_record(1))]))
        change = {self.removable_field: None, self.edit_field: "X"}
        (upd,) = _ok(crm.update(self.record_type, [RecordUpdate(rec.id, change)]))
        assert upd.revision != rec.revision
        assert self.removable_field not in upd.fields
        assert upd.fields[self.kept_field] == rec.fields[self.kept_field]
        assert upd.fields[self.edit_field] == "X"

    def test_expected_revision_is_checked_per_item(self, crm: CrmBackend) -> None:
        a, b = _ok(crm.create(self.record_type, [NewRecord(self.sample_record(n)) for n in (1, 2)]))
        _ok(crm.update(self.record_type, [RecordUpdate(a.id, {self.edit_field: "someone else"})]))
        got = crm.update(
            self.record_type,
            [
                RecordUpdate(a.id, {self.edit_field: "stale"}, expected_revision=a.revision),
                RecordUpdate(b.id, {self.edit_field: "fresh"}, expected_revision=b.revision),
            ],
        )
        assert isinstance(got[0], RecordChanged)
        assert isinstance(got[1], CrmRecord) and got[1].fields[self.edit_field] == "fresh"

    def test_missing_records_fail_alone(self, crm: CrmBackend) -> None:
        (rec,) = _ok(crm.create(self.record_type, [NewRecord(self.sample_record(1))]))
        got = crm.update(
            self.record_type,
            [
                RecordUpdate("999999", {self.edit_field: "x"}),
                RecordUpdate(rec.id, {self.edit_field: "y"}),
            ],
        )
        assert isinstance(got[0], RecordNotFound) and isinstance(got[1], CrmRecord)
        deleted = crm.delete(self.record_type, ["999999", rec.id])
        assert isinstance(deleted[0], RecordNotFound)
        assert isinstance(deleted[1], CrmRecord) and deleted[1].deleted

    def test_delete_leaves_a_tombstone_for_changes(self, crm: CrmBackend) -> None:
        (rec,) = _ok(crm.create(self.record_type, [NewRecord(self.sample_record(1))]))
        _, cursor = self._all(crm, None)
        (tomb,) = _ok(crm.delete(self.record_type, [rec.id]))
        found, _ = self._all(crm, cursor)
        assert found[rec.id].deleted
        assert found[rec.id].revision == tomb.revision
        (missing,) = crm.get(self.record_type, [rec.id])
        assert isinstance(missing, RecordNotFound)

    def test_get_answers_in_input_order(self, crm: CrmBackend) -> None:
        made = _ok(crm.create(self.record_type, [NewRecord(self.sample_record(n)) for n in (1, 2)]))
        got = crm.get(self.record_type, [made[1].id, "999999", made[0].id])
        assert isinstance(got[0], CrmRecord) and got[0].id == made[1].id
        assert isinstance(got[1], RecordNotFound)
        assert isinstance(got[2], CrmRecord) and got[2].fields == made[0].fields


class TransportContract:
    """What the engine relies on from a ``Transport`` (fixture: ``mailbox``, empty folder)."""

    folder = "contacts"
    #: A text field ``sample_item`` sets (edited, cleared), one it sets and keeps, and
    #: one it does not set.
    edit_field = "surname"
    kept_field = "given_name"
    extra_field = "job_title"

    def sample_item(self, n: int) -> dict[str, Any]:
        return {
            "given_name": f"Ann{n}",
            "surname": "Lee",
            "display_name": f"Ann{n} Lee",
            "email_addresses": [{"label": "EmailAddress1", "email": f"ann{n}@example.com"}],
        }

    def _drain(self, mailbox: Transport, token: str | None) -> tuple[list[MailboxChange], str]:
        out: list[MailboxChange] = []
        for _ in range(10_000):
            page = mailbox.changes(self.folder, token)
            out.extend(page.changes)
            token = page.token
            if page.done:
                break
        assert token is not None
        return out, token

    def _content(self, mailbox: Transport, change: MailboxChange) -> MailboxItem:
        if change.item is not None:
            return change.item
        (got,) = mailbox.get(self.folder, [change.item_id])
        assert isinstance(got, MailboxItem), got
        return got

    def _create(self, mailbox: Transport, n: int, crm_id: str = "") -> ItemRef:
        (ref,) = _ok(mailbox.create(self.folder, [NewItem(self.sample_item(n), crm_id or f"C{n}")]))
        return ref

    def test_is_a_transport(self, mailbox: Transport) -> None:
        assert isinstance(mailbox, Transport)
        assert mailbox.max_batch >= 1

    def test_empty_folder_lists_nothing(self, mailbox: Transport) -> None:
        changes, token = self._drain(mailbox, None)
        assert changes == []
        assert isinstance(token, str)

    def test_create_stores_the_crm_id_and_changes_report_our_changekey(
        self, mailbox: Transport
    ) -> None:
        _, token = self._drain(mailbox, None)
        refs = _ok(
            mailbox.create(self.folder, [NewItem(self.sample_item(n), f"C{n}") for n in range(3)])
        )
        changes, token = self._drain(mailbox, token)
        by_id = {c.item_id: c for c in changes}
        assert set(by_id) == {r.item_id for r in refs}
        for n, ref in enumerate(refs):
            change = by_id[ref.item_id]
            assert not change.deleted
            assert change.changekey == ref.changekey  # echo recognised without a get
            item = self._content(mailbox, change)
            assert item.crm_id == f"C{n}"
            for key, value in self.sample_item(n).items():
                assert item.fields.get(key) == value, key
        assert self._drain(mailbox, token)[0] == []  # idle

    def test_update_checks_the_changekey_per_item(self, mailbox: Transport) -> None:
        a, b = self._create(mailbox, 1), self._create(mailbox, 2)
        edit = self.edit_field
        (a2,) = _ok(mailbox.update(self.folder, [ItemUpdate(a.item_id, {edit: "X"})]))
        assert a2.changekey != a.changekey
        got = mailbox.update(
            self.folder,
            [
                ItemUpdate(a.item_id, {edit: "stale"}, changekey=a.changekey),
                ItemUpdate(b.item_id, {edit: "fresh"}, changekey=b.changekey),
            ],
        )
        assert isinstance(got[0], ItemChanged)
        assert isinstance(got[1], ItemRef)
        items = mailbox.get(self.folder, [a.item_id, b.item_id])
        assert [i.fields[edit] for i in items if isinstance(i, MailboxItem)] == ["X", "fresh"]

    def test_update_merges_and_none_clears(self, mailbox: Transport) -> None:
        ref = self._create(mailbox, 1)
        _ok(mailbox.update(self.folder, [ItemUpdate(ref.item_id, {self.extra_field: "CEO"})]))
        _ok(mailbox.update(self.folder, [ItemUpdate(ref.item_id, {self.edit_field: None})]))
        (item,) = mailbox.get(self.folder, [ref.item_id])
        assert isinstance(item, MailboxItem)
        assert item.fields.get(self.extra_field) == "CEO"
        assert not item.fields.get(self.edit_field)
        assert item.fields.get(self.kept_field) == self.sample_item(1)[self.kept_field]
        assert item.crm_id == "C1"  # an update keeps the stored CRM id

    def test_delete_is_reported_and_idempotent(self, mailbox: Transport) -> None:
        ref = self._create(mailbox, 1)
        _, token = self._drain(mailbox, None)
        assert _ok(mailbox.delete(self.folder, [ref])) == [None]
        assert _ok(mailbox.delete(self.folder, [ref])) == [None]  # already gone: fine
        changes, _ = self._drain(mailbox, token)
        assert [(c.item_id, c.deleted) for c in changes] == [(ref.item_id, True)]
        assert self._drain(mailbox, None)[0] == []  # a full listing skips deleted items
        (missing,) = mailbox.get(self.folder, [ref.item_id])
        assert isinstance(missing, ItemNotFound)

    def test_missing_items_fail_alone(self, mailbox: Transport) -> None:
        ref = self._create(mailbox, 1)
        _, token = self._drain(mailbox, None)
        _ok(mailbox.delete(self.folder, [ref]))
        got = mailbox.update(
            self.folder,
            [ItemUpdate(ref.item_id, {self.edit_field: "x"}), ItemUpdate(ref.item_id, {})],
        )
        assert all(isinstance(g, ItemNotFound) for g in got)
        other = self._create(mailbox, 2)
        got2 = mailbox.get(self.folder, [ref.item_id, other.item_id])
        assert isinstance(got2[0], ItemNotFound) and isinstance(got2[1], MailboxItem)

    def test_many_items_arrive_over_pages(self, mailbox: Transport) -> None:
        count = 2 * mailbox.max_batch + 3 if mailbox.max_batch < 50 else 120
        made: set[str] = set()
        for start in range(0, count, mailbox.max_batch):
            batch = [
                NewItem(self.sample_item(n), f"C{n}")
                for n in range(start, min(count, start + mailbox.max_batch))
            ]
            made.update(r.item_id for r in _ok(mailbox.create(self.folder, batch)))
        changes, _ = self._drain(mailbox, None)
        assert {c.item_id for c in changes} == made

    def test_an_unknown_token_is_an_invalid_sync_state(self, mailbox: Transport) -> None:
        try:
            mailbox.changes(self.folder, "not-a-token-this-mailbox-ever-gave")
        except InvalidSyncState:
            return
        raise AssertionError("an unknown token must raise InvalidSyncState")
