"""Trust boundaries of the home (issue 13, section 4): WESS never follows a link planted
inside its home, and refuses a home or a file another user owns or could write (as ssh
does), in one line naming the path and the fix; core dumps are off once secrets are in
memory."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from wess_core.errors import StoreError, UnsafeFile
from wess_core.secrets import KEY_FILE_NAME
from wess_core.service import Context, history
from wess_core.store import Store
from wess_core.tables import DB_FILE
from wess_core.tables.engine import close_databases

NOBODY = 65534
needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root"
)


def _one_line(result, *words):
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _outside(tmp_path, name="outside.txt", content=b"not WESS's file\n"):
    path = tmp_path / name
    path.write_bytes(content)
    return path


# -- home and file modes, owners ------------------------------------------------------


def test_a_world_writable_home_is_refused(admin_home, home):
    os.chmod(home, 0o777)
    try:
        line = _one_line(admin_home("users", "list"), str(home), "chmod go-w")
        assert "writable by" in line
        _one_line(admin_home("users", "add", "carol", "--email", "c@example.com"), "chmod go-w")
    finally:
        os.chmod(home, 0o700)
    assert admin_home("users", "list").exit_code == 0


def test_a_group_writable_store_file_is_refused(admin_home, home):
    users_file = home / "users.json"
    os.chmod(users_file, 0o664)
    _one_line(admin_home("users", "list"), str(users_file), "chmod go-w")


@needs_root
def test_a_store_file_owned_by_another_user_is_refused(admin_home, home):
    account = home / "account.json"
    before = account.read_bytes()
    os.chown(account, NOBODY, NOBODY)
    line = _one_line(admin_home("users", "list"), str(account), "owned by another user")
    assert "chown" in line
    _one_line(admin_home("config", "set", "sync_interval", "60"), str(account))
    assert account.read_bytes() == before


@needs_root
def test_a_key_file_owned_by_another_user_is_refused(admin_home, home):
    os.chown(home / KEY_FILE_NAME, NOBODY, NOBODY)
    result = admin_home("users", "set", "alice", "--password-stdin", "--no-verify", input="x\n")
    _one_line(result, str(home / KEY_FILE_NAME), "owned by another user")


def test_a_home_created_by_wess_passes(wess, home):
    assert wess("init").exit_code == 0
    assert oct(home.stat().st_mode & 0o777) == "0o700"
    assert wess("users", "list").exit_code == 0


# -- links ---------------------------------------------------------------------------


def test_a_symlinked_users_file_is_refused_not_replaced(admin_home, home, tmp_path):
    users_file = home / "users.json"
    target = _outside(tmp_path, "users-elsewhere.json", users_file.read_bytes())
    users_file.unlink()
    users_file.symlink_to(target)
    before = target.read_bytes()
    for argv in (("users", "list"), ("users", "add", "carol", "--email", "c@example.com")):
        _one_line(admin_home(*argv), str(users_file), "symbolic link")
    assert users_file.is_symlink() and target.read_bytes() == before


def test_a_symlinked_key_file_is_refused_not_replaced(admin_home, home, tmp_path):
    key = home / KEY_FILE_NAME
    target = _outside(tmp_path, "key-elsewhere", key.read_bytes())
    os.chmod(target, 0o600)
    key.unlink()
    key.symlink_to(target)
    before = target.read_bytes()
    result = admin_home("users", "set", "alice", "--password-stdin", "--no-verify", input="x\n")
    _one_line(result, str(key), "symbolic link")
    _one_line(admin_home("keys", "rotate"), str(key), "symbolic link")
    assert key.is_symlink() and target.read_bytes() == before


def test_a_link_at_the_old_key_temp_name_receives_nothing(admin_home, home, tmp_path):
    target = _outside(tmp_path)
    planted = home / f".{KEY_FILE_NAME}.tmp"  # the fixed temp name WESS used to write
    planted.symlink_to(target)
    result = admin_home("users", "set", "alice", "--password-stdin", "--no-verify", input="pw\n")
    assert result.exit_code == 0
    result = admin_home("keys", "rotate")
    assert result.exit_code == 0, result.stderr
    assert target.read_bytes() == b"not WESS's file\n"
    assert planted.is_symlink()


def test_a_linked_home_database_is_refused_not_followed(admin_home, home, tmp_path):
    ctx = Context(home=home)
    history.record(ctx, "alice", "sync", "first")
    database = home / DB_FILE
    target = _outside(tmp_path)
    database.unlink()
    database.symlink_to(target)
    with pytest.raises(UnsafeFile, match="symbolic link") as err:
        history.record(ctx, "alice", "sync", "second")
    assert str(database) in str(err.value) and "\n" not in str(err.value)
    assert target.read_bytes() == b"not WESS's file\n"
    _one_line(admin_home("history", "alice"), str(database), "symbolic link")
    assert database.is_symlink() and target.read_bytes() == b"not WESS's file\n"


def test_a_link_at_the_databases_wal_is_refused(admin_home, home, tmp_path):
    history.record(Context(home=home), "alice", "sync", "first")
    close_databases()  # the last connection gone: SQLite removed its WAL
    wal = home / f"{DB_FILE}-wal"
    assert not wal.exists()
    target = _outside(tmp_path)
    wal.symlink_to(target)
    _one_line(admin_home("history", "alice"), str(wal), "symbolic link")
    assert target.read_bytes() == b"not WESS's file\n"


def test_a_group_writable_home_database_is_refused(admin_home, home):
    history.record(Context(home=home), "alice", "sync", "first")
    os.chmod(home / DB_FILE, 0o664)  # while this process has it open
    _one_line(admin_home("history", "alice"), str(home / DB_FILE), "chmod go-w")


def test_a_symlinked_state_database_is_refused(tmp_path):
    from wess_core.sync.state_db import StoreSyncState
    from wess_core.sync.status import FolderState

    home = tmp_path / "home"
    (home / "state").mkdir(parents=True, mode=0o700)
    target = tmp_path / "elsewhere.sqlite"
    sqlite3.connect(target).close()
    before = target.read_bytes()
    (home / "state" / "alice.sqlite").symlink_to(target)
    state = StoreSyncState(Store(home), "alice")
    with pytest.raises(UnsafeFile, match="symbolic link"):
        state.load("contacts")
    with pytest.raises(UnsafeFile, match="symbolic link"):
        state.save(FolderState("contacts", token="t"))
    assert target.read_bytes() == before


def test_the_crm_refuses_a_linked_database(tmp_path):
    from wess_core.strategies import NewRecord
    from wess_plugins.crm_local.local import LocalCrm

    home = tmp_path / "home"
    LocalCrm(home, "main").create("people", [NewRecord({"first_name": "Ann"})])
    close_databases()
    database = home / DB_FILE
    target = _outside(tmp_path, "elsewhere.sqlite", database.read_bytes())
    database.unlink()
    database.symlink_to(target)
    with pytest.raises(UnsafeFile, match="symbolic link"):
        LocalCrm(home, "main").list("people")
    assert target.read_bytes()[:16] == b"SQLite format 3\x00"


def test_an_old_homes_linked_crm_shard_folder_is_refused_not_imported(tmp_path):
    home = tmp_path / "home"
    (home / "crm").mkdir(parents=True, mode=0o700)
    elsewhere = tmp_path / "elsewhere.d"
    elsewhere.mkdir(mode=0o700)
    shard = {"records": {"1": {"revision": 1, "fields": {"first_name": "Planted"}}}}
    (elsewhere / "people.0.aa.json").write_text(json.dumps(shard))
    manifest = {
        "meta": {"1": {"revision": 1}},
        "shards": {"1": {"table": "people", "n": 0, "file": "people.0.aa.json", "max_rev": 1}},
    }
    (home / "crm" / "main.json").write_text(json.dumps(manifest))
    (home / "crm" / "main.d").symlink_to(elsewhere)
    from wess_plugins.crm_local.local import LocalCrm

    with pytest.raises(StoreError, match="symbolic link"):
        LocalCrm(home, "main")
    assert (elsewhere / "people.0.aa.json").exists()


# -- core dumps ----------------------------------------------------------------------


def test_core_dumps_are_off_once_secrets_are_in_memory():
    code = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_CORE)\n"
        "resource.setrlimit(resource.RLIMIT_CORE, (hard if hard != -1 else 1 << 30, hard))\n"
        "from cryptography.fernet import Fernet\n"
        "from wess_core.secrets import SecretBox\n"
        "box = SecretBox([Fernet.generate_key()])\n"
        "print(resource.getrlimit(resource.RLIMIT_CORE)[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "0", out.stdout + out.stderr
