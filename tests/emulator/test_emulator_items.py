"""Unmodified exchangelib against the emulator: folders and item CRUD."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from exchangelib import (
    UTC,
    CalendarItem,
    Contact,
    EWSDateTime,
    ExtendedProperty,
    Message,
    Task,
)
from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound
from exchangelib.folders import Calendar, Contacts, Inbox, Tasks
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import NEVER_OVERWRITE, SEND_ONLY_TO_ALL
from exchangelib.recurrence import Recurrence, WeeklyPattern


class CrmId(ExtendedProperty):
    distinguished_property_set_id = "PublicStrings"
    property_name = "wess_crm_id"
    property_type = "String"


@pytest.fixture
def crm_id_registered():
    for cls in (Contact, CalendarItem, Task):
        cls.register("crm_id", CrmId)
    yield
    for cls in (Contact, CalendarItem, Task):
        cls.deregister("crm_id")


def utc(*args) -> EWSDateTime:
    return EWSDateTime(*args, tzinfo=UTC)


def test_account_setup_and_folder_tree(ews_account, ews_server):
    assert isinstance(ews_account.inbox, Inbox)
    assert isinstance(ews_account.contacts, Contacts)
    assert isinstance(ews_account.calendar, Calendar)
    assert isinstance(ews_account.tasks, Tasks)
    tree = ews_account.root.tree()
    for name in ("Top of Information Store", "Inbox", "Calendar", "Contacts", "Tasks"):
        assert name in tree
    assert ews_account.version.build.major_version == 15
    assert ews_server.counts["GetFolder"] >= 1


def test_folder_create_and_subfolder_listing(ews_account):
    from exchangelib import Folder

    f = Folder(parent=ews_account.inbox, name="Projects")
    f.save()
    names = [c.name for c in ews_account.inbox.children]
    assert "Projects" in names
    f.delete()


def test_contact_crud_with_indexed_fields(ews_account):
    contact = Contact(
        folder=ews_account.contacts,
        display_name="Ann Lee",
        given_name="Ann",
        surname="Lee",
        company_name="ACME",
        email_addresses=[EmailAddress(email="ann@acme.test", label="EmailAddress1")],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+1 555 0100")],
        physical_addresses=[
            PhysicalAddress(label="Business", street="1 Main St", city="Springfield")
        ],
        categories=["CRM", "VIP"],
    ).save()
    got = ews_account.contacts.get(id=contact.id)
    assert (got.given_name, got.surname, got.company_name) == ("Ann", "Lee", "ACME")
    assert got.email_addresses[0].email == "ann@acme.test"
    assert got.phone_numbers[0].phone_number == "+1 555 0100"
    assert got.physical_addresses[0].city == "Springfield"
    assert sorted(got.categories) == ["CRM", "VIP"]

    old_ck = got.changekey
    got.surname = "Leeds"
    got.physical_addresses = [PhysicalAddress(label="Business", street="2 Side St", city="Shelby")]
    got.save(update_fields=["surname", "physical_addresses"])
    again = ews_account.contacts.get(id=contact.id)
    assert again.surname == "Leeds"
    assert again.physical_addresses[0].street == "2 Side St"
    assert again.changekey != old_ck

    again.company_name = None
    again.save(update_fields=["company_name"])
    assert ews_account.contacts.get(id=contact.id).company_name is None

    again.delete()
    with pytest.raises(ErrorItemNotFound):
        ews_account.contacts.get(id=contact.id)


def test_stale_changekey_never_overwrite_conflicts(ews_account):
    contact = Contact(folder=ews_account.contacts, display_name="C", given_name="C").save()
    stale = ews_account.contacts.get(id=contact.id)
    contact.given_name = "C2"
    contact.save()
    stale.given_name = "C3"
    with pytest.raises(ErrorIrresolvableConflict):
        stale.save(conflict_resolution=NEVER_OVERWRITE)
    assert ews_account.contacts.get(id=contact.id).given_name == "C2"
    stale.save()  # AutoResolve (exchangelib's default) applies it
    assert ews_account.contacts.get(id=contact.id).given_name == "C3"


def test_task_crud(ews_account):
    task = Task(
        folder=ews_account.tasks,
        subject="Call Ann",
        due_date=dt.date(2030, 1, 15),
        status="NotStarted",
        body="About the renewal",
    ).save()
    got = ews_account.tasks.get(id=task.id)
    assert got.subject == "Call Ann"
    assert got.status == "NotStarted"
    assert got.body == "About the renewal"
    got.status = "InProgress"
    got.percent_complete = Decimal(50)
    got.save(update_fields=["status", "percent_complete"])
    again = ews_account.tasks.get(id=task.id)
    assert (again.status, again.percent_complete) == ("InProgress", 50)
    again.delete()
    assert ews_account.tasks.all().count() == 0


def test_message_draft_send_and_read_flag(ews_account, ews_server, ews_account_factory):
    ews_server.add_user("bob@example.com", "Bob-pass")
    draft = Message(
        folder=ews_account.drafts, subject="Hello", body="Hi Bob", to_recipients=["bob@example.com"]
    ).save()
    got = ews_account.drafts.get(id=draft.id)
    assert got.subject == "Hello"
    assert got.to_recipients[0].email_address == "bob@example.com"
    Message(
        account=ews_account,
        subject="Sent one",
        body="x",
        to_recipients=["bob@example.com"],
    ).send_and_save()
    assert ews_account.sent.filter(subject="Sent one").count() == 1
    bob = ews_account_factory("bob@example.com", "Bob-pass")
    received = list(bob.inbox.all())
    assert [m.subject for m in received] == ["Sent one"]
    assert received[0].is_read is False
    received[0].is_read = True
    received[0].save(update_fields=["is_read"])
    assert bob.inbox.get(id=received[0].id).is_read is True


def test_delete_moves_to_deleted_items_then_hard_delete(ews_account):
    contact = Contact(folder=ews_account.contacts, display_name="Tmp").save()
    contact.move_to_trash()
    assert ews_account.contacts.all().count() == 0
    assert ews_account.trash.all().count() == 1
    trashed = ews_account.trash.all()[0]
    trashed.delete()
    assert ews_account.trash.all().count() == 0


def test_calendar_single_item_and_calendar_view(ews_account):
    item = CalendarItem(
        folder=ews_account.calendar,
        subject="Review",
        start=utc(2030, 3, 4, 9),
        end=utc(2030, 3, 4, 10),
        location="Room 1",
    ).save()
    got = ews_account.calendar.get(id=item.id)
    assert got.subject == "Review"
    assert got.start == utc(2030, 3, 4, 9)
    assert got.location == "Room 1"
    assert got.type == "Single"
    in_view = list(ews_account.calendar.view(start=utc(2030, 3, 4), end=utc(2030, 3, 5)))
    assert [i.subject for i in in_view] == ["Review"]
    assert list(ews_account.calendar.view(start=utc(2030, 3, 5), end=utc(2030, 3, 6))) == []


def test_recurring_series_modified_and_deleted_occurrences(ews_account):
    master = CalendarItem(
        folder=ews_account.calendar,
        subject="Weekly sync",
        start=utc(2030, 1, 7, 10),  # a Monday
        end=utc(2030, 1, 7, 11),
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1], first_day_of_week=1),
            start=dt.date(2030, 1, 7),
            number=5,
        ),
    ).save()
    got = ews_account.calendar.get(id=master.id)
    assert got.type == "RecurringMaster"
    assert got.recurrence.boundary.number == 5
    assert got.first_occurrence.start == utc(2030, 1, 7, 10)
    assert got.last_occurrence.start == utc(2030, 2, 4, 10)

    second = got.occurrence(index=2)
    second.refresh()
    assert second.start == utc(2030, 1, 14, 10)
    assert second.type == "Occurrence"
    second.subject = "Weekly sync (moved)"
    second.start = utc(2030, 1, 15, 14)
    second.end = utc(2030, 1, 15, 15)
    second.save(update_fields=["subject", "start", "end"])

    third = got.occurrence(index=3)
    third.refresh()
    third.delete()

    master_now = ews_account.calendar.get(id=master.id)
    assert len(master_now.modified_occurrences) == 1
    assert master_now.modified_occurrences[0].start == utc(2030, 1, 15, 14)
    assert master_now.modified_occurrences[0].original_start == utc(2030, 1, 14, 10)
    assert [d.start for d in master_now.deleted_occurrences] == [utc(2030, 1, 21, 10)]

    exception = ews_account.calendar.get(id=master_now.modified_occurrences[0].id)
    assert exception.subject == "Weekly sync (moved)"
    assert exception.type == "Exception"

    view = list(ews_account.calendar.view(start=utc(2030, 1, 1), end=utc(2030, 3, 1)))
    assert [(v.start, v.subject) for v in view] == [
        (utc(2030, 1, 7, 10), "Weekly sync"),
        (utc(2030, 1, 15, 14), "Weekly sync (moved)"),
        (utc(2030, 1, 28, 10), "Weekly sync"),
        (utc(2030, 2, 4, 10), "Weekly sync"),
    ]
    assert ews_account.calendar.all().count() == 1  # FindItem without a view: the master only


def test_extended_property_roundtrip_and_filter(ews_account, crm_id_registered):
    a = Contact(folder=ews_account.contacts, display_name="A", crm_id="crm-1").save()
    Contact(folder=ews_account.contacts, display_name="B", crm_id="crm-2").save()
    Contact(folder=ews_account.contacts, display_name="C").save()
    assert ews_account.contacts.get(id=a.id).crm_id == "crm-1"
    assert [c.display_name for c in ews_account.contacts.filter(crm_id="crm-2")] == ["B"]
    found = ews_account.contacts.filter(crm_id="crm-1").only("crm_id", "display_name")
    assert [(c.display_name, c.crm_id) for c in found] == [("A", "crm-1")]

    event = CalendarItem(
        folder=ews_account.calendar,
        subject="E",
        start=utc(2030, 5, 1, 8),
        end=utc(2030, 5, 1, 9),
        crm_id="crm-ev",
    ).save()
    assert ews_account.calendar.get(id=event.id).crm_id == "crm-ev"
    event.crm_id = "crm-ev-2"
    event.save(update_fields=["crm_id"])
    assert ews_account.calendar.get(id=event.id).crm_id == "crm-ev-2"
    event.crm_id = None
    event.save(update_fields=["crm_id"])
    assert ews_account.calendar.get(id=event.id).crm_id is None


def test_restrictions_and_paging(ews_account, ews_mailbox):
    ews_mailbox.add_items(
        "contacts",
        [
            {
                "DisplayName": f"Person {i:03d}",
                "GivenName": f"P{i}",
                "CompanyName": "Even" if i % 2 == 0 else "Odd",
            }
            for i in range(120)
        ],
    )
    contacts = ews_account.contacts
    assert contacts.all().count() == 120
    assert contacts.filter(company_name="Even").count() == 60
    assert contacts.filter(display_name__contains="Person 01").count() == 10
    assert contacts.filter(display_name__istartswith="person 11").count() == 10
    assert contacts.exclude(company_name="Even").count() == 60
    from exchangelib import Q

    q = Q(company_name="Even") & (Q(given_name="P2") | Q(given_name="P3"))
    assert [c.given_name for c in contacts.filter(q)] == ["P2"]
    ordered = list(
        contacts.all().order_by("-display_name").values_list("display_name", flat=True)[:3]
    )
    assert ordered == ["Person 119", "Person 118", "Person 117"]
    paged = list(contacts.all().only("display_name"))  # exchangelib pages by 100
    assert len(paged) == 120


def test_bulk_operations_with_one_bad_item(ews_account):
    folder = ews_account.contacts
    results = ews_account.bulk_create(
        folder=folder, items=[Contact(display_name=f"Bulk {i}") for i in range(5)]
    )
    assert all(not isinstance(r, Exception) for r in results)
    ids = [(r.id, r.changekey) for r in results]
    items = list(ews_account.fetch(ids=ids + [("bm9wZQ==", None)]))
    assert isinstance(items[-1], ErrorItemNotFound)
    assert [i.display_name for i in items[:-1]] == [f"Bulk {i}" for i in range(5)]

    for i, item in enumerate(items[:-1]):
        item.given_name = f"G{i}"
    ghost = Contact(
        account=ews_account, folder=folder, id="bm9wZQ==", changekey="x", given_name="?"
    )
    updates = [(item, ["given_name"]) for item in items[:2]] + [(ghost, ["given_name"])]
    updates += [(item, ["given_name"]) for item in items[2:-1]]
    res = ews_account.bulk_update(items=updates)
    assert [isinstance(r, Exception) for r in res] == [False, False, True, False, False, False]
    assert isinstance(res[2], ErrorItemNotFound)
    assert sorted(c.given_name for c in folder.all()) == [f"G{i}" for i in range(5)]

    delete_ids = [ids[0], ("bm9wZQ==", None), ids[1]]
    res = ews_account.bulk_delete(ids=delete_ids)
    assert res[0] is True and res[2] is True
    assert isinstance(res[1], ErrorItemNotFound)
    assert folder.all().count() == 3


def test_resolve_names_and_convert_id(ews_account, ews_server):
    ews_server.add_user("alan@example.com", "x", display_name="Alan Example")
    assert ews_account.version.api_version == "Exchange2016"  # protocol calls need a version
    resolved = ews_account.protocol.resolve_names(["alice@example.com"])
    assert resolved[0].email_address == "alice@example.com"
    many = ews_account.protocol.resolve_names(["al"])
    assert sorted(m.email_address for m in many) == ["alan@example.com", "alice@example.com"]
    from exchangelib.errors import ErrorNameResolutionNoResults

    none = ews_account.protocol.resolve_names(["zzz"])
    assert none == [] or isinstance(none[0], ErrorNameResolutionNoResults)

    from exchangelib.properties import ENTRY_ID, EWS_ID, HEX_ENTRY_ID, AlternateId

    item = Contact(folder=ews_account.contacts, display_name="X").save()
    [hex_id] = ews_account.protocol.convert_ids(
        [AlternateId(id=item.id, format=EWS_ID, mailbox=ews_account.primary_smtp_address)],
        HEX_ENTRY_ID,
    )
    [entry] = ews_account.protocol.convert_ids(
        [AlternateId(id=hex_id.id, format=HEX_ENTRY_ID, mailbox=ews_account.primary_smtp_address)],
        ENTRY_ID,
    )
    [back] = ews_account.protocol.convert_ids(
        [AlternateId(id=entry.id, format=ENTRY_ID, mailbox=ews_account.primary_smtp_address)],
        EWS_ID,
    )
    assert back.id == item.id


def test_meeting_invitations_to_local_users(ews_account, ews_server):
    ews_server.add_user("carol@example.com", "c")
    item = CalendarItem(
        folder=ews_account.calendar,
        subject="Kickoff",
        start=utc(2030, 6, 1, 9),
        end=utc(2030, 6, 1, 10),
        required_attendees=["carol@example.com"],
    )
    item.save(send_meeting_invitations=SEND_ONLY_TO_ALL)
    got = ews_account.calendar.get(id=item.id)
    assert got.required_attendees[0].mailbox.email_address == "carol@example.com"


def test_item_shapes_are_parsed_once_per_distinct_xml():
    from lxml import etree

    from wess_emulator.emulator.operations import items
    from wess_emulator.emulator.xmlutil import M, T

    def request(*fields):
        props = "".join(f'<t:FieldURI FieldURI="{f}"/>' for f in fields)
        return etree.fromstring(
            f'<m:GetItem xmlns:m="{M}" xmlns:t="{T}"><m:ItemShape><t:BaseShape>IdOnly'
            f"</t:BaseShape><t:AdditionalProperties>{props}</t:AdditionalProperties>"
            "</m:ItemShape></m:GetItem>"
        )

    first = items.item_shape(request("item:Subject"))
    assert first is items.item_shape(request("item:Subject"))
    other = items.item_shape(request("item:Subject", "contacts:GivenName"))
    assert other is not first and other.names == {"Subject", "GivenName"}
    assert first.names == {"Subject"} and first.base == "IdOnly"
    for n in range(items._SHAPES_MAX + 1):  # bounded
        items.item_shape(request(f"item:X{n}"))
    assert len(items._SHAPES) <= items._SHAPES_MAX
