"""The EWS transport: the engine's mailbox interface over exchangelib.

Every EWS detail lives here: SyncFolderItems with an opaque sync state (one
request per page), the CRM id in an extended property written in the same
CreateItem as the item, changekeys, and batched Get/Create/Update/DeleteItem.
Folders are addressed by their distinguished ids, so no folder lookup costs a
request: an idle sync is exactly one SyncFolderItems per folder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from exchangelib import CalendarItem, Contact, ExtendedProperty, Message, Task
from exchangelib.errors import (
    ErrorIrresolvableConflict,
    ErrorItemNotFound,
    ErrorSchemaValidation,
    ErrorServerBusy,
    MalformedResponseError,
    RateLimitError,
    RedirectError,
    ResponseMessageError,
    SOAPError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.folders import Calendar, Contacts, Inbox, Root, SentItems, Tasks
from exchangelib.items import (
    ALL_OCCURRENCES,
    AUTO_RESOLVE,
    ID_ONLY,
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_NONE,
)
from exchangelib.properties import DistinguishedFolderId, Mailbox
from exchangelib.services import CreateItem, DeleteItem, GetItem, SyncFolderItems, UpdateItem
from exchangelib.services.common import EWSAccountService, EWSService
from exchangelib.util import ENS, MNS, get_xml_attr

from wess_core.strategies import (
    ChangesPage,
    FolderUnavailable,
    InvalidSyncState,
    ItemChanged,
    ItemNotFound,
    ItemRef,
    ItemUpdate,
    MailboxBusy,
    MailboxChange,
    MailboxError,
    MailboxItem,
    MailboxUnavailable,
    NewItem,
    Setting,
)
from wess_plugins.transport_ews import occurrences, templates
from wess_plugins.transport_ews.fields import (
    FOLDER_FIELDS,
    FOLDER_FROM_EWS,
    FOLDER_TO_EWS,
    FieldMap,
    all_day_source,
    fix_all_day,
)
from wess_plugins.transport_ews.response_codes import Consequence, code_of, consequence
from wess_plugins.transport_ews.throttle import ServerThrottle, throttle_for

CRM_ID_FIELD = "wess_crm_id"
PAGE_SIZE = 512
BATCH_SIZE = 100


class CrmIdProperty(ExtendedProperty):
    """The CRM record id WESS stores on every item it creates (re-linking after a crash)."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "WessCrmId"
    property_type = "String"


_ITEM_CLASSES = (Contact, CalendarItem, Task, Message)
for _cls in _ITEM_CLASSES:
    if CRM_ID_FIELD not in {f.name for f in _cls.FIELDS}:
        _cls.register(CRM_ID_FIELD, CrmIdProperty)

_FOLDERS = {
    "contacts": (Contacts, Contact),
    "calendar": (Calendar, CalendarItem),
    "tasks": (Tasks, Task),
    "inbox": (Inbox, Message),
    "sentitems": (SentItems, Message),
}


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


class _WholeBody:
    """Parse a (non-streaming) response from its body in one piece.

    exchangelib parses through ``response.iter_content()``, whose default chunk size is
    one byte: a 500-item SyncFolderItems page costs millions of generator steps, about a
    quarter of the page's client CPU. The body is already in memory, so lxml gets it as
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
        exc = EWSService._get_exception(code=code, text=text, msg_xml=msg_xml,
                                        rule_errors=rule_errors)  # fmt: skip
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

    @classmethod
    def supported_api_versions(cls) -> list[str]:
        """exchangelib's list, computed once per service class: it depends on the class
        only, and exchangelib rebuilds it (16 Version objects) for every request."""
        known = cls.__dict__.get("_api_versions")
        if known is None:
            known = tuple(super().supported_api_versions())  # type: ignore[misc]
            cls._api_versions = known  # type: ignore[attr-defined]
        return list(known)


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
    ``fields.all_day_source``)."""
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


class _SyncFolderItems(_WholeBody, SyncFolderItems):
    """SyncFolderItems written from per-process templates (``templates``): an idle sync is
    mostly such requests, alike but for the mailbox address and the sync state, so
    building each with lxml would be client CPU on every request of every scheduler pass."""

    def get_payload(self, folder: Any, shape: Any, additional_fields: Any, sync_state: Any,
                    ignore: Any, max_changes_returned: Any, sync_scope: Any) -> Any:  # fmt: skip
        """A :class:`templates.Prepared` request when it can be written from a template
        (see ``wess_plugins.transport_ews.templates``), else exchangelib's payload."""
        kwargs = dict(folder=folder, shape=shape, additional_fields=additional_fields,
                      sync_state=sync_state, ignore=ignore,
                      max_changes_returned=max_changes_returned, sync_scope=sync_scope)  # fmt: skip
        id_key = _folder_id_key(folder, self.account.version)
        state = sync_state or None
        if ignore is not None or sync_scope or not additional_fields or id_key is None:
            return super().get_payload(**kwargs)
        email = folder._distinguished_id.mailbox.email_address
        if not (templates.plain(email) and templates.plain(state)):
            return super().get_payload(**kwargs)
        body_key = (id_key, shape, frozenset(additional_fields), state is not None,
                    max_changes_returned)  # fmt: skip
        return templates.Prepared(
            body_key, email, state, lambda: super(_SyncFolderItems, self).get_payload(**kwargs)
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
        return templates.write(self, content, api_version,
                               lambda payload, version: super(_SyncFolderItems, self).wrap(
                                   content=payload, api_version=version))  # fmt: skip


class _PerItem(_WholeBody):
    """Every error inside a response message is that item's own result, never the batch's
    (exchangelib raises some, e.g. ErrorIrresolvableConflict, which would sink the rest)."""

    ERRORS_TO_CATCH_IN_RESPONSE = ResponseMessageError


class _PayloadRefused(Exception):
    """Building a request failed (exchangelib refused a value): nothing was sent."""


class _CreateItem(_PerItem, CreateItem):
    def get_payload(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_payload(*args, **kwargs)
        except Exception as exc:  # raised before the POST: the chunk was never sent
            raise _PayloadRefused(exc) from exc


class _UpdateItem(_PerItem, UpdateItem):
    pass


class _DeleteItem(_PerItem, DeleteItem):
    pass


class _GetItem(_PerItem, GetItem):
    def _elem_to_obj(self, elem: Any) -> Any:
        """An item exchangelib cannot parse is that item's error, not the batch's."""
        parse = super()._elem_to_obj
        return _parse_alone(lambda: parse(elem), elem, self.account)


def _field_maps(folder: str) -> list[FieldMap]:
    return FOLDER_FIELDS[folder]


# What exchangelib would silently turn into "?" (XML 1.0's forbidden and discouraged code
# points: its ``_ILLEGAL_XML_CHARS_RE``), plus lone surrogates.
_NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufddf\ufffe\uffff]"
)


def _refuse_unstorable(value: Any, name: str = "") -> None:
    """Refuse a value Exchange cannot store, rather than let it be altered on the way."""
    if isinstance(value, str):
        bad = _NOT_XML.search(value)
        if bad:
            raise MailboxError(
                f"field {name or 'value'} contains U+{ord(bad.group()):04X}, a character "
                "Exchange cannot store; remove it in the CRM"
            )
    elif isinstance(value, dict):
        for key, sub in value.items():
            _refuse_unstorable(sub, f"{name}.{key}" if name else str(key))
    elif isinstance(value, list | tuple):
        for sub in value:
            _refuse_unstorable(sub, name)


_NAME_FIELDS = {"given_name", "surname", "company_name", "email_addresses", "display_name"}


def _display_name(fields: dict[str, Any]) -> str | None:
    """Exchange requires a contact's display name; derive it as Outlook does."""
    name = " ".join(p for p in (fields.get("given_name"), fields.get("surname")) if p)
    if name:
        return name
    if fields.get("company_name"):
        return fields["company_name"]
    emails = fields.get("email_addresses") or []
    return emails[0].get("email") if emails else None


#: Exceptions of a non-conforming answer inside exchangelib's parser (a missing element,
#: an unexpected value): the folder's typed error, never a crash of the run.
_PARSE_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError, LookupError)


def _no_ews_answer(exc: BaseException) -> bool:
    """No EWS answer at all: refused login, no connection, a redirect, an HTTP status
    that is not EWS's, no EWS version headers (by exception class; a SOAP answer that
    exchangelib could not read is the folder's failure, not this)."""
    import requests
    from oauthlib.oauth2 import OAuth2Error

    if isinstance(exc, UnauthorizedError | OAuth2Error | RedirectError):
        return True
    from wess_plugins.transport_ews.connect import _caused_by

    if _caused_by(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, SOAPError | MalformedResponseError):  # an answer, but not EWS's own
        return getattr(exc, "http_answer", False)
    return isinstance(exc, TransportError) and not isinstance(exc, ResponseMessageError)


def _unavailable(
    exc: BaseException, connection: Any, what: Consequence | None = None
) -> MailboxUnavailable:
    """A whole-mailbox failure, described as the credential check describes it."""
    from wess_core import deadlines

    code = code_of(exc)
    gone = what is Consequence.MAILBOX_GONE
    cut = deadlines.cut_in(exc)
    if cut is not None:  # cut by WESS: never a credentials problem
        return MailboxUnavailable(str(cut), credentials=False, rediscover=not cut.run_level)
    if connection is None:
        pause = what in (Consequence.CREDENTIALS, Consequence.MAILBOX_GONE)
        return MailboxUnavailable(
            f"{type(exc).__name__}: {str(exc)[:200]}", credentials=pause,
            rediscover=what is Consequence.REDISCOVER, gone=gone, code=code,
        )  # fmt: skip
    from wess_core.errors import EndpointFailed
    from wess_plugins.transport_ews.connect import auth_method, describe_failure

    described = describe_failure(exc, connection, auth_method(connection))
    rediscover = bool(getattr(described, "rediscover", False))
    endpoint = isinstance(described, EndpointFailed)
    return MailboxUnavailable(
        getattr(described, "reason", str(described)),
        credentials=not endpoint,
        rediscover=rediscover,
        endpoint=endpoint,
        gone=gone,
        code=code,
    )


def _to_error(exc: Exception) -> Exception:
    """exchangelib's per-item errors -> the engine's transport-neutral ones; every one
    keeps its ResponseCode (``code``) and is that item's failure alone."""
    if isinstance(exc, ErrorItemNotFound):
        return ItemNotFound(str(exc), code="ErrorItemNotFound")
    if isinstance(exc, ErrorIrresolvableConflict):
        return ItemChanged(str(exc), code="ErrorIrresolvableConflict")
    if isinstance(exc, MailboxError):
        return exc
    code = code_of(exc) or type(exc).__name__
    text = str(exc) if code in str(exc)[: len(code) + 1] else f"{code}: {exc}"
    if consequence(code) is Consequence.THROTTLED:
        return MailboxBusy(text, code=code, retry_after=getattr(exc, "back_off", None))
    return MailboxError(text, code=code)


def _malformed(exc: BaseException) -> MailboxError:
    """An answer for one item that exchangelib could not read: that item's error."""
    return MailboxError(
        f"Exchange's answer for this item was not understood ({type(exc).__name__}: "
        f"{str(exc)[:200]})",
        code="MalformedResponse",
    )


def _ref(answer: Any, parts: Any) -> Any:
    """An ItemRef from one Create/UpdateItem answer, or that item's error."""
    try:
        item_id, changekey = parts(answer)
    except _PARSE_ERRORS as exc:
        return _malformed(exc)
    if not isinstance(item_id, str) or not item_id:
        return _malformed(ValueError(f"no item id in {type(answer).__name__}"))
    return ItemRef(item_id, changekey)


def _refused(exc: Exception) -> MailboxError:
    """A value refused before sending (exchangelib's checks; Exchange's schema would)."""
    return MailboxError(f"cannot convert item: {exc}", code="InvalidValue")


#: The field paths each folder's sync reads, by folder name (a few per process).
_PATHS: dict[str, frozenset[Any]] = {}


def _https_scope(value: str) -> str:
    """A token scope is a resource URL: HTTPS, ending in ``/.default``."""
    if not value.startswith("https://") or not value.endswith("/.default"):
        raise ValueError("expected https://RESOURCE/.default")
    return value


class EwsTransport:
    """One user's mailbox over EWS. Built per sync run from a freshly resolved connection."""

    #: The core discovers the EWS URL before building one (``strategies.Transport``).
    needs_ews_url = True
    #: What an admin may configure for EWS (``--option token_scope=...``).
    settings = (
        Setting(
            "token_scope",
            help="OAuth scope of the EWS tokens (default: https://outlook.office365.com/"
            ".default; a sovereign cloud has its own, e.g. https://outlook.office365.us/.default)",
            validate=_https_scope,
        ),
    )

    @staticmethod
    def check(connection: Any) -> None:
        """The credential check on save: read the mailbox's inbox once."""
        from wess_plugins.transport_ews.connect import test_connection

        test_connection(connection)

    @property
    def max_batch(self) -> int:
        """Items per request: smaller while the server asks us to back off."""
        return self.throttle.batch if self.throttle else BATCH_SIZE

    def __init__(self, connection: Any, account: Any = None, page_size: int = PAGE_SIZE) -> None:
        self.throttle: ServerThrottle | None = None
        self.connection = connection
        #: The auth method's token credential, while a refused token may be replaced once.
        self._token_credential: Any = None
        if account is None:
            from wess_core.strategies import BearerToken
            from wess_plugins.transport_ews.connect import auth_method, open_account

            self.throttle = throttle_for(connection.url)
            credential = auth_method(connection).credential(connection)
            if isinstance(credential, BearerToken):
                self._token_credential = credential
            account = open_account(
                connection, retry_policy=self.throttle.policy, login=self._login(credential)
            )
        self.account = account
        self.page_size = page_size
        self._folders: dict[str, Any] = {}
        self._root_folder: Any = None

    def _login(self, credential: Any, *, fresh: bool = False) -> Any:
        from wess_plugins.transport_ews.connect import ews_login

        return ews_login(credential, self.connection, fresh=fresh)

    def _fresh_token(self, exc: Exception) -> bool:
        """After Exchange refused a token (HTTP 401), open the mailbox again with a token
        fetched past the provider's cache: once per transport, so a token that is refused
        fresh too ends the run as a credentials problem."""
        if self._token_credential is None or not isinstance(exc, UnauthorizedError):
            return False
        from wess_plugins.transport_ews.connect import forget_protocol, open_account

        credential, self._token_credential = self._token_credential, None
        forget_protocol(self.account)
        login = self._login(credential, fresh=True)
        policy = self.throttle.policy if self.throttle else None
        self.account = open_account(self.connection, retry_policy=policy, login=login)
        self._folders.clear()
        self._root_folder = None
        return True

    # -- folders -----------------------------------------------------------

    def _root(self) -> Any:
        """The mailbox's root folder object (one per transport, shared by its folders)."""
        if self._root_folder is None:
            mailbox = Mailbox(email_address=self.account.primary_smtp_address)
            self._root_folder = Root(
                account=self.account,
                _distinguished_id=DistinguishedFolderId(id="root", mailbox=mailbox),
            )
        return self._root_folder

    def _folder(self, name: str) -> Any:
        """A distinguished folder object that costs no request to build."""
        if name not in self._folders:
            if name not in _FOLDERS:
                raise MailboxError(f"unknown folder {name!r}; known: {', '.join(_FOLDERS)}")
            root = self._root()
            mailbox = root._distinguished_id.mailbox
            folder_cls = _FOLDERS[name][0]
            self._folders[name] = folder_cls(
                root=root,
                _distinguished_id=DistinguishedFolderId(
                    id=folder_cls.DISTINGUISHED_FOLDER_ID, mailbox=mailbox
                ),
            )
        return self._folders[name]

    def _field_paths(self, name: str) -> Any:
        """The fields a folder's sync reads (the same for every mailbox: kept per process)."""
        if name not in _PATHS:
            folder = self._folder(name)
            attributes = [m.attribute for m in _field_maps(name)] + [
                CRM_ID_FIELD,
                "last_modified_time",
            ]
            _PATHS[name] = frozenset(
                f for f in folder.normalize_fields(fields=attributes) if not f.field.is_attribute
            )
        return _PATHS[name]

    # -- conversions -------------------------------------------------------

    def _to_mailbox_item(self, folder: str, item: Any) -> MailboxItem:
        fields = {}
        for m in _field_maps(folder):
            value = m.from_ews(getattr(item, m.attribute, None))
            if value not in (None, "", []):
                fields[m.name] = value
        if folder in FOLDER_FROM_EWS:
            FOLDER_FROM_EWS[folder](item, fields)
        modified = getattr(item, "last_modified_time", None)
        return MailboxItem(
            item_id=item.id,
            changekey=item.changekey,
            fields=fields,
            crm_id=getattr(item, CRM_ID_FIELD, None),
            modified=modified.isoformat() if modified else None,
        )

    def _converted(self, folder: str, item: Any) -> Any:
        """``_to_mailbox_item``, or that item's error when a field map cannot read it."""
        try:
            return self._to_mailbox_item(folder, item)
        except Exception as exc:
            return Unreadable(item.id, item.changekey, exc)

    def _to_ews_values(self, folder: str, fields: dict[str, Any], creating: bool) -> dict[str, Any]:
        _refuse_unstorable(fields)
        values = {}
        for m in _field_maps(folder):
            if m.name in fields and m.to_ews is not None and (creating or not m.create_only):
                values[m.attribute] = m.to_ews(fields[m.name])
        if folder in FOLDER_TO_EWS:
            FOLDER_TO_EWS[folder](fields, values)
        if (
            folder == "contacts"
            and not fields.get("display_name")
            and (creating or _NAME_FIELDS & set(fields))
        ):
            values["display_name"] = _display_name(fields) or "(no name)"
        return values

    def _to_ews_item(self, folder: str, fields: dict[str, Any], **extra: Any) -> Any:
        item_cls = _FOLDERS[folder][1]
        values = self._to_ews_values(folder, fields, creating="id" not in extra)
        item = item_cls(account=self.account, folder=self._folder(folder), **values, **extra)
        return item, list(values)

    def _check_values(self, item: Any, names: list[str]) -> None:
        """Refuse a value exchangelib would refuse while building the request (a bogus
        task status ...) now, so that item fails alone and not its whole batch."""
        for name in names:
            value = getattr(item, name, None)
            if value is not None:
                item.get_field_by_fieldname(name).clean(value, version=self.account.version)

    def _call(self, service_cls: type, **kwargs: Any) -> list[Any]:
        """One batched EWS call; one result or exception per input, in input order.

        A request Exchange refuses whole because one item in it is invalid (a schema
        violation: nothing was written) is sent again item by item, so only that item
        fails and never its batch.
        """
        try:
            results = list(
                service_cls(account=self.account, chunk_size=self.max_batch).call(**kwargs)
            )
        except ErrorSchemaValidation as exc:
            items = list(kwargs["items"])
            if len(items) <= 1:
                return [exc] * len(items)
            return [self._call(service_cls, **{**kwargs, "items": [i]})[0] for i in items]
        except ResponseMessageError as exc:  # the whole request refused: every item failed
            raise _to_error(exc) from None
        if self.throttle:
            self.throttle.note_ok()
        return results

    # The EWS options every write uses, in one place: save only, never send invitations,
    # cancellations or read receipts, and deletes go to Deleted Items.

    def _create_items(self, folder: str, items: list[Any]) -> list[Any]:
        return self._call(
            _CreateItem,
            items=items,
            folder=self._folder(folder),
            message_disposition=SAVE_ONLY,
            send_meeting_invitations=SEND_TO_NONE,
        )

    def _update_items(self, items: list[Any], conflict_resolution: str) -> list[Any]:
        return self._call(
            _UpdateItem,
            items=items,
            conflict_resolution=conflict_resolution,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            suppress_read_receipts=True,
        )

    def _delete_items(self, items: list[Any]) -> list[Any]:
        return self._call(
            _DeleteItem,
            items=items,
            delete_type=MOVE_TO_DELETED_ITEMS,
            send_meeting_cancellations=SEND_TO_NONE,
            affected_task_occurrences=ALL_OCCURRENCES,
            suppress_read_receipts=True,
        )

    # -- recurring series: exceptions by original start (see occurrences.py) --

    def _fill_occurrences(self, folder: str, read: list[tuple[Any, MailboxItem]]) -> None:
        """Fetch the changed fields of the exceptions of the masters just read."""
        if folder == "calendar" and read:
            occurrences.fill(self, folder, read)

    def _series_before(self, folder: str, updates: Sequence[ItemUpdate]) -> dict[str, Any]:
        """Recurring masters about to be updated, as they are now (their exceptions' ids)."""
        if folder != "calendar":
            return {}
        ids = [u.item_id for u in updates if occurrences.wants_occurrences(u.fields)]
        return occurrences.read(self, folder, ids)

    def _write_occurrences(self, folder: str, wanted: list[dict[str, Any]], out: list[Any],
                           before: dict[str, Any] | None = None) -> None:  # fmt: skip
        """After the masters were written: delete / change their occurrences as ``wanted``
        says; ``out`` gets each series' final ref."""
        if folder != "calendar":
            return
        jobs = []
        for index, fields in enumerate(wanted):
            ref = out[index]
            if not isinstance(ref, ItemRef) or not occurrences.wants_occurrences(fields):
                continue
            prior = (before or {}).get(ref.item_id)
            merged = {**prior.item.fields, **fields} if prior is not None else fields
            jobs.append((index, occurrences.plan(self, folder, ref.item_id, merged, prior)))
        occurrences.apply(self, folder, jobs, out)

    # -- the Transport protocol --------------------------------------------

    def changes(self, folder: str, token: str | None) -> ChangesPage:
        try:
            return self._changes(folder, token)
        except MailboxError:
            raise
        except Exception as exc:
            if self._fresh_token(exc):
                return self.changes(folder, token)
            error = self._folder_error(folder, exc)
            if error is None:
                raise
            raise error from None

    def _changes(self, folder: str, token: str | None) -> ChangesPage:
        svc = _SyncFolderItems(account=self.account)
        results = list(
            svc.call(
                folder=self._folder(folder),
                shape=ID_ONLY,
                additional_fields=self._field_paths(folder),
                sync_state=token,
                ignore=None,
                max_changes_returned=self.page_size,
                sync_scope=None,
            )
        )
        changes: list[MailboxChange] = []
        read: list[tuple[Any, MailboxItem]] = []
        for result in results:
            if isinstance(result, Exception):  # an error exchangelib returns, not raises
                raise result
            change_type, item = result
            if isinstance(item, Unreadable):
                # no content: the engine reads it with ``get``, where it fails alone
                changes.append(MailboxChange(item_id=item.item_id, changekey=None))
                continue
            if change_type == SyncFolderItems.DELETE:
                changes.append(MailboxChange(item_id=item.id, deleted=True))
            elif change_type == SyncFolderItems.READ_FLAG_CHANGE:
                item_id = item[0]
                changes.append(MailboxChange(item_id=item_id.id, changekey=item_id.changekey))
            else:
                try:
                    converted = self._to_mailbox_item(folder, item)
                except Exception:  # a value the field maps cannot read: as above
                    changes.append(MailboxChange(item_id=item.id, changekey=None))
                    continue
                read.append((item, converted))
                changes.append(
                    MailboxChange(
                        item_id=converted.item_id, changekey=converted.changekey, item=converted
                    )
                )
        if not svc.sync_state:
            raise FolderUnavailable(
                f"Exchange answered SyncFolderItems for {folder} without a sync state; "
                "the folder is tried again next run",
                code="MalformedResponse",
            )
        self._fill_occurrences(folder, read)
        done = bool(svc.includes_last_item_in_range) or svc.sync_state == token
        return ChangesPage(changes=changes, token=svc.sync_state, done=done)

    def _folder_error(self, folder: str, exc: Exception) -> MailboxError | None:
        """What ended a folder's read, as the engine's typed error (``response_codes``
        gives the consequence of an EWS answer); ``None``: not an EWS failure at all."""
        from wess_core import deadlines

        if deadlines.cut_in(exc) is not None:
            return _unavailable(exc, self.connection)
        code = code_of(exc)
        if isinstance(exc, ErrorServerBusy):  # exchangelib re-raises other busy codes as it
            code = code_of(exc.__context__) if exc.__context__ is not None else code
            code = code or "ErrorServerBusy"
        if code is None:
            if _no_ews_answer(exc):
                return _unavailable(exc, self.connection)
            if isinstance(exc, RateLimitError):  # exchangelib waited its longest: busy
                return MailboxBusy(f"Exchange stayed busy: {folder} is tried again next run",
                                   code="ErrorServerBusy", retry_after=exc.wait)  # fmt: skip
            if isinstance(exc, (TransportError, *_PARSE_ERRORS)):
                return FolderUnavailable(
                    f"Exchange's answer for {folder} was not understood ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); the folder is tried again next run",
                    code="MalformedResponse",
                )
            return None
        what = consequence(code)
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else code
        if what is Consequence.RESYNC:
            return InvalidSyncState(text, code=code)
        if what in (Consequence.CREDENTIALS, Consequence.MAILBOX_GONE, Consequence.REDISCOVER):
            return _unavailable(exc, self.connection, what)
        if what is Consequence.THROTTLED:
            retry_after = getattr(exc, "back_off", None)
            if self.throttle:
                self.throttle.note_busy(retry_after)
            return MailboxBusy(
                f"Exchange is busy ({code}): {folder} is tried again next run",
                code=code, retry_after=retry_after,
            )  # fmt: skip
        error = FolderUnavailable(
            f"Exchange answered {code} for {folder}: {text}; the folder is tried again next run",
            code=code,
        )
        error.consequence = what  # type: ignore[attr-defined]
        return error

    def get(self, folder: str, item_ids: Sequence[str]) -> list[Any]:
        if not item_ids:
            return []
        results = self._call(
            _GetItem,
            items=[(i, None) for i in item_ids],
            additional_fields=self._field_paths(folder),
            shape=ID_ONLY,
        )
        out = [self._read_item(folder, r) for r in results]
        self._fill_occurrences(folder, [(r, o) for r, o in zip(results, out, strict=True)
                                        if isinstance(o, MailboxItem)])  # fmt: skip
        return out

    def _read_item(self, folder: str, answer: Any) -> Any:
        """One GetItem answer: the item, or that item's own error (never the batch's)."""
        if isinstance(answer, Exception):
            return _to_error(answer)
        return self._converted(folder, answer)

    def create(self, folder: str, items: Sequence[NewItem]) -> list[Any]:
        if not items:
            return []
        prepared: list[Any] = []
        for new in items:
            try:
                item, _ = self._to_ews_item(folder, new.fields, **{CRM_ID_FIELD: new.crm_id})
                prepared.append(item)
            except Exception as exc:  # a field exchangelib refuses: that item fails alone
                prepared.append(_refused(exc))
        valid = [p for p in prepared if not isinstance(p, Exception)]
        if valid and len(valid) <= self.max_batch:
            # One request: exchangelib cleans each item while building it (clean() is
            # most of a CreateItem's client CPU, so it is not done twice). A refused
            # value fails the build before anything is sent; only then is each item
            # cleaned on its own, so that item fails alone and not its batch.
            try:
                answers = self._create_items(folder, valid)
                return self._created(folder, items, prepared, answers)
            except _PayloadRefused:
                pass
        for index, p in enumerate(prepared):
            if not isinstance(p, Exception):
                try:
                    p.clean(version=self.account.version)
                except Exception as exc:
                    prepared[index] = _refused(exc)
        valid = [p for p in prepared if not isinstance(p, Exception)]
        answers = self._create_items(folder, valid) if valid else []
        return self._created(folder, items, prepared, answers)

    def _created(
        self, folder: str, items: Sequence[NewItem], prepared: list[Any], results: list[Any]
    ) -> list[Any]:
        """One result per input: the refused ones' errors, the sent ones' answers."""
        answers = iter(results)
        out: list[Any] = []
        for p in prepared:
            if isinstance(p, Exception):
                out.append(p)
                continue
            answer = next(answers)
            if isinstance(answer, Exception):
                out.append(_to_error(answer))
            else:
                out.append(_ref(answer, lambda a: (a.id, a.changekey)))
        self._write_occurrences(folder, [new.fields for new in items], out)
        return out

    def update(self, folder: str, updates: Sequence[ItemUpdate]) -> list[Any]:
        if not updates:
            return []
        out: list[Any] = [None] * len(updates)
        before = self._series_before(folder, updates)
        guarded: list[tuple[int, Any, list[str]]] = []
        unguarded: list[tuple[int, Any, list[str]]] = []
        for index, upd in enumerate(updates):
            try:
                item, names = self._to_ews_item(
                    folder, upd.fields, id=upd.item_id, changekey=upd.changekey
                )
                self._check_values(item, names)
            except Exception as exc:
                out[index] = _refused(exc)
                continue
            (guarded if upd.changekey else unguarded).append((index, item, names))
        for group, policy in ((guarded, NEVER_OVERWRITE), (unguarded, AUTO_RESOLVE)):
            if not group:
                continue
            answers = self._update_items([(item, names) for _, item, names in group], policy)
            for (index, _, _), answer in zip(group, answers, strict=True):
                if isinstance(answer, Exception):
                    out[index] = _to_error(answer)
                else:
                    out[index] = _ref(answer, lambda a: (a[0], a[1]))
        self._write_occurrences(folder, [upd.fields for upd in updates], out, before)
        return out

    def delete(self, folder: str, refs: Sequence[ItemRef]) -> list[Any]:
        if not refs:
            return []
        answers = self._delete_items([(r.item_id, r.changekey) for r in refs])
        out: list[Any] = []
        for answer in answers:
            if isinstance(answer, ErrorItemNotFound) or answer is True:
                out.append(None)
            else:
                out.append(_to_error(answer))
        return out
