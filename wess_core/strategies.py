"""The strategy objects plugins register: item types, CRM backends, mailbox transports.

This module is the plugin author's reference for the three sync strategies. The
sync engine (``wess_core.sync.engine``) only ever talks to these interfaces, so a
connector for a real CRM's API, or a Microsoft Graph transport next to the EWS one,
is written against this page alone. ``wess_core.sync.memory`` holds in-memory
implementations of both (read them as worked examples), and
``wess_core.sync.contract`` the shared tests every implementation must pass. What
connecting strategies declare and produce (settings, credentials, plugin storage, the
auth and discovery interfaces) is in ``wess_core.strategy_connecting``, the errors in
``wess_core.strategy_errors``; both are re-exported here.

Three rules hold for every bulk call (they come from exchangelib):

* **One result per input, in input order.** A bulk call returns a list as long as
  its input; each entry is the result for that input or the *exception instance*
  describing why that one item failed. One bad item never sinks its batch. Raise
  from the call itself only when nothing was done (the server is unreachable).
* **Batches are small.** The engine never passes more than ``max_batch`` inputs.
* **Ids and tokens are opaque strings**, stored by the engine as they are and only
  compared for equality.

Field names. CRM records use the canonical WESS field names listed in
``wess_core.sync.itemtypes`` (people: ``first_name``, ``last_name``, ``email``,
``company``, ``job_title``, ``phone`` ...); a connector for another CRM translates
its API's names to these. Mailbox items use *neutral item fields*, named after
exchangelib's attributes so the EWS transport maps them 1:1 and a Graph transport
translates them once (contacts: ``given_name``, ``surname``, ``company_name``,
``job_title``, ``display_name``, ``email_addresses`` (``[{"label": "EmailAddress1",
"email"}]``), ``phone_numbers`` (``[{"label": "BusinessPhone", "phone_number"}]``),
``physical_addresses`` (``[{"label": "Business", "street", "city", "state", "zipcode",
"country"}]``), ``body``; calendar: ``subject``, ``start``, ``end`` (ISO 8601 with offset,
local times in ``timezone``; dates when all-day), ``timezone`` (IANA name; absent: UTC),
``is_all_day``, ``location``, ``body``, ``required_attendees`` (addresses),
``reminder_is_set``, ``reminder_minutes_before_start``, ``recurrence``, ``modified_occurrences``,
``deleted_occurrences``, ``uid`` (the iCalendar UID; read-only, for matching); tasks:
``subject``, ``start_date``, ``due_date``, ``status``, ``percent_complete``, ``body``;
messages: ``subject``, ``sender``, ``to_recipients``, ``cc_recipients``,
``datetime_received``, ``body``, ``message_id``). Values are JSON types only (str, int,
float, bool, None, list, dict), so both sides can be hashed and stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from wess_core.strategy_connecting import *  # noqa: F403 - part of this contract
from wess_core.strategy_errors import *  # noqa: F403 - part of this contract

if TYPE_CHECKING:
    import threading

T = TypeVar("T")
#: One entry of a bulk call's answer: the result, or the exception for that input.
Outcome = T | Exception

#: Folder names an item type may use (well-known Exchange folders).
FOLDERS = ("contacts", "calendar", "tasks", "inbox", "sentitems")
#: Record types the built-in CRM knows; other CRMs may add their own.
RECORD_TYPES = ("people", "meetings", "tasks", "emails")


class Direction(StrEnum):
    """Which way an item type syncs."""

    TWO_WAY = "two-way"
    #: Mailbox changes reach the CRM; nothing is ever written to the mailbox, CRM edits
    #: are not sent back, and deleting the mail leaves the CRM's archived copy alone.
    EXCHANGE_TO_CRM = "exchange-to-crm"


# -- errors a transport or connector returns (per item) or raises (per call) -----
# (defined in ``wess_core.strategy_errors``; part of this contract, import them from here)


# -- what the mailbox side exchanges ----------------------------------------------


@dataclass(frozen=True)
class ItemRef:
    """Where a mailbox item is and which version of it the caller has seen."""

    item_id: str
    changekey: str


@dataclass
class MailboxItem:
    """One item as the mailbox holds it."""

    item_id: str
    changekey: str
    fields: dict[str, Any]
    #: The CRM record id stored on the item when WESS created it (EWS: an extended
    #: property; Graph: an open extension). ``None`` for items a person created.
    crm_id: str | None = None
    #: Last modification time, ISO 8601 with offset (only the newest-wins policy uses it).
    modified: str | None = None

    @property
    def ref(self) -> ItemRef:
        return ItemRef(self.item_id, self.changekey)


@dataclass
class MailboxChange:
    """One entry of a change page: an item now exists in this version, or is gone.

    EWS Create / Update / ReadFlagChange and Graph delta items are all
    ``deleted=False``; EWS Delete and Graph ``@removed`` are ``deleted=True``.
    ``item`` carries the content when the transport has it at hand (EWS
    SyncFolderItems with properties, Graph delta); leave it ``None`` and the engine
    fetches the content with ``get`` only if the changekey is not one it wrote itself.
    A deletion of an item the engine never saw is harmless.
    """

    item_id: str
    changekey: str | None = None
    deleted: bool = False
    item: MailboxItem | None = None


@dataclass
class ChangesPage:
    """One answer of ``Transport.changes``."""

    changes: list[MailboxChange]
    #: The token that continues after this page (EWS sync state, Graph deltaLink).
    token: str
    #: ``True`` when the folder has no more changes right now.
    done: bool


@dataclass
class NewItem:
    """An item to create; the transport stores ``crm_id`` on it in the same request."""

    fields: dict[str, Any]
    crm_id: str


@dataclass
class ItemUpdate:
    """New content for an existing item. Fields not named are left as they are; a field
    set to ``None`` is cleared. With ``changekey`` the transport refuses (``ItemChanged``)
    when the item changed since."""

    item_id: str
    fields: dict[str, Any]
    changekey: str | None = None


@dataclass(frozen=True)
class FolderEvents:
    """What one poll of a user's subscription found (``Transport.watch``)."""

    #: Folders (engine folder names, as ``ItemType.folder``) with events since the last
    #: poll; every watched folder when the subscription was new, lost or expired.
    changed: frozenset[str]
    #: Opaque state to store and hand to the next ``watch`` (subscription id, watermark,
    #: whatever the transport needs, e.g. its folder-id → name map); JSON is fine.
    state: str
    #: True when the subscription was (re)created by this call (first run, expired, not
    #: found, invalid watermark): the caller runs every watched folder.
    renewed: bool = False


@runtime_checkable
class Transport(Protocol):
    """The mailbox interface: how the engine reads and writes one user's mailbox.

    The factory registered through ``wess_register_transports`` receives the user's
    resolved connection and returns one of these, bound to that mailbox. Folders are
    the well-known names in ``FOLDERS``. Implementations: ``ews`` (exchangelib);
    ``MemoryMailbox`` in ``wess_core.sync.memory`` for tests.

    An idle sync costs exactly one ``changes`` call per folder and nothing else, so
    ``changes`` should be one request when nothing changed.

    The factory may declare ``needs_ews_url = True`` (the ``ews`` transport does): the
    core then runs the user's discovery method and hands the factory a connection whose
    ``url`` is the EWS URL found (cached on the profile). A transport that finds its
    mailbox some other way (Microsoft Graph) leaves it out and gets the connection as
    resolved. The user picks a transport by name: ``wess users set LOGIN --transport
    NAME``, or the account's default ``wess connection set --transport NAME``.

    The factory may also declare ``check(connection)``: the credential check on save and
    ``wess test-connection`` (read the mailbox once; raise
    ``wess_core.errors.CredentialsRejected`` with a readable reason). It gets the auth
    method's ``Credential`` with ``plugins.auth_methods().get(connection.auth)
    .credential(connection)``. Without ``check`` the core builds the transport as the
    check. ``settings`` (a tuple of ``Setting``) declares what the transport needs
    configured; it reads them as ``connection.settings[name]``.

    Switching transports: a transport may name its ids with ``id_space`` (``"ews"``,
    ``"graph"``). When a folder's stored ids are another space's, the engine asks the
    optional ``adopt_ids(folder, item_ids, from_space) -> dict[old_id, new_id]`` for
    what it can convert, keeps those pairs, and links the rest again by CRM id or match
    keys (``wess_core.sync.engine.adopt``); nothing is created or deleted by a switch.

    Pull subscriptions: a transport may define ``watch(folders, state) -> FolderEvents``
    (optional, not part of the protocol check). With it, and the account setting
    ``pull_subscriptions`` on, a run first asks ``watch`` which of the synced folders
    had events since the last run (one request when nothing changed), and only those
    folders are read with ``changes``; the others keep their token and still receive
    the CRM's changes. ``state`` is what the previous ``watch`` returned as
    ``FolderEvents.state`` (stored by the engine before any folder syncs), or ``None``.
    ``state`` None, or a state for other folders → subscribe (EWS: one Subscribe with
    every folder's FolderId, event types Created / Deleted / Modified / Moved / Copied,
    a Timeout in minutes) and report every folder changed with ``renewed=True``.
    Otherwise one poll (EWS GetEvents, again while MoreEvents) since the stored
    watermark → the folders named by the events (ParentFolderId and
    OldParentFolderId). A subscription the server no longer knows (EWS
    ErrorSubscriptionNotFound / ErrorExpiredSubscription / ErrorInvalidWatermark) →
    subscribe again, every folder changed, ``renewed=True``. Other errors (auth,
    unreachable, throttled) raise as any transport call does; the run then fails and
    the next one polls again from the old state. The engine's own writes show up as
    events too (one redundant ``changes`` next run: harmless). A transport without
    ``watch`` is polled with ``changes`` on every folder, as before.

    Streaming notifications (``wess run --push``): the transport FACTORY (not one
    user's transport) may offer ``watch_streams(connections, on_change, stop)``
    (:class:`StreamWatcher`). It keeps a streaming subscription open for every given
    user's synced folders and calls ``on_change(login)`` as soon as that user's mailbox
    has an event in one of them; the scheduler then syncs that user at once. It returns
    within a few seconds of ``stop`` being set, rides out lost connections (reconnects
    with a bounded back-off) and lost subscriptions (subscribes that user again and calls
    ``on_change(login)`` once, since events may have been missed), and skips (and logs)
    a user whose credentials fail without stopping the others. It is per factory because
    a server shares one streaming connection among many mailboxes (EWS: up to 200 of one
    server and service account). A factory without it is polled only.
    """

    #: The most inputs the engine may pass to one get / create / update / delete.
    max_batch: int

    def changes(self, folder: str, token: str | None) -> ChangesPage:
        """Changes in ``folder`` since ``token``; ``None`` lists every item as a change.

        The engine calls again with the returned token until ``done``. It stores the
        token only after applying the changes it covers. Raise ``InvalidSyncState``
        when the token has expired or is not recognised.
        """
        ...

    def get(self, folder: str, item_ids: Sequence[str]) -> list[Outcome[MailboxItem]]:
        """The current content of each item (``ItemNotFound`` for a missing one)."""
        ...

    def create(self, folder: str, items: Sequence[NewItem]) -> list[Outcome[ItemRef]]:
        """Create each item, storing its ``crm_id`` on it atomically with the create."""
        ...

    def update(self, folder: str, updates: Sequence[ItemUpdate]) -> list[Outcome[ItemRef]]:
        """Apply each update; the result is the item's new id and changekey."""
        ...

    def delete(self, folder: str, refs: Sequence[ItemRef]) -> list[Outcome[None]]:
        """Delete each item (to Deleted Items is fine). A missing item counts as deleted:
        return ``None`` for it, not ``ItemNotFound``."""
        ...


class StreamWatcher(Protocol):
    """What a transport factory offering streaming notifications has (see
    ``Transport``, "Streaming notifications"; optional, looked up with ``getattr``)."""

    def watch_streams(
        self,
        connections: Sequence[Any],
        on_change: Callable[[str], None],
        stop: threading.Event,
    ) -> None:
        """Stream every connection's (``wess_core.connection.Connection``) synced
        folders until ``stop``; ``on_change(login)`` per user with events."""
        ...


# -- what the CRM side exchanges --------------------------------------------------


@dataclass
class CrmRecord:
    """One CRM record as the connector reports it; also one entry of ``changes``.

    A deleted record (a tombstone) has ``deleted=True`` and empty ``fields``.
    """

    id: str
    #: Increases on every write to the record (a number, an etag, a timestamp ...);
    #: the engine only compares it for equality to recognise its own writes.
    revision: int | str
    fields: dict[str, Any] = field(default_factory=dict)
    #: The mailbox item id this record was created from (set by the engine on create),
    #: so an interrupted sync re-links instead of duplicating.
    exchange_id: str | None = None
    deleted: bool = False
    #: Last modification time, ISO 8601 with offset (only newest-wins uses it).
    modified: str | None = None


#: A change reported by ``CrmBackend.changes`` is a record or a tombstone.
CrmChange = CrmRecord


@dataclass
class NewRecord:
    """A record to create; ``exchange_id`` is the mailbox item it comes from."""

    fields: dict[str, Any]
    exchange_id: str | None = None


@dataclass
class RecordUpdate:
    """New field values for a record. Fields not named stay; a field set to ``None`` is
    removed. With ``expected_revision`` the connector refuses (``RecordChanged``) when
    the record was written since."""

    id: str
    fields: dict[str, Any]
    expected_revision: int | str | None = None


def merge_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A record's or item's fields after an update: named fields set, ``None`` removes,
    the others stay (``RecordUpdate``'s meaning, shared by both sides)."""
    out = dict(old)
    for key, value in new.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@runtime_checkable
class CrmBackend(Protocol):
    """A CRM connector: one CRM database, seen as record types holding records.

    The factory registered through ``wess_register_crm_backends`` is called as
    ``factory(home, database)``: ``home`` is the WESS home (a ``Path``, for connectors
    that keep local files), ``database`` the name on the user's profile. The built-in
    ``local`` connector (``wess_plugins.crm_local.local.LocalCrm``) is an embedded CRM.

    Record types are ``people``, ``meetings``, ``tasks``, ``emails`` (see
    ``RECORD_TYPES``). Every write returns the record as stored, with its new revision,
    so the engine recognises its own writes when ``changes`` reports them later.
    """

    def changes(
        self, record_type: str, cursor: str | None
    ) -> tuple[Iterable[CrmChange], str | None]:
        """Records written since ``cursor`` (``None``: every live record), deletions
        included as tombstones, in any order, and the cursor to pass next time.

        The changes may be a list, or a generator that reads them as the engine goes
        through them once (so a big CRM is never held in memory; the engine drops its
        own writes coming back as it reads). A record written several times appears
        once, in its latest state. The cursor is stored only after the changes are
        applied, so returning a change twice is harmless; missing one is not. A cursor
        that stays the same while nothing of ``record_type`` changed (not one counter for
        every type) lets an idle run leave the folder's sync state unwritten.
        """
        ...

    def get(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        """Live records by id (``RecordNotFound`` for a missing or deleted one)."""
        ...

    def create(self, record_type: str, records: Sequence[NewRecord]) -> list[Outcome[CrmRecord]]:
        """Create each record, keeping its ``exchange_id``."""
        ...

    def update(self, record_type: str, updates: Sequence[RecordUpdate]) -> list[Outcome[CrmRecord]]:
        """Merge each update into its record (see ``RecordUpdate``)."""
        ...

    def delete(self, record_type: str, ids: Sequence[str]) -> list[Outcome[CrmRecord]]:
        """Delete each record, leaving a tombstone ``changes`` reports; the result is the
        tombstone. Deleting a missing record answers ``RecordNotFound``."""
        ...


# -- item types ----------------------------------------------------------------


@runtime_checkable
class ItemType(Protocol):
    """A field mapping between a CRM record type and a mailbox folder.

    Registered through ``wess_register_item_types``; shared by every transport, so it
    knows nothing about EWS or Graph. The two conversions must round-trip on the fields
    they map: ``to_record(to_item(r))`` equals ``r`` restricted to the mapped fields,
    and ``to_item(to_record(i))`` equals ``i`` restricted likewise. The engine compares
    both sides through this projection, so fields one side cannot hold never count as
    a change. Values a field lacks are ``None`` or absent (both mean "empty").

    Optional: ``match_keys(record: Mapping[str, Any]) -> list[str | None]``. Keys that
    identify the same thing on both sides, in priority order, computed from CRM record
    fields; for a mailbox item the engine passes ``to_record(item.fields)`` laid over the
    raw item fields, so a key may also use an item-only field (the meeting's ``uid``).
    When a sync
    starts, or restarts after its state was lost, items and records that no stored id
    links are matched by these keys instead of being created on the other side; a key
    two or more candidates share is held for review (``wess review``), never guessed.
    ``None`` means "no key at this level". An item type without ``match_keys`` keeps
    working: nothing is matched, new things are created (the behaviour before matching).
    Not part of the protocol check, so third-party item types need not define it.
    """

    #: Registered name, also the key of the folder's sync state ("contacts").
    name: str
    #: Mailbox folder, one of ``FOLDERS``.
    folder: str
    #: CRM record type, one of ``RECORD_TYPES``.
    record_type: str
    direction: Direction

    def to_item(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """CRM record fields → neutral item fields."""
        ...

    def to_record(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Neutral item fields → CRM record fields."""
        ...


@dataclass(frozen=True)
class WebCredentials:
    """What a ``wess_register_web_login_methods`` method gets: the ``login`` and
    ``password`` posted to ``POST /api/session`` (either may be None), the request's
    ``headers`` (lower-case names) and the ``client`` address (after trusted proxies)."""

    login: str | None
    password: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    client: str | None = None
