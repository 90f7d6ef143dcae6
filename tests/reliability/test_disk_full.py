"""A write that the operating system refuses (file size limit, like a full disk) gives a
clear one-line error, and the previous file is intact with no temp file left behind."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys


def _limited(home, size: int, *argv: str):
    """Run ``wess`` with RLIMIT_FSIZE: any write past ``size`` bytes fails with EFBIG."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({size}, {size}))\n"
        "from wess_core.cli import main\n"
        f"sys.argv = ['wess', '--home', {str(home)!r}, *{list(argv)!r}]\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WESS_HOME": str(home)},
    )


def test_full_disk_while_adding_a_user_keeps_the_old_file(admin_home, home):
    users_file = home / "users.json"
    before = users_file.read_bytes()
    result = _limited(
        home, len(before) + 10, "users", "add", "carol", "--email", "carol@example.com"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not save" in lines[0] and "nothing was changed" in lines[0]
    assert users_file.read_bytes() == before
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]
    # with room again, the same command works
    assert admin_home("users", "add", "carol", "--email", "carol@example.com").exit_code == 0


_FULL_DISK_SCRIPT = """
import resource, signal, sys
from wess_plugins.crm_local.local import LocalCrm
from wess_core.errors import StoreError
from wess_core.store import Store
from wess_core.strategies import NewRecord
from wess_core.sync.status import FolderState, StatusRow
from wess_core.sync.state_db import StoreSyncState

home = sys.argv[1]
rows = {f"p{n}": StatusRow(f"p{n}", str(n), n, "c" * 32, f"item{n}" * 8, "ck", "i" * 32)
        for n in range(5000)}
state = StoreSyncState(Store(home), "alice")
crm = LocalCrm(home, "main")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
for what, write in (
    ("state", lambda: state.save(FolderState("contacts", token="new", rows=rows))),
    ("crm", lambda: crm.create("people", [NewRecord({"first_name": "x" * 300})] * 3000)),
):
    try:
        write()
    except StoreError as exc:
        print(what, str(exc))
    else:
        print(what, "written")
"""


def test_a_full_disk_during_a_state_or_crm_write_changes_nothing(tmp_path):
    from wess_core.store import Store
    from wess_core.strategies import NewRecord
    from wess_core.sync.state_db import StoreSyncState
    from wess_core.sync.status import FolderState, StatusRow
    from wess_plugins.crm_local.local import LocalCrm

    state = StoreSyncState(Store(tmp_path), "alice")
    row = StatusRow(
        pair_id="p0",
        crm_id="0",
        crm_rev=0,
        crm_hash="c",
        item_id="item0",
        changekey="ck",
        item_hash="i",
    )
    state.save(FolderState("contacts", token="old", rows={"p0": row}))
    state.close()
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", [NewRecord({"first_name": "Ann"})])
    before = crm.list("people")
    out = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout + out.stderr
    for line in lines:
        assert "could not save" in line and "nothing was changed" in line, line
    after = StoreSyncState(Store(tmp_path), "alice").load("contacts")
    assert after.token == "old" and sorted(after.rows) == ["p0"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]  # no stray file
    assert LocalCrm(tmp_path, "main").list("people") == before
    assert LocalCrm(tmp_path, "main").create("people", [NewRecord({"a": "b"})])[0].id == "2"


# -- keys rotate on a full disk or a read-only home: one line naming the file, no temp
# file left, every secret still decrypts (issue 13, section 6) --------------------------


def _secrets_home(admin_home):
    """Alice's password and the account's impersonation password, both encrypted."""
    service_account = ("--impersonation-user", "svc@example.com", "--password-stdin")
    for argv, secret in (
        (("users", "set", "alice", "--password-stdin", "--no-verify"), "alice-pw"),
        (("connection", "set", *service_account, "--no-verify"), "svc-pw"),
    ):
        result = admin_home(*argv, input=secret + "\n")
        assert result.exit_code == 0, result.stderr


def _decrypted(home):
    from wess_core.secrets import SecretBox, load_keys
    from wess_core.store import load_json_file

    box = SecretBox(load_keys(home))
    users = load_json_file(home / "users.json")["users"].values()
    account = next(iter(load_json_file(home / "account.json")["account"].values()))
    alice = next(u for u in users if u["login"] == "alice")
    service = account["strategy_secrets"]["impersonation"]["password"]
    return box.decrypt(alice["password"]), box.decrypt(service)


def _key_count(home):
    return len((home / "secret.key").read_text().split())


def _temp_files(home):
    return [p for p in home.rglob("*") if p.name.endswith(".tmp")]


def test_full_disk_while_rotate_writes_the_key_file_rotates_nothing(admin_home, home):
    _secrets_home(admin_home)
    files = ("secret.key", "account.json", "users.json")
    before = {name: (home / name).read_bytes() for name in files}
    result = _limited(home, 60, "keys", "rotate")  # one key fits (45 bytes), two do not
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(home / "secret.key") in lines[0] and "nothing was rotated" in lines[0]
    assert {name: (home / name).read_bytes() for name in files} == before
    assert not _temp_files(home)
    assert _decrypted(home) == ("alice-pw", "svc-pw")


def test_full_disk_between_rotation_steps_keeps_every_secret(admin_home, home):
    _secrets_home(admin_home)
    account, users = (home / "account.json").stat().st_size, (home / "users.json").stat().st_size
    assert account + 100 < users, (account, users)
    # the key file [new, old] and account.json fit, users.json does not: the rotation
    # stops between two of its steps
    result = _limited(home, (account + users) // 2, "keys", "rotate")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(home / "users.json") in lines[0] and "still decrypts" in lines[0]
    assert _key_count(home) == 2
    assert not _temp_files(home)
    assert _decrypted(home) == ("alice-pw", "svc-pw")
    # with room again, a second run completes the job
    assert admin_home("keys", "rotate").exit_code == 0
    assert _key_count(home) == 1
    assert _decrypted(home) == ("alice-pw", "svc-pw")


def _home_contents(home) -> dict[str, object]:
    """Every file's bytes, and the database's rows (SQLite may checkpoint its log into the
    file when a reader closes: the same rows, other bytes)."""
    files = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    database = home / "wess.sqlite"
    if database.exists():
        for name in list(files):
            if name.startswith("wess.sqlite"):
                del files[name]
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            files["wess.sqlite rows"] = list(conn.iterdump())
    return files


def _read_only(argv: list[str]) -> list[str]:
    """``argv`` run where the home's permission bits bind: as root, without the
    capabilities that override them (setpriv); as anyone else, as is."""
    if os.geteuid() != 0:
        return argv
    import shutil

    import pytest

    if not shutil.which("setpriv"):
        pytest.skip("root ignores a read-only mode without setpriv")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *argv]


def test_read_only_home_during_rotate_is_one_line_naming_the_file(admin_home, home):
    _secrets_home(admin_home)
    before = _home_contents(home)
    os.chmod(home, 0o555)
    try:
        argv = [sys.executable, "-m", "wess_core.cli", "--home", str(home), "keys", "rotate"]
        result = subprocess.run(_read_only(argv), capture_output=True, text=True, timeout=60)
    finally:
        os.chmod(home, 0o700)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(home / "secret.key") in lines[0] and "nothing was rotated" in lines[0]
    assert _home_contents(home) == before
    assert not _temp_files(home)
    assert _decrypted(home) == ("alice-pw", "svc-pw")
