"""Example third-party WESS plugin: a mailbox transport and an auth method.

The ``json_file`` transport keeps each user's mailbox in one JSON file,
``DIRECTORY/<exchange e-mail>.json`` (the transport's ``directory`` setting)::

    {"key_sha256": "<hex>", "seq": 3,
     "folders": {"contacts": {"JF1": {"fields": {...}, "changekey": "CK1",
                                      "crm_id": null, "seq": 1, "deleted": false}}}}

The ``file_key`` auth method holds a shared key (its secret ``key`` setting, given with
``wess connection set --secret-stdin key``) and hands it over as a transport-neutral
``BearerToken``; the transport lets a request in only when the token's SHA-256 is the
file's ``key_sha256``. Neither knows anything the core does not show in
``wess_core.strategies``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from wess_core import hookimpl, plugins
from wess_core.errors import CredentialsRejected, UsageError
from wess_core.strategies import (
    AccessToken,
    BearerToken,
    ChangesPage,
    InvalidSyncState,
    ItemChanged,
    ItemNotFound,
    ItemRef,
    MailboxChange,
    MailboxItem,
    MailboxUnavailable,
    Setting,
    merge_fields,
)

#: The scope this transport asks a token provider for.
SCOPE = "wess-example://mailbox"


def _absolute(value: str) -> str:
    if not os.path.isabs(value):
        raise ValueError("expected an absolute directory path")
    return value


# -- the auth method -----------------------------------------------------------------


class _KeyProvider:
    """A ``TokenProvider`` whose token is the configured key (the same for any scope)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def token(self, scope: str, *, fresh: bool = False) -> AccessToken:
        return AccessToken(value=self._key)


class FileKeyAuth:
    """A shared key, stored encrypted by the core, handed over as a bearer token."""

    uses_service_credentials = True  # one key opens every mailbox file
    settings = (Setting("key", secret=True, help="the mailboxes' shared key", required=True),)

    def validate(self, connection: Any) -> None:
        if not connection.settings.get("key"):
            raise UsageError(
                "no key configured; set it with: wess connection set --secret-stdin key"
            )

    def credential(self, connection: Any) -> BearerToken:
        self.validate(connection)
        return BearerToken(
            principal="the shared file key",
            provider=_KeyProvider(connection.settings["key"]),
            acts_for=connection.exchange_email,
        )

    def unauthorized_reason(self, connection: Any) -> str:
        return (
            "the mailbox file refused the key; set it with: wess connection set --secret-stdin key"
        )


# -- the transport -------------------------------------------------------------------


class JsonFileMailbox:
    """One user's mailbox in a JSON file (``wess_core.strategies.Transport``)."""

    max_batch = 50
    settings = (
        Setting(
            "directory",
            help="absolute directory of the mailbox files",
            validate=_absolute,
            required=True,
        ),
    )

    def __init__(self, connection: Any) -> None:
        directory = connection.settings.get("directory")
        if not directory:
            raise UsageError(
                "no mailbox directory; set it with: wess connection set --option directory=DIR"
            )
        self.path = Path(directory) / f"{connection.exchange_email}.json"
        self.connection = connection
        self._admitted = False

    @staticmethod
    def check(connection: Any) -> None:
        """The credential check on save: the file exists and accepts the key."""
        JsonFileMailbox(connection)._admit(CredentialsRejected)

    # -- the file ------------------------------------------------------------------

    def _admit(self, refuse: Any = None) -> None:
        """Refuse unless the auth method's token is the mailbox's key."""
        if self._admitted:
            return
        method = plugins.auth_methods().get(self.connection.auth)
        credential = method.credential(self.connection)
        if not isinstance(credential, BearerToken):
            raise CredentialsRejected(
                f"the json_file transport needs a token, not {credential.principal}"
            )
        token = credential.provider.token(SCOPE).value
        digest = hashlib.sha256(token.encode()).hexdigest()
        data = self._load()
        if not hmac.compare_digest(digest, str(data.get("key_sha256", ""))):
            reason = method.unauthorized_reason(self.connection)
            if refuse is not None:
                raise refuse(reason)
            raise MailboxUnavailable(reason, credentials=True, rediscover=False)
        self._admitted = True

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            raise CredentialsRejected(f"no mailbox file {self.path}") from None

    def _save(self, data: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".mailbox-")
        with os.fdopen(fd, "w") as out:
            json.dump(data, out)
        os.replace(tmp, self.path)

    def _edit(self, folder: str, change) -> list[Any]:
        self._admit()
        data = self._load()
        items = data.setdefault("folders", {}).setdefault(folder, {})
        results = change(data, items)
        self._save(data)
        return results

    @staticmethod
    def _bump(data: dict[str, Any]) -> int:
        data["seq"] = int(data.get("seq", 0)) + 1
        return data["seq"]

    # -- the mailbox interface -----------------------------------------------------

    def changes(self, folder: str, token: str | None) -> ChangesPage:
        self._admit()
        data = self._load()
        try:
            since = int(token or 0)
        except ValueError:
            raise InvalidSyncState(f"token {token!r} is not this mailbox's") from None
        found = []
        for item_id, stored in (data.get("folders", {}).get(folder) or {}).items():
            if stored["seq"] <= since:
                continue
            if stored.get("deleted"):
                found.append(MailboxChange(item_id, deleted=True))
            else:
                item = _item(item_id, stored)
                found.append(MailboxChange(item_id, item.changekey, item=item))
        return ChangesPage(found, token=str(data.get("seq", 0)), done=True)

    def get(self, folder: str, item_ids) -> list[Any]:
        self._admit()
        items = self._load().get("folders", {}).get(folder) or {}
        return [
            _item(i, items[i]) if i in items and not items[i].get("deleted") else ItemNotFound(i)
            for i in item_ids
        ]

    def create(self, folder: str, new_items) -> list[Any]:
        def change(data, items):
            refs = []
            for new in new_items:
                seq = self._bump(data)
                item_id = f"JF{seq}"
                items[item_id] = {
                    "fields": dict(new.fields),
                    "changekey": f"CK{seq}",
                    "crm_id": new.crm_id,
                    "seq": seq,
                }
                refs.append(ItemRef(item_id, f"CK{seq}"))
            return refs

        return self._edit(folder, change)

    def update(self, folder: str, updates) -> list[Any]:
        def change(data, items):
            refs: list[Any] = []
            for upd in updates:
                stored = items.get(upd.item_id)
                if stored is None or stored.get("deleted"):
                    refs.append(ItemNotFound(upd.item_id))
                elif upd.changekey and upd.changekey != stored["changekey"]:
                    refs.append(ItemChanged(upd.item_id))
                else:
                    seq = self._bump(data)
                    stored["fields"] = merge_fields(stored["fields"], upd.fields)
                    stored.update(changekey=f"CK{seq}", seq=seq)
                    refs.append(ItemRef(upd.item_id, stored["changekey"]))
            return refs

        return self._edit(folder, change)

    def delete(self, folder: str, refs) -> list[Any]:
        def change(data, items):
            for ref in refs:
                stored = items.get(ref.item_id)
                if stored is not None and not stored.get("deleted"):
                    stored.update(deleted=True, fields={}, seq=self._bump(data))
            return [None for _ in refs]

        return self._edit(folder, change)


def _item(item_id: str, stored: dict[str, Any]) -> MailboxItem:
    return MailboxItem(item_id, stored["changekey"], dict(stored["fields"]), stored.get("crm_id"))


@hookimpl
def wess_register_transports(register):
    register("json_file", JsonFileMailbox)


@hookimpl
def wess_register_auth_methods(register):
    register("file_key", FileKeyAuth())
