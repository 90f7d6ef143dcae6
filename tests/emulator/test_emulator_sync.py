"""SyncFolderItems / SyncFolderHierarchy through exchangelib."""

from __future__ import annotations

import pytest
from exchangelib import Contact, ExtendedProperty, Folder
from exchangelib.errors import ErrorInvalidSyncStateData


class CrmId(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "wess_crm_id"
    property_type = "String"


def drain(folder, **kwargs):
    """Run one full folder.sync_items() (all pages) and return (changes, state)."""
    changes = list(folder.sync_items(**kwargs))
    return changes, folder.item_sync_state


def test_initial_then_incremental_sync_across_client_restart(ews_account, ews_account_factory):
    folder = ews_account.contacts
    made = [
        Contact(folder=folder, display_name=f"C{i}", given_name=f"G{i}").save() for i in range(7)
    ]
    changes, state = drain(folder, max_changes_returned=3)
    assert [c for c, _ in changes] == ["create"] * 7
    assert sorted(i.display_name for _, i in changes) == [f"C{i}" for i in range(7)]

    # Changes made while the "client" is down.
    made[0].given_name = "changed"
    made[0].save()
    deleted_id = made[1].id
    made[1].delete()
    Contact(folder=folder, display_name="New").save()

    # A new process: new Account, saved sync state.
    again = ews_account_factory()
    folder2 = again.contacts
    changes2, state2 = drain(folder2, sync_state=state, max_changes_returned=2)
    kinds = sorted((c, getattr(i, "display_name", None)) for c, i in changes2)
    assert kinds == [("create", "New"), ("delete", None), ("update", "C0")]
    deleted = [i for c, i in changes2 if c == "delete"][0]
    assert deleted.id == deleted_id

    changes3, state3 = drain(folder2, sync_state=state2)
    assert changes3 == []
    assert state3


def test_read_flag_change(ews_account, ews_mailbox):
    ews_mailbox.add_items("inbox", [{"Subject": "m1"}, {"Subject": "m2"}])
    folder = ews_account.inbox
    _, state = drain(folder)
    msg = folder.get(subject="m2")
    msg.is_read = True
    msg.save(update_fields=["is_read"])
    changes, _ = drain(folder, sync_state=state)
    assert len(changes) == 1
    kind, (item_id, is_read) = changes[0]
    assert kind == "read_flag_change"
    assert (item_id.id, is_read) == (msg.id, True)


def test_sync_paging_reports_includes_last(ews_account, ews_mailbox, ews_server):
    ews_mailbox.add_items("contacts", [{"DisplayName": f"P{i}"} for i in range(25)])
    ews_server.reset_counts()
    changes, _ = drain(ews_account.contacts, max_changes_returned=10, only_fields=["display_name"])
    assert len(changes) == 25
    assert ews_server.counts["SyncFolderItems"] == 3


def test_sync_id_only_and_extended_property(ews_account, ews_mailbox):
    Contact.register("crm_id", CrmId)
    try:
        ews_mailbox.add_items(
            "contacts",
            [
                {
                    "DisplayName": "With CRM id",
                    "extended_properties": [
                        {
                            "DistinguishedPropertySetId": "PublicStrings",
                            "PropertyName": "wess_crm_id",
                            "PropertyType": "String",
                            "Value": "crm-77",
                        }
                    ],
                }
            ],
        )
        changes, _ = drain(ews_account.contacts, only_fields=["crm_id", "display_name"])
        assert [(i.display_name, i.crm_id) for _, i in changes] == [("With CRM id", "crm-77")]
        ews_account.contacts.item_sync_state = None  # start over
        ids, _ = drain(ews_account.contacts, only_fields=["id"])
        assert ids[0][1].id and ids[0][1].display_name is None
    finally:
        Contact.deregister("crm_id")


def test_garbled_or_foreign_sync_state_is_rejected(ews_account):
    _, state = drain(ews_account.contacts)
    with pytest.raises(ErrorInvalidSyncStateData):
        drain(ews_account.contacts, sync_state="bm90IGEgc3RhdGU=")
    with pytest.raises(ErrorInvalidSyncStateData):
        drain(ews_account.contacts, sync_state=state[:-4] + "AAAA")
    with pytest.raises(ErrorInvalidSyncStateData):
        drain(ews_account.calendar, sync_state=state)  # state of another folder


def test_sync_folder_hierarchy(ews_account):
    changes = list(ews_account.root.sync_hierarchy())
    names = {f.name for c, f in changes if c == "create"}
    assert {"Inbox", "Calendar", "Contacts", "Tasks"} <= names
    state = ews_account.root.folder_sync_state
    sub = Folder(parent=ews_account.inbox, name="Sub")
    sub.save()
    changes2 = list(ews_account.root.sync_hierarchy(sync_state=state))
    assert [(c, f.name) for c, f in changes2] == [("create", "Sub")]
    state2 = ews_account.root.folder_sync_state
    sub.delete()
    changes3 = list(ews_account.root.sync_hierarchy(sync_state=state2))
    assert [c for c, _ in changes3] == ["delete"]
