"""Real syncs over Microsoft Graph: ``wess sync`` of a user whose transport is ``graph``,
through the CLI, against the emulator's Graph endpoint (the same mailboxes its EWS
endpoint serves). What a user notices: records and items on both sides, nothing done
twice, and one request per folder when nothing changed."""

from __future__ import annotations

from tests.support.graph_sync import IDLE, graph_requests, graph_sync

ALICE = "alice@example.com"


def _stored(emu, folder: str, name: str) -> list[str]:
    """One field of every item in alice's mailbox folder, as the emulator stores it."""
    items = emu.mailbox(ALICE).folder(folder).items.values()
    return sorted(item.field_text(name) or "" for item in items)


def test_the_check_on_save_reads_the_mailbox_once(graph_site, emu):
    assert graph_requests(emu.counts) == {"graph:users.get": 1, "graph:contacts.folder": 1}
    assert emu.counts["<token>"] == 1
    emu.reset_counts()
    r = graph_site("test-connection", "alice")
    assert r.exit_code == 0, r.stderr
    assert emu.counts["<token>"] == 0  # MSAL's cache, kept encrypted by the core


def test_contacts_sync_both_ways_and_a_second_run_changes_nothing(graph_site, emu, crm):
    crm.add("people", first_name="Ann", last_name="Lee", email="ann@example.com")
    emu.mailbox(ALICE).add_items(
        "contacts",
        [
            {
                "kind": "Contact",
                "GivenName": "Bo",
                "Surname": "Ng",
                "CompanyName": "Acme",
                "email_addresses": {"EmailAddress1": "bo@example.com"},
            }
        ],
    )
    data = graph_sync(graph_site)
    contacts = data["folders"]["contacts"]
    assert contacts["to_exchange"]["created"] == 1 and contacts["to_crm"]["created"] == 1
    assert _stored(emu, "contacts", "GivenName") == ["Ann", "Bo"]
    people = {p["fields"]["first_name"]: p for p in crm.list("people")}
    assert people["Bo"]["fields"]["company"] == "Acme"
    assert people["Bo"]["fields"]["email"] == "bo@example.com"

    emu.reset_counts()
    again = graph_sync(graph_site)
    assert again["total_changes"] == 0
    assert graph_requests(emu.counts) == IDLE


def test_an_edit_on_either_side_reaches_the_other(graph_site, emu, crm):
    ann = crm.add("people", first_name="Ann", last_name="Lee", email="ann@example.com")
    graph_sync(graph_site)
    crm.update("people", ann, job_title="CEO")
    assert graph_sync(graph_site)["folders"]["contacts"]["to_exchange"]["updated"] == 1
    assert _stored(emu, "contacts", "JobTitle") == ["CEO"]

    (item,) = emu.mailbox(ALICE).folder("contacts").items.values()
    item.elem.find("{*}Surname").text = "Lee-Smith"
    emu.mailbox(ALICE).update_item(item)
    assert graph_sync(graph_site)["folders"]["contacts"]["to_crm"]["updated"] == 1
    (person,) = crm.list("people")
    assert person["fields"]["last_name"] == "Lee-Smith"
    assert person["fields"]["job_title"] == "CEO"

    crm.delete("people", ann)
    assert graph_sync(graph_site)["folders"]["contacts"]["to_exchange"]["deleted"] == 1
    assert _stored(emu, "contacts", "GivenName") == []


def test_tasks_sync_both_ways_with_their_percentage(graph_site, emu, crm):
    crm.add("tasks", subject="Send quote", due_date="2026-05-01", status="in_progress")
    emu.mailbox(ALICE).add_items(
        "tasks",
        [{"kind": "Task", "Subject": "Call Bo", "PercentComplete": "40", "Status": "InProgress"}],
    )
    data = graph_sync(graph_site)
    tasks = data["folders"]["tasks"]
    assert tasks["to_exchange"]["created"] == 1 and tasks["to_crm"]["created"] == 1
    assert _stored(emu, "tasks", "Subject") == ["Call Bo", "Send quote"]
    assert _stored(emu, "tasks", "DueDate")[1].startswith("2026-05-01")
    records = {t["fields"]["subject"]: t["fields"] for t in crm.list("tasks")}
    assert records["Call Bo"]["percent_complete"] == 40
    assert records["Call Bo"]["status"] == "in_progress"

    (call,) = [t for t in crm.list("tasks") if t["fields"]["subject"] == "Call Bo"]
    crm.update("tasks", call["id"], percent_complete=75)
    assert graph_sync(graph_site)["folders"]["tasks"]["to_exchange"]["updated"] == 1
    assert "75" in _stored(emu, "tasks", "PercentComplete")
    assert graph_sync(graph_site)["total_changes"] == 0


def test_inbox_mail_is_filed_in_the_crm_and_never_written_back(graph_site, emu, crm):
    emu.mailbox(ALICE).add_items(
        "inbox",
        [
            {"kind": "Message", "Subject": "Quote", "Body": "Prices below"},
            {"kind": "Message", "Subject": "Hello", "Body": "Hi Alice"},
        ],
    )
    data = graph_sync(graph_site)
    assert data["folders"]["email-inbox"]["to_crm"]["created"] == 2
    mails = {m["fields"]["subject"]: m["fields"] for m in crm.list("emails")}
    assert mails["Quote"]["body"] == "Prices below"
    assert mails["Quote"]["direction"] == "in"

    emu.reset_counts()
    assert graph_sync(graph_site)["total_changes"] == 0
    assert graph_requests(emu.counts) == IDLE
