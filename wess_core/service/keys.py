"""``wess keys rotate``: every stored secret re-encrypted with a new key, all or nothing:
the account's and the users' (TinyDB stores) and the plugins' (``wess_core.plugin_storage``).
"""

from __future__ import annotations

import os
from typing import Any

from wess_core import plugin_storage
from wess_core.errors import SecretKeyError, StoreError, WessError
from wess_core.safefile import WriteFailed
from wess_core.secrets import SecretBox, load_keys, write_key_file
from wess_core.service import accounts, profiles  # noqa: F401  (register the stores below)
from wess_core.service.context import Context

__all__ = ["KeyRotationFailed", "rotate_keys", "rotate_value"]


def rotate_value(box: SecretBox, value: Any) -> Any:
    """A token re-encrypted, or every token of a map of them (``strategy_secrets``)."""
    if isinstance(value, dict):
        return {k: rotate_value(box, v) for k, v in value.items() if v}
    return box.rotate(value)


class KeyRotationFailed(WessError):
    """``wess keys rotate`` stopped; the message says what is where (every secret still
    decrypts with the keys in force)."""


def rotate_keys(ctx: Context) -> dict[str, Any]:
    """Re-encrypt every stored secret with a new key (or the newest of ``WESS_SECRET_KEY``),
    all or nothing, under the home's secrets lock (so no secret write runs meanwhile).

    1. Every re-encrypted value is computed in memory first; one that no key decrypts
       stops the rotation before anything is written.
    2. The key file gets [new, old...]; 3. each encrypted store is rewritten; 4. the key
       file keeps only [new]. A crash or a failed write between any two steps leaves every
       secret decryptable with the key file's keys, and a second run completes the job.
    """
    from cryptography.fernet import Fernet

    from wess_core import plugins
    from wess_core.secrets import ENCRYPTED_STORES, ENV_VAR, key_file, secrets_lock

    ctx.require_admin()
    plugins.get_plugin_manager()  # plugins that store secrets register them on import
    from_env = bool(os.environ.get(ENV_VAR))
    with secrets_lock(ctx.home):
        old_keys = load_keys(ctx.home)
        keys = old_keys if from_env else [Fernet.generate_key(), *old_keys]
        box = SecretBox(keys)
        # 1. in memory: {store: {doc id: {field: (old token, new token)}}}
        plan: dict[str, dict[str, dict[str, tuple[Any, Any]]]] = {}
        for name, (table, fields) in sorted(ENCRYPTED_STORES.items()):
            docs = ctx.stores.table_documents(name, table)
            for doc_id, doc in docs.items():
                for field in fields:
                    token = doc.get(field) if isinstance(doc, dict) else None
                    if not token:
                        continue
                    try:
                        new = rotate_value(box, token)
                    except SecretKeyError:
                        raise SecretKeyError(
                            f"cannot decrypt the {field} of {table} document {doc_id} in "
                            f"{ctx.stores.where(name)} with any configured key; nothing was "
                            "rotated (restore the key that encrypted it, or set that value again)"
                        ) from None
                    plan.setdefault(name, {}).setdefault(doc_id, {})[field] = (token, new)
        stored = plugin_storage.rotation_plan(ctx.home, box)  # plugins' secrets, in memory
        # 2. the new key beside the old ones
        if not from_env:
            try:
                write_key_file(ctx.home, keys)
            except WriteFailed as exc:
                raise KeyRotationFailed(
                    f"could not save {exc.path}: {exc.reason}; nothing was rotated"
                ) from None
        keep = f"{ENV_VAR} still holds" if from_env else f"{key_file(ctx.home)} keeps"
        # 3. every store, re-read under its lock (other fields may have changed meanwhile;
        # secret fields cannot: their writers wait for the secrets lock)
        for name, changes in plan.items():
            table, _ = ENCRYPTED_STORES[name]
            try:
                with ctx.stores.edit_table(name, table) as docs:
                    for doc_id, doc in docs.items():
                        for field, (old, new) in changes.get(doc_id, {}).items():
                            if doc.get(field):
                                doc[field] = (
                                    new if doc[field] == old else rotate_value(box, doc[field])
                                )
            except StoreError as exc:
                raise KeyRotationFailed(
                    f"key rotation stopped: {exc} ({keep} the old key too, so every secret "
                    "still decrypts); fix that and run 'wess keys rotate' again"
                ) from None
        try:
            plugin_storage.apply_rotation(ctx.home, box, stored)
        except StoreError as exc:
            raise KeyRotationFailed(
                f"key rotation stopped: {exc} ({keep} the old key too, so every secret "
                "still decrypts); fix that and run 'wess keys rotate' again"
            ) from None
        # 4. the old keys go
        if not from_env:
            try:
                write_key_file(ctx.home, keys[:1])
            except WriteFailed as exc:
                raise KeyRotationFailed(
                    f"every secret is re-encrypted with the new key, but {exc.path} could not "
                    f"be saved without the old key ({exc.reason}); it keeps both, which "
                    "works: run 'wess keys rotate' again to drop the old one"
                ) from None
    ctx._box = None
    count = sum(len(fields) for fields in plan.get("users", {}).values())
    return {"rotated_user_secrets": count, "key_source": ENV_VAR if from_env else "key file"}
