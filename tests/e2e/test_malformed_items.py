"""One malformed record or item fails alone in a real sync (over HTTPS to the emulator; a
CRM record's over EWS and over Graph): the rest of its batch and folder syncs, and it is
retried next run."""

from __future__ import annotations

import json

from tests.support import listing


def _sync(wess):
    result = wess("sync", "alice", "--json")
    return result, json.loads(result.stdout)


def _mail(n: int, **extra):
    return {"kind": "Message", "Subject": f"Mail {n}", "Body": f"text {n}", **extra}


def test_a_mail_whose_body_has_no_body_type_fails_alone(synced_home, ews_mailbox, crm):
    ews_mailbox.add_items("inbox", [_mail(n) for n in range(3)])
    (bad,) = ews_mailbox.add_items("inbox", [{**_mail(9), "quirks": ["body_without_type"]}])
    result, data = _sync(synced_home)
    assert result.exit_code == 1  # a run with an item in error says so
    inbox = data["folders"]["email-inbox"]
    assert not inbox["failed"]
    assert inbox["to_crm"]["created"] == 3
    (error,) = inbox["errors"]
    assert error["item_id"] == bad and "KeyError" in error["message"]
    assert sorted(e["fields"]["subject"] for e in crm.list("emails")) == [
        "Mail 0",
        "Mail 1",
        "Mail 2",
    ]
    # every other folder synced; the next run retries the bad one (and only it)
    assert all(not f["failed"] for f in data["folders"].values())
    result, data = _sync(synced_home)
    assert [e["item_id"] for e in data["folders"]["email-inbox"]["errors"]] == [bad]
    assert data["folders"]["email-inbox"]["to_crm"]["created"] == 0


def test_a_contact_with_a_numeric_first_name_fails_alone(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    for n in range(9):
        crm.add("people", first_name=f"Ann{n}", last_name="Lee", email=f"ann{n}@example.com")
    result = synced_home("crm", "add", "people", "first_name:=42", "last_name=Lee")
    assert result.exit_code == 0, result.stderr
    result, data = _sync(synced_home)
    contacts = data["folders"]["contacts"]
    assert contacts["to_exchange"]["created"] == 9
    (error,) = contacts["errors"]
    assert error["direction"] == "to-exchange" and "TypeError" in error["message"]
    assert len(listing(mailbox, "contacts")) == 9
    ledger = synced_home("ledger", "alice", "--json").json
    assert any(e["crm_id"] == error["crm_id"] and e["error"] for e in ledger)


def test_a_meeting_with_an_unreadable_start_fails_alone(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    for n in range(3):
        crm.add(
            "meetings",
            subject=f"M{n}",
            start=f"2026-12-0{n + 1}T09:00:00+00:00",
            end=f"2026-12-0{n + 1}T10:00:00+00:00",
        )
    bad = crm.add("meetings", subject="bad", start="next tuesday", end="later")
    result, data = _sync(synced_home)
    calendar = data["folders"]["calendar"]
    assert calendar["to_exchange"]["created"] == 3
    assert [e["crm_id"] for e in calendar["errors"]] == [bad]
    assert sorted(i.fields["subject"] for i in listing(mailbox, "calendar")) == ["M0", "M1", "M2"]


def test_a_task_with_an_unreadable_percentage_fails_alone(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    for n in range(3):
        crm.add("tasks", subject=f"T{n}", due_date="2026-12-10")
    bad = crm.add("tasks", subject="bad", percent_complete="most of it")
    result, data = _sync(synced_home)
    tasks = data["folders"]["tasks"]
    assert tasks["to_exchange"]["created"] == 3
    assert [e["crm_id"] for e in tasks["errors"]] == [bad]
    assert len(listing(mailbox, "tasks")) == 3
