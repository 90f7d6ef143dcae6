"""The EWS transport's ``watch``: one pull subscription per mailbox, polled with GetEvents,
against the emulator through unmodified exchangelib."""

from __future__ import annotations

import json

import pytest

from tests.support import service_account_for_bob
from wess_core.strategies import ItemRef, MailboxError, NewItem
from wess_plugins.transport_ews.transport import EwsTransport

WATCHED = ["calendar", "contacts", "tasks"]


@pytest.fixture
def transport(ews_account):
    assert ews_account.version  # exchangelib's one-off version probe, not counted below
    return EwsTransport(connection=None, account=ews_account)


def first_watch(transport, server):
    server.reset_counts()
    events = transport.watch(WATCHED, None)
    assert events.renewed and events.changed == frozenset(WATCHED)
    assert dict(server.counts) == {"Subscribe": 1, "GetFolder": 1}
    return events.state


def test_idle_poll_is_one_get_events_and_names_no_folder(transport, ews_server):
    state = first_watch(transport, ews_server)
    for _ in range(3):
        ews_server.reset_counts()
        events = transport.watch(WATCHED, state)
        assert events.changed == frozenset() and not events.renewed
        assert dict(ews_server.counts) == {"GetEvents": 1}
        state = events.state


def test_changes_name_their_folders_once(transport, ews_server, ews_mailbox):
    state = first_watch(transport, ews_server)
    (ref,) = transport.create("contacts", [NewItem(fields={"given_name": "Ann"}, crm_id="c1")])
    ews_mailbox.add_items("tasks", [{"Subject": "do it"}])
    ews_mailbox.add_items("inbox", [{"Subject": "not watched"}])
    events = transport.watch(WATCHED, state)
    assert events.changed == {"contacts", "tasks"} and not events.renewed

    again = transport.watch(WATCHED, events.state)
    assert again.changed == frozenset()

    transport.delete("contacts", [ItemRef(ref.item_id, ref.changekey)])
    after_delete = transport.watch(WATCHED, again.state)
    assert after_delete.changed == {"contacts"}


def test_many_events_page_with_more_events(transport, ews_server, ews_mailbox):
    state = first_watch(transport, ews_server)
    ews_mailbox.add_items("calendar", [{"Subject": f"m{i}"} for i in range(120)])
    ews_server.reset_counts()
    events = transport.watch(WATCHED, state)
    assert events.changed == {"calendar"}
    assert dict(ews_server.counts) == {"GetEvents": 3}
    ews_server.reset_counts()
    assert transport.watch(WATCHED, events.state).changed == frozenset()
    assert dict(ews_server.counts) == {"GetEvents": 1}


def test_expired_subscription_is_renewed_and_every_folder_reported(transport, ews_server):
    state = first_watch(transport, ews_server)
    ews_server.expire_subscriptions("alice@example.com")
    ews_server.reset_counts()
    events = transport.watch(WATCHED, state)
    assert events.renewed and events.changed == frozenset(WATCHED)
    assert dict(ews_server.counts) == {"GetEvents": 1, "Subscribe": 1, "GetFolder": 1}
    ews_server.reset_counts()
    assert transport.watch(WATCHED, events.state).changed == frozenset()
    assert dict(ews_server.counts) == {"GetEvents": 1}


@pytest.mark.parametrize("spoil", ["id", "watermark"])
def test_unknown_subscription_or_watermark_is_renewed(transport, ews_server, spoil):
    state = json.loads(first_watch(transport, ews_server))
    other = json.loads(transport.watch(["inbox"], None).state)
    state[spoil] = other[spoil] if spoil == "watermark" else "U1VCOmdvbmU="
    events = transport.watch(WATCHED, json.dumps(state))
    assert events.renewed and events.changed == frozenset(WATCHED)


def test_other_folders_or_garbled_state_subscribe_again(transport, ews_server):
    state = first_watch(transport, ews_server)
    fewer = transport.watch(["contacts"], state)
    assert fewer.renewed and fewer.changed == {"contacts"}
    assert transport.watch(["contacts"], "not json").renewed


def test_impersonated_transport_watches_the_users_mailbox(ews_server, ews_account_factory):
    svc = service_account_for_bob(ews_server, ews_account_factory)
    transport = EwsTransport(connection=None, account=svc)
    state = transport.watch(WATCHED, None).state
    ews_server.mailbox("alice@example.com").add_items("contacts", [{"DisplayName": "A"}])
    assert transport.watch(WATCHED, state).changed == frozenset()
    ews_server.mailbox("bob@example.com").add_items("contacts", [{"DisplayName": "B"}])
    assert transport.watch(WATCHED, state).changed == {"contacts"}


def test_other_failures_raise(transport, ews_server):
    state = first_watch(transport, ews_server)
    ews_server.inject("response_code", operation="GetEvents", code="ErrorMailboxMoveInProgress")
    with pytest.raises(MailboxError):
        transport.watch(WATCHED, state)
