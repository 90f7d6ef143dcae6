"""Each item type created, changed and deleted on each side arrives on the other, over
each transport (``site``: EWS or Microsoft Graph)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.support import listing, sync_ok
from wess_core.strategies import ItemUpdate, NewItem

#: A Monday five to six weeks ahead: meetings stay inside the Graph calendar's window
#: (90 days back to a year ahead of a round), whatever the day the tests run.
MONDAY = (date.today() + timedelta(days=35 + (7 - date.today().weekday()) % 7)).isoformat()
MEETING = {
    "subject": "Kick-off",
    "start": f"{MONDAY}T09:00:00+00:00",
    "end": f"{MONDAY}T10:00:00+00:00",
    "location": "Room 1",
    "description": "agenda attached",
    "attendees": ["bob@example.com", "cleo@example.com"],
    "reminder_minutes": 15,
}
WEEKLY = {
    "subject": "Weekly sync",
    "start": f"{MONDAY}T09:00:00+00:00",
    "end": f"{MONDAY}T09:30:00+00:00",
    "recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "weekdays": ["Monday", "Thursday"]},
        "boundary": {
            "type": "end_date",
            "start": MONDAY,
            "end": (date.fromisoformat(MONDAY) + timedelta(weeks=12)).isoformat(),
        },
    },
}
TASK = {
    "subject": "Send quote",
    "due_date": "2026-12-10",
    "status": "in_progress",
    "percent_complete": 40,
    "description": "v2 prices",
}
PERSON = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@acme.example",
    "company": "Acme",
    "job_title": "CTO",
    "phone": "+44 20 7946 0001",
    "mobile": "+44 7700 900001",
    "notes": "met at the fair",
    "address": {"street": "1 Main St", "city": "Leeds", "zip": "LS1 1AA", "country": "UK"},
    "home_address": {
        "street": "2 Elm Rd",
        "city": "York",
        "state": "N Yorks",
        "zip": "YO1 7HH",
        "country": "UK",
    },
    "other_address": {"city": "Oslo", "country": "Norway"},
}

CASES = [
    ("people", "contacts", PERSON, {"job_title": "CEO"}),
    ("meetings", "calendar", MEETING, {"location": "Room 2"}),
    ("meetings", "calendar", WEEKLY, {"subject": "Weekly sync (moved)"}),
    ("tasks", "tasks", TASK, {"status": "completed", "percent_complete": 100}),
]


def _types():
    from wess_core import plugins

    return {
        t.record_type: t
        for _, t in plugins.item_types().items()
        if t.folder != "inbox" and t.folder != "sentitems"
    }


@pytest.mark.parametrize(
    ("record_type", "folder", "fields", "change"),
    CASES,
    ids=["contact", "meeting", "weekly-series", "task"],
)
def test_crm_to_exchange_create_update_delete(site, crm, record_type, folder, fields, change):
    synced_home, mailbox = site.wess, site.mailbox
    item_type = _types()[record_type]
    record_id = crm.add(record_type, **fields)
    sync_ok(synced_home)
    (item,) = listing(mailbox, folder)
    assert item_type.to_record(item.fields) == item_type.to_record(item_type.to_item(fields))
    assert item.crm_id == record_id

    crm.update(record_type, record_id, **change)
    sync_ok(synced_home)
    (item,) = listing(mailbox, folder)
    for key, value in change.items():
        assert item_type.to_record(item.fields)[key] == value

    crm.delete(record_type, record_id)
    sync_ok(synced_home)
    assert listing(mailbox, folder) == []


@pytest.mark.parametrize(
    ("record_type", "folder", "fields", "change"),
    CASES,
    ids=["contact", "meeting", "weekly-series", "task"],
)
def test_exchange_to_crm_create_update_delete(site, crm, record_type, folder, fields, change):
    synced_home, mailbox = site.wess, site.mailbox
    item_type = _types()[record_type]
    (ref,) = mailbox.create(folder, [NewItem(item_type.to_item(fields), crm_id="")])
    sync_ok(synced_home)
    (record,) = crm.list(record_type)
    expected = item_type.to_record(item_type.to_item(fields))
    assert {k: v for k, v in expected.items() if v is not None} == {
        k: v for k, v in record["fields"].items() if k in expected and v is not None
    }
    assert record["exchange_id"] == ref.item_id

    changed = {k: v for k, v in item_type.to_item(change).items() if v is not None}
    (ref2,) = mailbox.update(folder, [ItemUpdate(ref.item_id, changed, ref.changekey)])
    assert not isinstance(ref2, Exception), ref2
    sync_ok(synced_home)
    (record,) = crm.list(record_type)
    for key, value in change.items():
        assert record["fields"][key] == value

    assert mailbox.delete(folder, [ref2]) == [None]
    sync_ok(synced_home)
    assert crm.list(record_type) == []


def test_recurring_series_survives_the_round_trip(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    crm.add("meetings", **WEEKLY)
    sync_ok(synced_home)
    (item,) = listing(mailbox, "calendar")
    assert item.fields["recurrence"] == WEEKLY["recurrence"]
    # a second sync sees no change: the series is stable on both sides
    again = sync_ok(synced_home)
    assert again["folders"]["calendar"]["to_crm"] == {"created": 0, "updated": 0, "deleted": 0}
    assert again["folders"]["calendar"]["to_exchange"] == {"created": 0, "updated": 0, "deleted": 0}


def test_mail_is_filed_one_way_and_never_changed_in_exchange(site, mailbox, crm):
    """Mail arrives from outside (written here over EWS) and is filed over ``site``."""
    synced_home = site.wess
    crm.add("people", first_name="Ann", email="ann@acme.example")
    mail = {
        "subject": "Quote",
        "sender": "ann@acme.example",
        "to_recipients": ["alice@example.com"],
        "body": "Prices please",
    }
    (ref,) = mailbox.create("inbox", [NewItem(mail, crm_id="")])
    sync_ok(synced_home)
    (email,) = crm.list("emails")
    assert email["fields"]["subject"] == "Quote"
    assert email["fields"]["from"] == "ann@acme.example"
    assert email["fields"]["direction"] == "in"
    ann = crm.list("people")[0]["id"]
    assert email["people_ids"] == [ann]
    # editing or deleting the CRM copy never touches the mailbox
    crm.update("emails", email["id"], subject="edited in the CRM")
    crm.delete("emails", email["id"])
    site.server.reset_counts()
    sync_ok(synced_home)
    assert site.writes() == {}
    (item,) = listing(mailbox, "inbox")
    assert item.fields["subject"] == "Quote"


def test_an_html_mail_is_filed_as_text_with_its_body_type(site, ews_mailbox, crm):
    synced_home = site.wess
    from xml.sax.saxutils import escape

    html = (
        "<html><head><style>p {margin:0}</style></head><body><p>Dear Ann,</p>"
        "<p>Prices below:<br>one<br>two</p></body></html>"
    )
    xml = (
        '<t:Message xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        f'<t:Body BodyType="HTML">{escape(html)}</t:Body></t:Message>'
    )
    plain = {"kind": "Message", "Subject": "Plain", "Body": "a <b>"}
    ews_mailbox.add_items("inbox", [{"xml": xml, "Subject": "Quote"}, plain])
    sync_ok(synced_home)
    mails = {m["fields"]["subject"]: m["fields"] for m in crm.list("emails")}
    assert mails["Quote"]["body"] == "Dear Ann,\n\nPrices below:\none\ntwo"
    assert mails["Quote"]["body_type"] == "HTML"
    assert (mails["Plain"]["body"], mails["Plain"]["body_type"]) == ("a <b>", "Text")


def test_contact_addresses_round_trip_both_ways(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    t = _types()["people"]
    record_id = crm.add("people", **PERSON)
    sync_ok(synced_home)
    (item,) = listing(mailbox, "contacts")
    labels = sorted(a["label"] for a in item.fields["physical_addresses"])
    assert labels == ["Business", "Home", "Other"]
    # the CRM moves house and drops the other address: Exchange follows
    crm.update(
        "people",
        record_id,
        home_address={"street": "3 Oak Ave", "city": "Hull"},
        other_address=None,
    )
    sync_ok(synced_home)
    (item,) = listing(mailbox, "contacts")
    back = t.to_record(item.fields)
    assert back["home_address"] == {"street": "3 Oak Ave", "city": "Hull"}
    assert back["other_address"] is None and back["address"] == PERSON["address"]
    # Outlook edits the home address: the CRM follows
    fields = t.to_item(
        {**PERSON, "home_address": {"street": "4 Ash Ln", "city": "Hull"}, "other_address": None}
    )
    (ref,) = mailbox.update("contacts", [ItemUpdate(item.item_id, fields, item.changekey)])
    assert not isinstance(ref, Exception), ref
    sync_ok(synced_home)
    (record,) = crm.list("people")
    assert record["fields"]["home_address"] == {"street": "4 Ash Ln", "city": "Hull"}
    assert record["fields"]["address"] == PERSON["address"]
    assert not record["fields"].get("other_address")
