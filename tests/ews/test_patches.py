"""The patches of exchangelib's private internals (``transport_ews.patches``) against the
installed exchangelib: every private name they use is still there, with the signature
they override, and what they build is what exchangelib builds."""

from __future__ import annotations

import inspect

import pytest
from exchangelib import CalendarItem, Contact
from exchangelib.autodiscover import Autodiscovery
from exchangelib.folders import Contacts, Root
from exchangelib.properties import DistinguishedFolderId, Mailbox, OccurrenceItemId
from exchangelib.protocol import CachingProtocol
from exchangelib.services import (
    CreateItem,
    DeleteItem,
    GetItem,
    GetStreamingEvents,
    SubscribeToStreaming,
    SyncFolderItems,
    UpdateItem,
)
from exchangelib.services.common import EWSAccountService, EWSService

from wess_core.strategies import NewItem
from wess_plugins.transport_ews import patches, templates
from wess_plugins.transport_ews.transport import EwsTransport

OURS = [
    (patches.WessSyncFolderItems, SyncFolderItems),
    (patches.WessGetItem, GetItem),
    (patches.WessCreateItem, CreateItem),
    (patches.WessUpdateItem, UpdateItem),
    (patches.WessDeleteItem, DeleteItem),
    (patches.BoundedAutodiscovery, Autodiscovery),
    (patches.GroupSubscribe, SubscribeToStreaming),
    (patches.GroupStream, GetStreamingEvents),
]


def _private_overrides(cls: type) -> set[str]:
    """The private methods ``cls`` (a WESS service) defines on top of exchangelib's."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass.__module__ == patches.__name__:
            names |= {
                n
                for n, value in vars(klass).items()
                if n.startswith("_") and not n.startswith("__") and _is_method(value)
            }
    return names


def _is_method(value: object) -> bool:
    return inspect.isfunction(getattr(value, "__func__", value))


@pytest.mark.parametrize(("ours", "theirs"), OURS, ids=lambda c: c.__name__)
def test_every_private_method_overridden_exists_with_its_signature(ours, theirs):
    overridden = _private_overrides(ours)
    assert overridden  # each service overrides at least one
    for name in overridden:
        original = getattr(theirs, name, None)
        assert original is not None, f"exchangelib's {theirs.__name__} has no {name} any more"
        assert _parameters(ours, name) == _parameters(theirs, name), name


def _parameters(cls: type, name: str) -> list[str]:
    """A method's parameters but ``self`` / ``cls`` (an override may be an instance method
    where exchangelib has a classmethod: they are called alike)."""
    function = inspect.getattr_static(cls, name)
    function = getattr(function, "__func__", function)  # a classmethod, a staticmethod
    return [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]


def test_private_names_used_by_the_patches_exist():
    fields = {f.name for f in CalendarItem.FIELDS}
    assert {patches.START_TIMEZONE, patches.END_TIMEZONE} <= fields
    assert "_id" in {f.name for f in CalendarItem.FIELDS}
    assert "_distinguished_id" in {f.name for f in Contacts.FIELDS}
    for name in ("_cache_key", "_protocol_cache", "_protocol_cache_lock"):
        assert hasattr(CachingProtocol, name), name
    for name in ("_get_exception", "_raise_soap_errors", "_get_soap_parts", "_get_response"):
        assert hasattr(EWSService, name), name
    assert hasattr(EWSAccountService, "_get_element_container")
    search = Autodiscovery("ann@example.com")
    assert isinstance(search._urls_visited, list)  # a skipped URL counts as visited


def test_folders_built_without_a_request_are_exchangelibs(ews_account):
    mailbox = Mailbox(email_address=ews_account.primary_smtp_address)
    root = patches.root_folder(Root, ews_account, mailbox)
    folder = patches.distinguished_folder(Contacts, root, mailbox)
    assert patches.mailbox_of(folder) is mailbox
    expected = DistinguishedFolderId(id="contacts", mailbox=mailbox)
    assert folder.to_id() == expected
    assert root.to_id() == DistinguishedFolderId(id="root", mailbox=mailbox)
    assert folder.root is root and root.account is ews_account


def test_an_item_addressed_by_an_occurrence_id():
    target = OccurrenceItemId(id="AAMk", changekey="CQAA", instance_index=3)
    item = patches.item_with_id(CalendarItem, target, subject="x")
    assert item.to_id() is target and item.subject == "x"
    assert patches.item_with_id(Contact, target).to_id() is target


def test_a_failed_protocol_is_forgotten_and_a_working_one_kept(ews_account):
    config = ews_account.protocol.config
    key = CachingProtocol._cache_key(config)
    with CachingProtocol._protocol_cache_lock:
        kept = CachingProtocol._protocol_cache.get(key)
    assert kept is not None and not isinstance(kept[0], Exception)
    patches.forget_cached_failure(config)
    with CachingProtocol._protocol_cache_lock:
        assert CachingProtocol._protocol_cache.get(key) is kept
        CachingProtocol._protocol_cache[key] = (ValueError("down"), None)
    try:
        patches.forget_cached_failure(config)
        with CachingProtocol._protocol_cache_lock:
            assert key not in CachingProtocol._protocol_cache
    finally:
        with CachingProtocol._protocol_cache_lock:
            CachingProtocol._protocol_cache[key] = kept


# -- SyncFolderItems from per-process templates ------------------------------------------


def _sync_arguments(transport: EwsTransport, folder: str, state: str | None) -> dict:
    """SyncFolderItems' arguments as the transport passes them."""
    return dict(
        folder=transport._folder(folder),
        shape="IdOnly",
        additional_fields=transport._field_paths(folder),
        sync_state=state,
        ignore=None,
        max_changes_returned=512,
        sync_scope=None,
    )


def test_sync_request_built_from_the_process_templates_is_exchangelibs_own(
    ews_server, ews_account_factory
):
    """The SyncFolderItems request written from the per-process templates is byte for
    byte what exchangelib builds, for every mailbox; and each mailbox reads its own
    items."""
    from exchangelib.services import SyncFolderItems

    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    alice = EwsTransport(connection=None, account=ews_account_factory())
    bob_account = ews_account_factory("bob@example.com", "Bob-Pass-1")
    bob = EwsTransport(connection=None, account=bob_account)
    for transport in (alice, bob, alice):
        for folder in ("contacts", "calendar", "tasks", "inbox", "sentitems"):
            kwargs = _sync_arguments(transport, folder, "c3Rh")
            ours = patches.WessSyncFolderItems(account=transport.account)
            theirs = SyncFolderItems(account=transport.account)
            assert ours.wrap(ours.get_payload(**kwargs), "Exchange2016") == theirs.wrap(
                theirs.get_payload(**kwargs), "Exchange2016"
            )
    alice.create("contacts", [NewItem(fields={"given_name": "Ann"}, crm_id="crm-a")])
    assert [c.item.crm_id for c in alice.changes("contacts", None).changes] == ["crm-a"]
    assert bob.changes("contacts", None).changes == []


def test_sync_requests_written_from_templates_are_exchangelibs_bytes(
    ews_server, ews_account_factory
):
    """Whole SyncFolderItems requests (envelope and body) filled into the per-process
    templates are byte for byte what exchangelib sends, whichever request of a kind came
    first: other mailboxes, sync states or none, server versions, impersonation, and
    addresses that need escaping (those are built by exchangelib)."""
    from exchangelib import IMPERSONATION
    from exchangelib.services import SyncFolderItems

    templates._ENVELOPES.clear()
    templates._BODIES.clear()
    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    accounts = [
        ews_account_factory(),
        ews_account_factory("bob@example.com", "Bob-Pass-1"),
        ews_account_factory(access_type=IMPERSONATION),
        ews_account_factory(access_type=IMPERSONATION, primary_smtp_address="bob@example.com"),
        ews_account_factory(primary_smtp_address="o'neil&co<x>@example.com"),
    ]
    written = 0
    for _ in range(2):
        for account in accounts:
            transport = EwsTransport(connection=None, account=account)
            for folder in ("contacts", "calendar", "inbox"):
                for state in (None, "", "c3RhdGUx", "c3RhdGUy+/=="):
                    for version in ("Exchange2016", "Exchange2013_SP1"):
                        kwargs = _sync_arguments(transport, folder, state)
                        ours = patches.WessSyncFolderItems(account=account)
                        theirs = SyncFolderItems(account=account)
                        payload = ours.get_payload(**kwargs)
                        written += type(payload) is templates.Prepared
                        assert ours.wrap(payload, version) == theirs.wrap(
                            theirs.get_payload(**kwargs), version
                        )
    assert written == 2 * 4 * 3 * 4 * 2  # all but the address that needs escaping
    # shared by the mailboxes: per folder kind, with and without a state (and exchangelib's
    # mailbox element before and after it filled in its defaults)
    assert len(templates._BODIES) <= 3 * 2 * 2
    assert all(templates._BODIES.values())


def test_a_stream_keeps_its_response_where_group_stream_cuts_it(ews_account):
    """``GroupStream.cut`` finds the open answer as exchangelib keeps it."""
    stream = patches.GroupStream(account=ews_account, affinity=patches.Affinity("a@x"))
    assert hasattr(stream, "_streaming_response") and stream._streaming_response is None
    stream.cut()  # nothing open: nothing to do
