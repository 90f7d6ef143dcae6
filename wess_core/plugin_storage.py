"""The storage the core keeps for strategies (``wess_core.strategies.PluginStorage``).

A plugin that keeps something between runs (the ``oauth`` method's token cache) asks its
connection for it (``connection.storage("oauth")``) instead of opening the core's files.
The values live in the home's database (table ``plugin_storage``, ``wess_core.tables``),
one row per (plugin, owner, key): plain values base64-encoded, secret ones encrypted with
the home's keys (``wess keys rotate`` re-encrypts them: ``rotation_plan`` and
``apply_rotation``). Only this module knows that layout.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import sqlalchemy as sa

from wess_core.errors import SecretKeyError
from wess_core.secrets import SecretBox, secret_writer
from wess_core.store import check_name_part
from wess_core.tables import core_tables
from wess_core.tables.schema import plugin_storage as table

__all__ = [
    "ACCOUNT",
    "HomeStorage",
    "MemoryStorage",
    "Rotation",
    "apply_rotation",
    "for_connection",
    "rotation_plan",
    "user_owner",
]

#: The owner of values kept for the whole account.
ACCOUNT = "account"
#: One secret value to re-encrypt: its row's key, the token read, the token to write.
Rotation = tuple[tuple[str, str, str], str, str]


def user_owner(login: str) -> str:
    """The owner name of values kept for one user."""
    return f"user:{login}"


class HomeStorage:
    """A ``PluginStorage`` in the home's database."""

    def __init__(self, home: Path, plugin: str, owner: str = ACCOUNT) -> None:
        self.home = Path(home)
        self.plugin = check_name_part(plugin, "plugin name")
        self.owner = owner

    def _row(self, key: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            table.c.plugin == self.plugin, table.c.owner == self.owner, table.c.key == key
        )

    def get(self, key: str) -> bytes | None:
        with core_tables(self.home).read() as conn:
            row = conn.execute(
                sa.select(table.c.value, table.c.secret_value).where(self._row(key))
            ).first()
        if row is None:
            return None
        if row.secret_value:
            try:
                text = SecretBox.for_home(self.home).decrypt(row.secret_value)
            except Exception:  # a key dropped since: as if nothing were stored
                return None
        else:
            text = row.value or ""
        return base64.b64decode(text)

    def set(self, key: str, value: bytes, *, secret: bool = False) -> None:
        text = base64.b64encode(bytes(value)).decode("ascii")
        row = {"plugin": self.plugin, "owner": self.owner, "key": key}
        # a secret is encrypted with the keys in force under the secrets lock: a
        # concurrent 'wess keys rotate' cannot leave it under a key it drops
        with secret_writer(self.home) as box, core_tables(self.home).write() as conn:
            if secret:
                row.update(secret_value=box.encrypt(text), value=None)
            else:
                row.update(value=text, secret_value=None)
            conn.execute(sa.delete(table).where(self._row(key)))
            conn.execute(sa.insert(table).values(**row))

    def delete(self, key: str) -> None:
        with core_tables(self.home).write() as conn:
            conn.execute(sa.delete(table).where(self._row(key)))


def rotation_plan(home: Path, box: SecretBox) -> list[Rotation]:
    """Every secret value re-encrypted in memory; ``SecretKeyError`` (nothing changed)
    when one decrypts with no configured key. Called under the secrets lock."""
    plan: list[Rotation] = []
    with core_tables(home).read() as conn:
        rows = conn.execute(
            sa.select(table.c.plugin, table.c.owner, table.c.key, table.c.secret_value).where(
                table.c.secret_value.is_not(None)
            )
        ).all()
    for plugin, owner, key, token in rows:
        try:
            plan.append(((plugin, owner, key), token, box.rotate(token)))
        except SecretKeyError:
            raise SecretKeyError(
                f"cannot decrypt the stored value {key!r} of plugin {plugin!r} ({owner}) with "
                "any configured key; nothing was rotated (restore the key that encrypted it, "
                "or let the plugin store it again)"
            ) from None
    return plan


def apply_rotation(home: Path, box: SecretBox, plan: list[Rotation]) -> None:
    """Write the re-encrypted values in one transaction (a value changed since the plan
    was made is re-encrypted as it is now)."""
    with core_tables(home).write() as conn:
        for (plugin, owner, key), old, new in plan:
            match = sa.and_(table.c.plugin == plugin, table.c.owner == owner, table.c.key == key)
            now = conn.scalar(sa.select(table.c.secret_value).where(match))
            if now:
                token = new if now == old else box.rotate(now)
                conn.execute(sa.update(table).where(match).values(secret_value=token))


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
