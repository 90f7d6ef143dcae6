"""To Do tasks (the EWS Tasks folder, percent complete as PidLidPercentComplete) and read-only
messages over Graph, against the mailbox EWS clients use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from exchangelib import HTMLBody, Mailbox, Message, Task

from tests.support.graph import CRM_ID, EXPAND_CRM, PERCENT, crm_id_of, delta_round, latest
from wess_emulator.pytest_plugin import EWS_USER
from wess_plugins.transport_ews.items import CRM_ID_FIELD

ALICE = f"/users/{EWS_USER}"


def _default_list(graph_http) -> str:
    lists = graph_http.get(f"{ALICE}/todo/lists").json()["value"]
    default = [entry for entry in lists if entry["wellknownListName"] == "defaultList"]
    assert [entry["displayName"] for entry in default] == ["Tasks"]
    return default[0]["id"]


def _props(doc: dict) -> dict:
    return {p["id"].lower(): p["value"] for p in doc.get("singleValueExtendedProperties", ())}


def test_task_created_over_graph_reads_over_ews(graph_http, ews_account):
    tasks = f"{ALICE}/todo/lists/{_default_list(graph_http)}/tasks"
    body = {
        "title": "Call Ann",
        "body": {"content": "About the offer", "contentType": "text"},
        "status": "inProgress",
        "importance": "high",
        "dueDateTime": {"dateTime": "2026-05-01T00:00:00.0000000", "timeZone": "UTC"},
        "singleValueExtendedProperties": [
            {"id": CRM_ID, "value": "crm-t1"},
            {"id": PERCENT, "value": "0.5"},
        ],
    }
    created = graph_http.post(tasks, json=body)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert "changeKey" not in doc
    assert doc["@odata.etag"].startswith('W/"')
    assert doc["dueDateTime"] == {"dateTime": "2026-05-01T00:00:00.0000000", "timeZone": "UTC"}
    assert doc["startDateTime"] is None

    task = ews_account.tasks.get(subject="Call Ann")
    assert task.status == "InProgress"
    assert task.importance == "High"
    assert task.percent_complete == 50
    assert task.body == "About the offer"
    assert task.due_date == dt.date(2026, 5, 1)
    assert getattr(task, CRM_ID_FIELD) == "crm-t1"

    expand = f"singleValueExtendedProperties($filter=id eq '{CRM_ID}' or id eq '{PERCENT}')"
    got = graph_http.get(f"{tasks}/{doc['id']}", params={"$expand": expand}).json()
    assert _props(got) == {CRM_ID.lower(): "crm-t1", PERCENT.lower(): "0.5"}
    done = graph_http.patch(
        f"{tasks}/{doc['id']}",
        json={
            "status": "completed",
            "singleValueExtendedProperties": [{"id": PERCENT, "value": "1.0"}],
        },
        headers={"If-Match": doc["@odata.etag"]},
    )
    assert done.status_code == 200
    task = ews_account.tasks.get(subject="Call Ann")
    assert (task.status, task.percent_complete) == ("Completed", 100)


def test_task_written_over_ews_shows_in_tasks_delta(graph_http, ews_account):
    task = Task(
        folder=ews_account.tasks,
        subject="Send quote",
        status="InProgress",
        percent_complete=Decimal(25),
        start_date=dt.date(2026, 4, 2),
    )
    setattr(task, CRM_ID_FIELD, "crm-t2")
    task.save()
    tasks = f"{ALICE}/todo/lists/{_default_list(graph_http)}/tasks"
    expand = f"singleValueExtendedProperties($filter=id eq '{CRM_ID}' or id eq '{PERCENT}')"
    values, link, _ = delta_round(graph_http, f"{tasks}/delta", **{"$expand": expand})
    (doc,) = values
    assert doc["title"] == "Send quote"
    assert doc["status"] == "inProgress"
    assert doc["startDateTime"]["dateTime"].startswith("2026-04-02T00:00:00")
    assert _props(doc) == {CRM_ID.lower(): "crm-t2", PERCENT.lower(): "0.25"}

    task.delete()
    values, _, _ = delta_round(graph_http, link)
    assert values == [{"id": doc["id"], "@removed": {"reason": "deleted"}}]


def test_inbox_mail_reads_over_graph_and_is_read_only(graph_http, ews_account, ews_server):
    Message(
        account=ews_account,
        folder=ews_account.sent,
        subject="Offer",
        body=HTMLBody("<p>Hello <b>Ann</b></p>"),
        to_recipients=[Mailbox(email_address=EWS_USER)],
        cc_recipients=[Mailbox(email_address="carol@example.com")],
    ).send_and_save()
    inbox = f"{ALICE}/mailFolders/inbox/messages"
    values, link, _ = delta_round(graph_http, f"{inbox}/delta", **{"$expand": EXPAND_CRM})
    (doc,) = values
    assert doc["subject"] == "Offer"
    assert doc["body"]["contentType"] == "html"
    assert "<b>Ann</b>" in doc["body"]["content"]
    assert doc["from"]["emailAddress"]["address"] == EWS_USER
    assert [r["emailAddress"]["address"] for r in doc["toRecipients"]] == [EWS_USER]
    assert [r["emailAddress"]["address"] for r in doc["ccRecipients"]] == ["carol@example.com"]
    assert doc["isRead"] is False
    assert crm_id_of(doc) is None
    assert graph_http.get(f"{ALICE}/messages/{doc['id']}").json()["subject"] == "Offer"
    sent = graph_http.get(f"{ALICE}/mailFolders/sentitems/messages").json()["value"]
    assert [m["subject"] for m in sent] == ["Offer"]
    assert graph_http.post(inbox, json={"subject": "x"}).status_code == 405
    assert (
        graph_http.patch(f"{ALICE}/messages/{doc['id']}", json={"isRead": True}).status_code == 405
    )

    message = ews_account.inbox.get(subject="Offer")
    message.is_read = True
    message.save(update_fields=["is_read"])
    changes, link, _ = delta_round(graph_http, link)
    assert [c["isRead"] for c in changes] == [True]
    message.move(ews_account.junk)
    changes, _, _ = delta_round(graph_http, link)
    assert latest(changes)[doc["id"]]["@removed"] == {"reason": "changed"}
    assert ews_server.counts["graph:messages.delta"] == 3
