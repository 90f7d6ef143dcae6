"""Pull and streaming subscriptions on the emulator, through unmodified exchangelib."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from exchangelib import (
    IMPERSONATION,
    UTC,
    CalendarItem,
    Contact,
    EWSDateTime,
    FolderCollection,
)
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorExpiredSubscription,
    ErrorImpersonateUserDenied,
    ErrorInvalidRequest,
    ErrorInvalidWatermark,
    ErrorSubscriptionNotFound,
)
from exchangelib.properties import (
    CreatedEvent,
    DeletedEvent,
    DistinguishedFolderId,
    Mailbox,
    ModifiedEvent,
    MovedEvent,
    StatusEvent,
)
from exchangelib.recurrence import Recurrence, WeeklyPattern

from tests.support import service_account_for_bob

HOUR = dt.timedelta(hours=1)
EVENTS = ["CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "CopiedEvent"]


def pull(account, *folders, timeout=60):
    collection = FolderCollection(account=account, folders=list(folders))
    return collection.subscribe_to_pull(event_types=EVENTS, timeout=timeout)


def events_of(account, sub_id, watermark):
    """Every event since ``watermark`` (all pages) and the watermark to go on from."""
    found = []
    while True:
        note = poll_once(account, sub_id, watermark)
        found.extend(note.events)
        watermark = note.events[-1].watermark
        if not note.more_events:
            return found, watermark


def poll_once(account, sub_id, watermark):
    """One GetEvents: its Notification. (``Folder.get_events`` repeats the same watermark
    while MoreEvents is true, so a caller pages by hand.)"""
    return next(iter(account.root.get_events(sub_id, watermark)))


def test_events_name_the_folder_of_each_change(ews_account, ews_server):
    sub_id, watermark = pull(ews_account, ews_account.contacts, ews_account.calendar)
    contact = Contact(folder=ews_account.contacts, display_name="Ann").save()
    start = EWSDateTime(2026, 3, 2, 12, tzinfo=UTC)
    meeting = CalendarItem(
        folder=ews_account.calendar, subject="Lunch", start=start, end=start + HOUR
    ).save()
    contact.display_name = "Ann B."
    contact.save(update_fields=["display_name"])
    meeting.delete()
    Contact(folder=ews_account.inbox, display_name="not watched").save()

    found, watermark = events_of(ews_account, sub_id, watermark)

    contacts, calendar = ews_account.contacts.id, ews_account.calendar.id
    got = [(type(e), e.parent_folder_id.id) for e in found]
    assert got == [
        (CreatedEvent, contacts),
        (CreatedEvent, calendar),
        (ModifiedEvent, contacts),
        (DeletedEvent, calendar),
    ]
    assert found[0].item_id.id == contact.id
    again, _ = events_of(ews_account, sub_id, watermark)
    assert [type(e) for e in again] == [StatusEvent]


def test_delete_to_trash_is_a_move_out_of_the_watched_folder(ews_account):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    contact = Contact(folder=ews_account.contacts, display_name="Ann").save()
    old_id = contact.id
    contact.move_to_trash()
    found, _ = events_of(ews_account, sub_id, watermark)
    assert [type(e) for e in found] == [CreatedEvent, MovedEvent]
    moved = found[1]
    assert moved.old_parent_folder_id.id == ews_account.contacts.id
    assert moved.parent_folder_id.id == ews_account.trash.id
    assert moved.old_item_id.id == old_id


def test_a_changed_or_deleted_occurrence_is_a_modified_master(ews_account):
    start = EWSDateTime(2030, 1, 7, 10, tzinfo=UTC)
    master = CalendarItem(
        folder=ews_account.calendar,
        subject="Weekly sync",
        start=start,
        end=start + HOUR,
        recurrence=Recurrence(
            pattern=WeeklyPattern(interval=1, weekdays=[1], first_day_of_week=1),
            start=dt.date(2030, 1, 7),
            number=5,
        ),
    ).save()
    sub_id, watermark = pull(ews_account, ews_account.contacts, ews_account.calendar)
    second = master.occurrence(index=2)
    second.refresh()
    second.subject = "moved"
    second.save(update_fields=["subject"])
    third = master.occurrence(index=3)
    third.refresh()
    third.delete()
    found, _ = events_of(ews_account, sub_id, watermark)
    calendar = ews_account.calendar.id
    assert [(type(e), e.item_id.id, e.parent_folder_id.id) for e in found] == [
        (ModifiedEvent, master.id, calendar),
        (ModifiedEvent, master.id, calendar),
    ]


def test_seeded_items_produce_events_too(ews_account, ews_mailbox):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    ews_mailbox.add_items("contacts", [{"DisplayName": "Seeded"}])
    found, _ = events_of(ews_account, sub_id, watermark)
    assert [type(e) for e in found] == [CreatedEvent]


def test_more_events_pages_of_fifty(ews_account, ews_mailbox, ews_server):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    ews_mailbox.add_items("contacts", [{"DisplayName": f"C{i}"} for i in range(120)])
    ews_server.reset_counts()
    found, _ = events_of(ews_account, sub_id, watermark)
    assert len(found) == 120
    assert len({e.item_id.id for e in found}) == 120
    assert ews_server.counts["GetEvents"] == 3


def test_nothing_happened_is_one_status_event(ews_account, ews_server):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    ews_server.reset_counts()
    note = poll_once(ews_account, sub_id, watermark)
    assert [type(e) for e in note.events] == [StatusEvent]
    assert note.more_events is False
    assert ews_server.counts == {"GetEvents": 1}


def test_expired_unknown_and_unissued_watermark_are_refused(ews_account, ews_server):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    Contact(folder=ews_account.contacts, display_name="Ann").save()
    note = poll_once(ews_account, sub_id, watermark)
    newest = note.events[-1].watermark
    # a watermark of another subscription, and one older than the acknowledged one
    other_id, other_watermark = pull(ews_account, ews_account.calendar)
    with pytest.raises(ErrorInvalidWatermark):
        poll_once(ews_account, sub_id, other_watermark)
    poll_once(ews_account, sub_id, newest)
    with pytest.raises(ErrorInvalidWatermark):
        poll_once(ews_account, sub_id, watermark)
    with pytest.raises(ErrorSubscriptionNotFound):
        poll_once(ews_account, "U1VCOm5vLXN1Y2g=", newest)

    assert ews_server.expire_subscriptions("alice@example.com") == 2
    with pytest.raises(ErrorExpiredSubscription):
        poll_once(ews_account, sub_id, newest)
    ews_account.root.unsubscribe(other_id)
    with pytest.raises(ErrorSubscriptionNotFound):
        poll_once(ews_account, other_id, other_watermark)


def test_unsubscribe_forgets_the_subscription(ews_account):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    assert ews_account.root.unsubscribe(sub_id) is True
    with pytest.raises(ErrorSubscriptionNotFound):
        poll_once(ews_account, sub_id, watermark)


def test_impersonated_subscription_watches_that_mailbox(ews_server, ews_account_factory):
    svc = service_account_for_bob(ews_server, ews_account_factory)
    sub_id, watermark = pull(svc, svc.contacts)
    ews_server.mailbox("bob@example.com").add_items("contacts", [{"DisplayName": "B"}])
    ews_server.mailbox("alice@example.com").add_items("contacts", [{"DisplayName": "A"}])
    found, _ = events_of(svc, sub_id, watermark)
    assert [(type(e), e.parent_folder_id.id) for e in found] == [(CreatedEvent, svc.contacts.id)]


def test_impersonation_without_the_right_is_refused(ews_server, ews_account_factory):
    ews_server.add_user("bob@example.com", "Bob-pw-1")
    alice_as_bob = ews_account_factory(
        primary_smtp_address="bob@example.com", access_type=IMPERSONATION
    )
    contacts = DistinguishedFolderId(
        id="contacts", mailbox=Mailbox(email_address="bob@example.com")
    )
    collection = FolderCollection(account=alice_as_bob, folders=[contacts])
    with pytest.raises(ErrorImpersonateUserDenied):
        collection.subscribe_to_pull(event_types=EVENTS, timeout=5)
    alice = ews_account_factory()
    bobs = DistinguishedFolderId(id="contacts", mailbox=Mailbox(email_address="bob@example.com"))
    with pytest.raises(ErrorAccessDenied):
        FolderCollection(account=alice, folders=[bobs]).subscribe_to_pull(
            event_types=EVENTS, timeout=5
        )
    assert ews_server.subscriptions.count() == 0


def test_a_streamed_change_arrives_at_once_and_the_stream_closes(
    ews_account, ews_server, ews_account_factory
):
    ews_server.streaming_timeout_seconds = 3
    collection = FolderCollection(account=ews_account, folders=[ews_account.contacts])
    sub_id = collection.subscribe_to_streaming(event_types=EVENTS)
    arrived: list[tuple[float, object]] = []

    def listen():
        for note in ews_account.root.get_streaming_events(sub_id, connection_timeout=1):
            arrived.extend((time.monotonic(), e) for e in note.events)

    listener = threading.Thread(target=listen)
    listener.start()
    time.sleep(0.5)
    writer = ews_account_factory()  # its own connection: the stream holds the listener's
    made_at = time.monotonic()
    Contact(folder=writer.contacts, display_name="Live").save()
    started = time.monotonic()
    listener.join(timeout=10)
    assert not listener.is_alive()
    assert time.monotonic() - started < 5  # closed at the emulator's cap, not a minute
    assert [type(e) for _, e in arrived] == [CreatedEvent]
    assert arrived[0][0] - made_at < 1.0
    assert ews_server.counts["GetStreamingEvents"] == 1


def test_more_than_200_streaming_subscriptions_are_refused(ews_account, ews_server):
    ews_server.streaming_timeout_seconds = 1
    collection = FolderCollection(account=ews_account, folders=[ews_account.contacts])
    ids = [collection.subscribe_to_streaming(event_types=EVENTS) for _ in range(201)]
    with pytest.raises(ErrorInvalidRequest):
        list(ews_account.root.get_streaming_events(ids, connection_timeout=1))
    assert list(ews_account.root.get_streaming_events(ids[:200], connection_timeout=1)) == []


def test_graph_writes_produce_events(ews_account, graph_http):
    sub_id, watermark = pull(ews_account, ews_account.contacts)
    made = graph_http.post(
        "/users/alice@example.com/contacts", json={"givenName": "Gr", "displayName": "Gr"}
    )
    assert made.status_code == 201, made.text
    url = f"/users/alice@example.com/contacts/{made.json()['id']}"
    assert graph_http.patch(url, json={"jobTitle": "Chair"}).status_code == 200
    assert graph_http.delete(url).status_code == 204
    found, _ = events_of(ews_account, sub_id, watermark)
    assert [type(e) for e in found] == [CreatedEvent, ModifiedEvent, DeletedEvent]
    assert {e.parent_folder_id.id for e in found} == {ews_account.contacts.id}
