"""The EWS transport: the engine's mailbox interface over exchangelib.

Every EWS detail lives here: SyncFolderItems with an opaque sync state (one
request per page), the CRM id in an extended property written in the same
CreateItem as the item, changekeys, and batched Get/Create/Update/DeleteItem.
Folders are addressed by their distinguished ids, so no folder lookup costs a
request: an idle sync is exactly one SyncFolderItems per folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from exchangelib.errors import (
    ErrorItemNotFound,
    ErrorServerBusy,
    RateLimitError,
    TransportError,
    UnauthorizedError,
)
from exchangelib.folders import Root
from exchangelib.items import (
    AUTO_RESOLVE,
    ID_ONLY,
    NEVER_OVERWRITE,
)
from exchangelib.properties import Mailbox
from exchangelib.services import SyncFolderItems

from wess_core import validation
from wess_core.strategies import (
    ChangesPage,
    FolderEvents,
    FolderUnavailable,
    InvalidSyncState,
    ItemRef,
    ItemUpdate,
    MailboxBusy,
    MailboxChange,
    MailboxError,
    MailboxItem,
    NewItem,
    Setting,
)
from wess_plugins.transport_ews import occurrences
from wess_plugins.transport_ews.batches import BatchedCalls
from wess_plugins.transport_ews.fields import FOLDER_FIELDS
from wess_plugins.transport_ews.items import (
    CRM_ID_FIELD,
    FOLDERS,
    to_ews_values,
    to_mailbox_item,
)
from wess_plugins.transport_ews.patches import (
    PayloadRefused,
    Unreadable,
    WessGetItem,
    WessSyncFolderItems,
    distinguished_folder,
    mailbox_of,
    root_folder,
)
from wess_plugins.transport_ews.response_codes import Consequence, code_of, consequence
from wess_plugins.transport_ews.results import (
    PARSE_ERRORS,
    item_error,
    item_ref,
    refused,
)
from wess_plugins.transport_ews.throttle import ServerThrottle, throttle_for
from wess_plugins.transport_ews.unavailable import mailbox_unavailable, no_ews_answer

PAGE_SIZE = 512
BATCH_SIZE = 100


#: The field paths each folder's sync reads, by folder name (a few per process).
_PATHS: dict[str, frozenset[Any]] = {}


class EwsTransport(BatchedCalls):
    """One user's mailbox over EWS. Built per sync run from a freshly resolved connection."""

    #: The core discovers the EWS URL before building one (``strategies.Transport``).
    needs_ews_url = True
    #: Stored item ids are EWS ids (another transport converts them on a switch).
    id_space = "ews"
    #: What an admin may configure for EWS (``--option token_scope=...``).
    settings = (
        Setting(
            "token_scope",
            help="OAuth scope of the EWS tokens (default: https://outlook.office365.com/"
            ".default; a sovereign cloud has its own, e.g. https://outlook.office365.us/.default)",
            validate=validation.token_scope,
        ),
    )

    @staticmethod
    def watch_streams(
        connections: Sequence[Any],
        on_change: Callable[[str], None],
        stop: threading.Event,
        **options: Any,
    ) -> None:
        """Streaming notifications for ``wess run --push`` (``streams.watch_streams``)."""
        from wess_plugins.transport_ews.streams import watch_streams

        watch_streams(connections, on_change, stop, **options)

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
            self._root_folder = root_folder(Root, self.account, mailbox)
        return self._root_folder

    def _folder(self, name: str) -> Any:
        """A distinguished folder object that costs no request to build."""
        if name not in self._folders:
            if name not in FOLDERS:
                raise MailboxError(f"unknown folder {name!r}; known: {', '.join(FOLDERS)}")
            root = self._root()
            self._folders[name] = distinguished_folder(FOLDERS[name][0], root, mailbox_of(root))
        return self._folders[name]

    def _field_paths(self, name: str) -> Any:
        """The fields a folder's sync reads (the same for every mailbox: kept per process)."""
        if name not in _PATHS:
            folder = self._folder(name)
            attributes = [m.attribute for m in FOLDER_FIELDS[name]] + [
                CRM_ID_FIELD,
                "last_modified_time",
            ]
            _PATHS[name] = frozenset(
                f for f in folder.normalize_fields(fields=attributes) if not f.field.is_attribute
            )
        return _PATHS[name]

    # -- conversions -------------------------------------------------------

    def _to_mailbox_item(self, folder: str, item: Any) -> MailboxItem:
        return to_mailbox_item(folder, item)

    def _converted(self, folder: str, item: Any) -> Any:
        """``_to_mailbox_item``, or that item's error when a field map cannot read it."""
        try:
            return to_mailbox_item(folder, item)
        except Exception as exc:
            return Unreadable(item.id, item.changekey, exc)

    def _to_ews_item(self, folder: str, fields: dict[str, Any], **extra: Any) -> Any:
        item_cls = FOLDERS[folder][1]
        values = to_ews_values(folder, fields, creating="id" not in extra)
        item = item_cls(account=self.account, folder=self._folder(folder), **values, **extra)
        return item, list(values)

    def _check_values(self, item: Any, names: list[str]) -> None:
        """Refuse a value exchangelib would refuse while building the request (a bogus
        task status ...) now, so that item fails alone and not its whole batch."""
        for name in names:
            value = getattr(item, name, None)
            if value is not None:
                item.get_field_by_fieldname(name).clean(value, version=self.account.version)

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

    def _write_occurrences(
        self,
        folder: str,
        wanted: list[dict[str, Any]],
        out: list[Any],
        before: dict[str, Any] | None = None,
    ) -> None:
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

    def watch(self, folders: Sequence[str], state: str | None) -> FolderEvents:
        """Pull subscription over ``folders`` (``watch.watch``: one GetEvents per call
        when nothing changed; Subscribe again, every folder changed, when it was lost)."""
        from wess_plugins.transport_ews.watch import watch

        try:
            return watch(self.account, {name: self._folder(name) for name in folders}, state)
        except MailboxError:
            raise
        except Exception as exc:
            if self._fresh_token(exc):
                return self.watch(folders, state)
            error = self._folder_error("the subscription", exc)
            if error is None:
                raise
            raise error from None

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
        svc = WessSyncFolderItems(account=self.account)
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
            return mailbox_unavailable(exc, self.connection)
        code = code_of(exc)
        if isinstance(exc, ErrorServerBusy):  # exchangelib re-raises other busy codes as it
            code = code_of(exc.__context__) if exc.__context__ is not None else code
            code = code or "ErrorServerBusy"
        if code is None:
            if no_ews_answer(exc):
                return mailbox_unavailable(exc, self.connection)
            if isinstance(exc, RateLimitError):  # exchangelib waited its longest: busy
                return MailboxBusy(
                    f"Exchange stayed busy: {folder} is tried again next run",
                    code="ErrorServerBusy",
                    retry_after=exc.wait,
                )
            if isinstance(exc, (TransportError, *PARSE_ERRORS)):
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
            return mailbox_unavailable(exc, self.connection, what)
        if what is Consequence.THROTTLED:
            retry_after = getattr(exc, "back_off", None)
            if self.throttle:
                self.throttle.note_busy(retry_after)
            return MailboxBusy(
                f"Exchange is busy ({code}): {folder} is tried again next run",
                code=code,
                retry_after=retry_after,
            )
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
            WessGetItem,
            items=[(i, None) for i in item_ids],
            additional_fields=self._field_paths(folder),
            shape=ID_ONLY,
        )
        out = [self._read_item(folder, r) for r in results]
        self._fill_occurrences(
            folder,
            [(r, o) for r, o in zip(results, out, strict=True) if isinstance(o, MailboxItem)],
        )
        return out

    def _read_item(self, folder: str, answer: Any) -> Any:
        """One GetItem answer: the item, or that item's own error (never the batch's)."""
        if isinstance(answer, Exception):
            return item_error(answer)
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
                prepared.append(refused(exc))
        valid = [p for p in prepared if not isinstance(p, Exception)]
        if valid and len(valid) <= self.max_batch:
            # One request: exchangelib cleans each item while building it (clean() is
            # most of a CreateItem's client CPU, so it is not done twice). A refused
            # value fails the build before anything is sent; only then is each item
            # cleaned on its own, so that item fails alone and not its batch.
            try:
                answers = self._create_items(folder, valid)
                return self._created(folder, items, prepared, answers)
            except PayloadRefused:
                pass
        for index, p in enumerate(prepared):
            if not isinstance(p, Exception):
                try:
                    p.clean(version=self.account.version)
                except Exception as exc:
                    prepared[index] = refused(exc)
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
                out.append(item_error(answer))
            else:
                out.append(item_ref(answer, lambda a: (a.id, a.changekey)))
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
                out[index] = refused(exc)
                continue
            (guarded if upd.changekey else unguarded).append((index, item, names))
        for group, policy in ((guarded, NEVER_OVERWRITE), (unguarded, AUTO_RESOLVE)):
            if not group:
                continue
            answers = self._update_items([(item, names) for _, item, names in group], policy)
            for (index, _, _), answer in zip(group, answers, strict=True):
                if isinstance(answer, Exception):
                    out[index] = item_error(answer)
                else:
                    out[index] = item_ref(answer, lambda a: (a[0], a[1]))
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
                out.append(item_error(answer))
        return out
