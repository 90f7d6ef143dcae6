"""Every use of exchangelib's private internals, in one place (pinned in pyproject.toml).

exchangelib's services are subclassed here where its public surface has no hook for
what WESS needs; each override keeps exchangelib's own behaviour but for the one thing
it changes:

* an answer exchangelib cannot read for one item (or with a ResponseCode it has no class
  for) is that item's result, never the whole batch's or folder's failure;
* SyncFolderItems reads the ResponseCode of an error answer before its SyncState;
* an HTTP answer that is not EWS's is marked as such (``http_answer``);
* the names of exchangelib's private fields (an item's id element, a calendar item's
  time zones, a folder's distinguished id) and its protocol cache;
* streaming notifications for a group of mailboxes (:class:`Affinity`,
  :class:`GroupSubscribe`, :class:`GroupStream`): every request of a group carries the
  group's anchor mailbox and its server-affinity cookie, and a stream's refused
  subscription ids are read from its error answer;
* two speed patches, kept because ``benchmarks/http_patches.py`` shows a gain of 10 %
  or more at 20 ms per request: SyncFolderItems written from per-process templates
  (``templates``) and answers parsed from the whole body (:class:`WholeBody`).

``tests/ews/test_patches.py`` checks each private name and overridden signature against
the installed exchangelib and that what is built here is what exchangelib builds; the
behaviours are tested with the rest of the transport in ``tests/ews``.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from exchangelib.autodiscover import Autodiscovery
from exchangelib.errors import MalformedResponseError, ResponseMessageError, SOAPError
from exchangelib.properties import DistinguishedFolderId, Mailbox
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
from exchangelib.util import ENS, MNS, get_xml_attr

from wess_core.errors import DiscoveryError
from wess_core.strategies import MailboxError
from wess_plugins.transport_ews import templates

__all__ = [
    "Affinity",
    "END_TIMEZONE",
    "GroupStream",
    "GroupSubscribe",
    "START_TIMEZONE",
    "PayloadRefused",
    "WholeBody",
    "UnknownResponseCode",
    "Unreadable",
    "WessCreateItem",
    "WessDeleteItem",
    "WessGetItem",
    "WessSyncFolderItems",
    "WessUpdateItem",
    "distinguished_folder",
    "forget_cached_failure",
    "item_with_id",
    "mailbox_of",
    "root_folder",
]

#: exchangelib's names for a calendar item's start and end time zones (its ``StartTimeZone``
#: and ``EndTimeZone``), read and written by the field maps.
START_TIMEZONE = "_start_timezone"
END_TIMEZONE = "_end_timezone"


def distinguished_folder(folder_cls: type, root: Any, mailbox: Mailbox) -> Any:
    """A distinguished folder of ``mailbox`` that costs no request to build (``root``:
    None for the root folder itself, which then needs ``account``)."""
    folder_id = DistinguishedFolderId(id=folder_cls.DISTINGUISHED_FOLDER_ID, mailbox=mailbox)
    return folder_cls(root=root, _distinguished_id=folder_id)


def root_folder(root_cls: type, account: Any, mailbox: Mailbox) -> Any:
    """The mailbox's root folder object, built without a request."""
    folder_id = DistinguishedFolderId(id="root", mailbox=mailbox)
    return root_cls(account=account, _distinguished_id=folder_id)


def mailbox_of(folder: Any) -> Mailbox | None:
    """The mailbox a distinguished folder object names."""
    folder_id = getattr(folder, "_distinguished_id", None)
    return folder_id.mailbox if folder_id is not None else None


def item_with_id(item_cls: type, id_element: Any, **fields: Any) -> Any:
    """An item addressed by an id element exchangelib only takes as its private field (an
    OccurrenceItemId: a series' master id and an instance index)."""
    return item_cls(_id=id_element, **fields)


def forget_cached_failure(config: Any) -> None:
    """exchangelib remembers a failed Protocol creation forever; forget it so a server
    that is back (or a fixed setting) is tried again."""
    from exchangelib.protocol import CachingProtocol

    key = CachingProtocol._cache_key(config)
    with CachingProtocol._protocol_cache_lock:
        cached = CachingProtocol._protocol_cache.get(key)
        if cached is not None and isinstance(cached[0], Exception):
            del CachingProtocol._protocol_cache[key]


# -- exchangelib's services ----------------------------------------------------------


class _Read:
    """A response body already read whole, in the shape exchangelib's parser takes."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def iter_content(self) -> bytes:
        return self.content


class UnknownResponseCode(ResponseMessageError):
    """An EWS answer with a ResponseCode exchangelib has no class for (a newer server's):
    kept as an answer with its code, so it is classified (``response_codes``) and, in a
    bulk call, is that item's result rather than the whole call's failure."""

    def __init__(self, code: str, text: str | None = None) -> None:
        super().__init__(f"{code}: {text}" if text else code)
        self.response_code = code


class WholeBody:
    """Parse a (non-streaming) response from its body in one piece.

    exchangelib parses through ``response.iter_content()``, whose default chunk size is
    one byte: a 500-item SyncFolderItems page costs millions of generator steps. The
    body is already in memory, so lxml gets it as
    bytes; the XML and everything exchangelib does with it are unchanged.
    """

    def _get_soap_parts(self, response: Any) -> Any:
        if getattr(self, "streaming", False):
            return super()._get_soap_parts(response=response)  # type: ignore[misc]
        return super()._get_soap_parts(response=_Read(response.content))  # type: ignore[misc]

    def _get_response(self, payload: Any, api_version: Any) -> Any:
        try:
            return super()._get_response(payload=payload, api_version=api_version)  # type: ignore[misc]
        except MalformedResponseError as exc:  # raised for the HTTP status, before parsing
            exc.http_answer = True  # type: ignore[attr-defined]
            raise

    @staticmethod
    def _get_exception(code: Any, text: Any, msg_xml: Any = None, rule_errors: Any = None) -> Any:
        """exchangelib's exception for a response message; a code it does not know stays
        a response error with its code (exchangelib makes it a bare TransportError)."""
        exc = EWSService._get_exception(
            code=code, text=text, msg_xml=msg_xml, rule_errors=rule_errors
        )
        if code and not isinstance(exc, ResponseMessageError):
            return UnknownResponseCode(str(code), text)
        return exc

    @classmethod
    def _raise_soap_errors(cls, fault: Any) -> None:
        """A SOAP fault whose code exchangelib does not know keeps its code."""
        try:
            super()._raise_soap_errors(fault=fault)  # type: ignore[misc]
        except SOAPError:
            detail = fault.find("detail")
            code = get_xml_attr(detail, f"{{{ENS}}}ResponseCode") if detail is not None else None
            if not code:
                raise
            text = get_xml_attr(detail, f"{{{ENS}}}Message")
            raise UnknownResponseCode(code.strip(), text) from None


def _envelope_key(service: Any, api_version: str | None) -> tuple[Any, ...]:
    """What a request's SOAP envelope depends on: the server version, the impersonated
    identity (one envelope per user when impersonating) and the time zone."""
    identity = service._account_to_impersonate
    timezone = service._timezone
    return (
        api_version,
        repr(identity) if identity else None,
        timezone.ms_id if timezone else None,
    )


def _folder_id_key(folder: Any, version: Any) -> tuple[Any, ...] | None:
    """What a distinguished folder's SyncFolderId depends on, besides the mailbox address;
    None for any other folder (its requests are built by exchangelib every time)."""
    fid = getattr(folder, "_distinguished_id", None)
    if type(fid) is not DistinguishedFolderId or fid.mailbox is None:
        return None
    mb = fid.mailbox
    if type(mb) is not Mailbox or mb.item_id is not None or not mb.email_address:
        return None
    return (repr(version), fid.id, fid.changekey, mb.name, mb.routing_type, mb.mailbox_type)


class Unreadable(MailboxError):
    """One item in an answer exchangelib cannot parse (a Body without its BodyType makes
    it raise KeyError): that item fails alone, the rest of its page is read."""

    code = "UnreadableItem"

    def __init__(self, item_id: str | None, changekey: str | None, exc: BaseException) -> None:
        super().__init__(f"cannot read this item from Exchange: {type(exc).__name__}: {exc}")
        self.item_id = item_id
        self.changekey = changekey


def _item_ref(item_elem: Any) -> tuple[str, str | None] | None:
    """An item element's (id, changekey), read before exchangelib parses (and empties) it."""
    from exchangelib.properties import ItemId

    id_elem = item_elem.find(ItemId.response_tag()) if item_elem is not None else None
    return None if id_elem is None else (id_elem.get("Id"), id_elem.get("ChangeKey"))


def _parse_alone(parse: Any, item_elem: Any, account: Any) -> Any:
    """``parse()``, or an :class:`Unreadable` for that item when exchangelib cannot; an
    all-day event's dates are read in its own zone, never the machine's (see
    ``calendar_fields.all_day_source``)."""
    from wess_plugins.transport_ews.calendar_fields import all_day_source, fix_all_day

    ref = _item_ref(item_elem)
    all_day = all_day_source(item_elem, getattr(account, "default_timezone", None))
    try:
        item = parse()
        fix_all_day(item, all_day)
        return item
    except Exception as exc:
        if ref is None:
            raise
        return Unreadable(ref[0], ref[1], exc)


class WessSyncFolderItems(WholeBody, SyncFolderItems):
    """SyncFolderItems written from per-process templates (``templates``): an idle sync is
    mostly such requests, alike but for the mailbox address and the sync state, so
    building each with lxml would be client CPU on every request of every scheduler pass."""

    def get_payload(
        self,
        *,
        folder: Any,
        shape: Any,
        additional_fields: Any,
        sync_state: Any,
        ignore: Any,
        max_changes_returned: Any,
        sync_scope: Any,
    ) -> Any:
        """A :class:`templates.Prepared` request when it can be written from a template
        (see ``wess_plugins.transport_ews.templates``), else exchangelib's payload."""
        kwargs = {
            "folder": folder,
            "shape": shape,
            "additional_fields": additional_fields,
            "sync_state": sync_state,
            "ignore": ignore,
            "max_changes_returned": max_changes_returned,
            "sync_scope": sync_scope,
        }
        id_key = _folder_id_key(folder, self.account.version)
        state = sync_state or None
        if ignore is not None or sync_scope or not additional_fields or id_key is None:
            return super().get_payload(**kwargs)
        email = mailbox_of(folder).email_address
        if not (templates.plain(email) and templates.plain(state)):
            return super().get_payload(**kwargs)
        body_key = (
            id_key,
            shape,
            frozenset(additional_fields),
            state is not None,
            max_changes_returned,
        )
        return templates.Prepared(
            body_key, email, state, lambda: super(WessSyncFolderItems, self).get_payload(**kwargs)
        )

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        """exchangelib reads SyncState and IncludesLastItemInRange before the ResponseCode
        and fails (AttributeError) on an error answer without them: read the code first."""
        state = message.find(f"{{{MNS}}}SyncState")
        last = message.find(self.last_in_range_name)
        if state is not None and last is not None:
            return super()._get_element_container(message=message, name=name)
        self.sync_state = state.text if state is not None else None
        self.includes_last_item_in_range = None
        return EWSAccountService._get_element_container(self, message=message, name=name)

    def _elem_to_obj(self, elem: Any) -> Any:
        """An item exchangelib cannot parse comes back as an :class:`Unreadable` in its
        place, never as an exception that ends the page (and the folder's sync)."""
        change_type = self.change_types_map.get(elem.tag)
        if change_type not in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE) or not len(elem):
            return super()._elem_to_obj(elem)
        parse = super()._elem_to_obj
        parsed = _parse_alone(lambda: parse(elem)[1], elem[0], self.account)
        return change_type, parsed

    def wrap(self, content: Any, api_version: Any = None) -> Any:
        if type(content) is not templates.Prepared:
            return super().wrap(content=content, api_version=api_version)

        def wrap(payload: Any, version: str | None) -> bytes:
            return super(WessSyncFolderItems, self).wrap(content=payload, api_version=version)

        return templates.write(_envelope_key(self, api_version), content, api_version, wrap)


class _PerItem(WholeBody):
    """Every error inside a response message is that item's own result, never the batch's
    (exchangelib raises some, e.g. ErrorIrresolvableConflict, which would sink the rest)."""

    ERRORS_TO_CATCH_IN_RESPONSE = ResponseMessageError


class PayloadRefused(Exception):
    """Building a request failed (exchangelib refused a value): nothing was sent."""


class WessCreateItem(_PerItem, CreateItem):
    def get_payload(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_payload(*args, **kwargs)
        except Exception as exc:  # raised before the POST: the chunk was never sent
            raise PayloadRefused(exc) from exc


class WessUpdateItem(_PerItem, UpdateItem):
    pass


class WessDeleteItem(_PerItem, DeleteItem):
    pass


class WessGetItem(_PerItem, GetItem):
    def _elem_to_obj(self, elem: Any) -> Any:
        """An item exchangelib cannot parse is that item's error, not the batch's."""
        parse = super()._elem_to_obj
        return _parse_alone(lambda: parse(elem), elem, self.account)


# -- exchangelib's Autodiscover search -----------------------------------------------


class BoundedAutodiscovery(Autodiscovery):
    """exchangelib's ``Autodiscovery`` (the DNS-name walk, HTTP and SOAP redirects) asking
    the trust boundary ``limits`` at every hop: a URL or redirect outside it is skipped
    before any request (its refusal kept in ``refused``, reported if nothing else works),
    a RedirectAddress to a domain outside it is refused, and ``trust(url)`` runs before
    each request inside it (the account's CA for that host)."""

    def __init__(self, email: str, credentials: Any = None, *, limits: Any, trust: Any):
        super().__init__(email, credentials)
        self.limits = limits
        self.trust = trust
        self.refused: list[str] = []

    def discover(self) -> Any:
        if not self.limits.allows_email(self.email):
            domain = self.email.rpartition("@")[2]
            raise DiscoveryError(
                "AutoDiscoverFailed",
                self.limits.outside(domain, f"Autodiscover for {self.email}, which"),
            )
        return super().discover()

    def _redirect_url_is_valid(self, url: str) -> bool:
        reason = self.limits.refusal(url, "the Autodiscover redirect to")
        if reason:
            self.refused.append(reason)
            return False
        self.trust(url)
        return super()._redirect_url_is_valid(url)

    def _attempt_response(self, url: str) -> Any:
        reason = self.limits.refusal(url, "the Autodiscover URL")
        if reason:
            self.refused.append(reason)
            self._urls_visited.append(url.lower())
            return False, None
        self.trust(url)
        return super()._attempt_response(url)


# -- streaming notifications for a group of mailboxes ---------------------------------


class Affinity:
    """One streaming group's server affinity (Microsoft: "maintain affinity between a
    group of subscriptions and the mailbox server"): every Subscribe and the group's
    GetStreamingEvents name the group's first mailbox in X-AnchorMailbox, ask for
    X-PreferServerAffinity, and send back the X-BackEndOverrideCookie the server set."""

    def __init__(self, anchor: str) -> None:
        self.anchor = anchor
        self.cookie: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"X-AnchorMailbox": self.anchor, "X-PreferServerAffinity": "True"}
        if self.cookie:
            headers["X-BackEndOverrideCookie"] = self.cookie
        return headers

    def remember(self, session: Any) -> None:
        for cookie in session.cookies:
            if cookie.name == "X-BackEndOverrideCookie":
                self.cookie = cookie.value


class GroupSubscribe(SubscribeToStreaming):
    """Subscribe (streaming) for one mailbox of a group, with the group's affinity."""

    def __init__(self, *args: Any, affinity: Affinity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.affinity = affinity

    def _extra_headers(self) -> dict[str, str]:
        return {**super()._extra_headers(), **self.affinity.headers()}

    def _handle_response_cookies(self, session: Any) -> None:
        super()._handle_response_cookies(session)
        self.affinity.remember(session)


class OwnSession:
    """A protocol whose HTTP session is the caller's own, never one of the shared pool.

    A stream holds its session for up to 30 minutes, and exchangelib shares one session
    pool among every user of a login (all impersonated users of a service account): 50
    streams would hold 50 of its sessions, and ``decrease_poolsize`` (on ErrorServerBusy)
    waits for a free one while holding the pool's lock — the syncs stall. Everything but
    the session (URL, credentials, retry policy, versions) is the real protocol's.
    """

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol
        self._session: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._protocol, name)

    def get_session(self) -> Any:
        session, self._session = self._session, None
        return session if session is not None else self._protocol.create_session()

    def release_session(self, session: Any) -> None:
        if self._session is not None and self._session is not session:
            self._protocol.close_session(self._session)
        self._session = session

    def retire_session(self, session: Any) -> None:
        self._protocol.close_session(session)

    def decrease_poolsize(self) -> None:
        """Not the pool's: a busy answer to a stream leaves the syncs' sessions alone."""

    def close_own(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self._protocol.close_session(session)


class GroupStream(GetStreamingEvents):
    """GetStreamingEvents for a group (called with the anchor mailbox's account); when
    the server refuses some of its subscriptions, ``refused`` names them (exchangelib
    reads them in the wrong namespace and only into the error's text)."""

    def __init__(self, *args: Any, affinity: Affinity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.protocol = OwnSession(self.protocol)
        self.affinity = affinity
        self.refused: list[str] = []

    def close(self) -> None:
        """Close the stream's own HTTP session (after the stream ended)."""
        self.protocol.close_own()

    def _extra_headers(self) -> dict[str, str]:
        return {**super()._extra_headers(), **self.affinity.headers()}

    def _handle_response_cookies(self, session: Any) -> None:
        super()._handle_response_cookies(session)
        self.affinity.remember(session)

    def cut(self) -> None:
        """Shut the open stream's socket down (from another thread): its blocked read
        returns at once, so a stop does not wait for the next event."""
        response = getattr(self, "_streaming_response", None)
        connection = getattr(getattr(response, "raw", None), "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError, ValueError, TypeError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        found = message.find(f"{{{MNS}}}ErrorSubscriptionIds")
        if found is not None:  # the schema's t:SubscriptionId (exchangelib looks for m:)
            self.refused = [e.text for e in found if e.tag.endswith("}SubscriptionId") and e.text]
        return super()._get_element_container(message=message, name=name)
