"""The storage the core keeps for strategies (issue 15, section 1): a plugin gets it from
its connection, per account or per user, secret values encrypted with the home's key and
re-encrypted by ``wess keys rotate``; a plugin never opens the core's files."""

from __future__ import annotations

from dataclasses import replace

from cryptography.fernet import Fernet

from tests.support import overwrite_plugin_secrets, plugin_storage_rows
from wess_core.connection import resolve
from wess_core.plugin_storage import HomeStorage
from wess_core.secrets import KEY_FILE_NAME
from wess_core.service import Context
from wess_core.service.accounts import load_account
from wess_core.service.users import get_profile
from wess_core.strategies import PluginStorage

TOKEN = b'{"AccessToken": {"secret": "tok-3f9a-do-not-leak"}}'


def _connection(home, login="alice"):
    ctx = Context(home=home)
    return resolve(load_account(ctx), get_profile(ctx, login), ctx.secrets.decrypt, home)


def _files(home):
    return {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}


def test_values_are_kept_per_plugin_and_per_owner(admin_home, home):
    alice, bob = _connection(home, "alice"), _connection(home, "bob")
    account = alice.storage("vault")
    assert isinstance(account, PluginStorage)
    account.set("cache", b"shared")
    alice.storage("vault", per_user=True).set("cache", b"alice's")
    alice.storage("other").set("cache", b"another plugin's")
    assert bob.storage("vault").get("cache") == b"shared"  # the account's, for everyone
    assert alice.storage("vault", per_user=True).get("cache") == b"alice's"
    assert bob.storage("vault", per_user=True).get("cache") is None
    assert alice.storage("other").get("cache") == b"another plugin's"
    account.set("cache", b"replaced")
    assert bob.storage("vault").get("cache") == b"replaced"
    account.delete("cache")
    account.delete("never-stored")
    assert account.get("cache") is None
    assert alice.storage("vault", per_user=True).get("cache") == b"alice's"


def test_a_secret_value_is_encrypted_on_disk_and_survives_key_rotation(admin_home, home):
    storage = _connection(home).storage("vault")
    storage.set("tokens", TOKEN, secret=True)
    for path, raw in _files(home).items():
        assert b"tok-3f9a-do-not-leak" not in raw, path
    before = plugin_storage_rows(home)
    assert admin_home("keys", "rotate").exit_code == 0
    after = plugin_storage_rows(home)
    assert after.keys() == before.keys() and after != before  # re-encrypted
    assert len((home / KEY_FILE_NAME).read_text().split()) == 1  # the old key is gone
    assert HomeStorage(home, "vault").get("tokens") == TOKEN


def test_a_secret_no_key_opens_reads_as_missing(admin_home, home):
    storage = _connection(home).storage("vault")
    storage.set("tokens", TOKEN, secret=True)
    # as if the key that encrypted it had been dropped by hand
    overwrite_plugin_secrets(home, Fernet(Fernet.generate_key()).encrypt(b"x").decode())
    assert storage.get("tokens") is None
    storage.set("tokens", b"fresh", secret=True)  # the next save replaces it
    assert storage.get("tokens") == b"fresh"


def test_a_connection_without_a_home_keeps_values_in_memory(admin_home, home):
    connection = _connection(home)
    homeless = replace(connection, home=None)
    homeless.storage("vault").set("k", b"v", secret=True)
    assert homeless.storage("vault").get("k") == b"v"
    assert not any("vault" in key for key in plugin_storage_rows(home))


def test_values_an_older_wess_kept_in_its_store_file_are_imported_once(admin_home, home):
    """Before the SQL tables the values were documents of the store file plugin_storage;
    the first open of the database takes them over (secrets still encrypted) and removes
    the file."""
    import base64

    from wess_core.store import Store
    from wess_core.tables.engine import close_databases

    box = Context(home=home).secrets
    secret = box.encrypt(base64.b64encode(TOKEN).decode())
    with Store(home).write("plugin_storage") as db:
        db.table("entries").insert(
            {"plugin": "vault", "owner": "account", "key": "tokens", "secret_value": secret}
        )
    (home / "wess.sqlite").unlink(missing_ok=True)  # a home from before the tables
    for name in ("wess.sqlite-wal", "wess.sqlite-shm"):
        (home / name).unlink(missing_ok=True)
    close_databases()  # the next open runs the migrations as a new process would
    assert HomeStorage(home, "vault").get("tokens") == TOKEN
    assert not (home / "plugin_storage.json").exists()
    assert plugin_storage_rows(home)[("vault", "account", "tokens")] == secret
