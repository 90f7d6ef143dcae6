"""The storage the core keeps for strategies (``wess_core.strategies.PluginStorage``).

A plugin that keeps something between runs (the ``oauth`` method's token cache) asks its
connection for it (``connection.storage("oauth")``) instead of opening the core's files.
The values live in the store file ``plugin_storage`` of the home, one document per
(plugin, owner, key): plain values base64-encoded, secret ones encrypted with the home's
keys (``wess keys rotate`` re-encrypts them). Only this module knows that layout, so the
backend can move (to a SQL table) without a plugin noticing.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

from wess_core.secrets import register_encrypted_store
from wess_core.store import check_name_part

__all__ = ["ACCOUNT", "HomeStorage", "MemoryStorage", "for_connection", "user_owner"]

STORE = "plugin_storage"
TABLE = "entries"
#: The owner of values kept for the whole account.
ACCOUNT = "account"
register_encrypted_store(STORE, TABLE, ("secret_value",))


def user_owner(login: str) -> str:
    """The owner name of values kept for one user."""
    return f"user:{login}"


class HomeStorage:
    """A ``PluginStorage`` in the home's ``plugin_storage`` store file."""

    def __init__(self, home: Path, plugin: str, owner: str = ACCOUNT) -> None:
        self.home = Path(home)
        self.plugin = check_name_part(plugin, "plugin name")
        self.owner = owner

    def _match(self):
        from tinydb import Query

        q = Query()
        return (q.plugin == self.plugin) & (q.owner == self.owner)

    def get(self, key: str) -> bytes | None:
        from tinydb import Query

        from wess_core.store import Store

        store = Store(self.home)
        if not store.exists(STORE):
            return None
        with store.read(STORE) as db:
            row = db.table(TABLE).get(self._match() & (Query().key == key))
        if not row:
            return None
        if row.get("secret_value"):
            from wess_core.secrets import SecretBox

            try:
                text = SecretBox.for_home(self.home).decrypt(row["secret_value"])
            except Exception:  # a key dropped since: as if nothing were stored
                return None
        else:
            text = row.get("value") or ""
        return base64.b64decode(text)

    def set(self, key: str, value: bytes, *, secret: bool = False) -> None:
        from tinydb import Query

        from wess_core.secrets import secret_writer
        from wess_core.store import Store

        text = base64.b64encode(bytes(value)).decode("ascii")
        doc = {"plugin": self.plugin, "owner": self.owner, "key": key}
        # a secret is encrypted with the keys in force under the secrets lock: a
        # concurrent 'wess keys rotate' cannot leave it under a key it drops
        with secret_writer(self.home) as box, Store(self.home).write(STORE) as db:
            if secret:
                doc.update(secret_value=box.encrypt(text), value=None)
            else:
                doc.update(value=text, secret_value=None)
            db.table(TABLE).upsert(doc, self._match() & (Query().key == key))

    def delete(self, key: str) -> None:
        from tinydb import Query

        from wess_core.store import Store

        store = Store(self.home)
        if not store.exists(STORE):
            return
        with store.write(STORE) as db:
            db.table(TABLE).remove(self._match() & (Query().key == key))


class MemoryStorage:
    """A ``PluginStorage`` for a connection without a home (tests, one-off checks):
    values live as long as the process."""

    _values: dict[tuple[str, str, str], bytes] = {}
    _lock = threading.Lock()

    def __init__(self, plugin: str, owner: str = ACCOUNT) -> None:
        self.plugin, self.owner = plugin, owner

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._values.get((self.plugin, self.owner, key))

    def set(self, key: str, value: bytes, *, secret: bool = False) -> None:
        with self._lock:
            self._values[(self.plugin, self.owner, key)] = bytes(value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop((self.plugin, self.owner, key), None)


def for_connection(
    home: Path | None, plugin: str, login: str | None
) -> HomeStorage | MemoryStorage:
    """The storage of ``plugin`` for the account (``login`` None) or one user."""
    owner = user_owner(login) if login else ACCOUNT
    if home is None:
        return MemoryStorage(plugin, owner)
    return HomeStorage(home, plugin, owner)
