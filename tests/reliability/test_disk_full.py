"""A write that the operating system refuses (file size limit, like a full disk) gives a
clear one-line error, and the previous file is intact with no temp file left behind."""

from __future__ import annotations

import os
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
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "WESS_HOME": str(home)})  # fmt: skip


def test_full_disk_while_adding_a_user_keeps_the_old_file(admin_home, home):
    users_file = home / "users.json"
    before = users_file.read_bytes()
    result = _limited(home, len(before) + 10, "users", "add", "carol",
                      "--email", "carol@example.com")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not save" in lines[0] and "nothing was changed" in lines[0]
    assert users_file.read_bytes() == before
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]
    # with room again, the same command works
    assert admin_home("users", "add", "carol", "--email", "carol@example.com").exit_code == 0


_FULL_DISK_SCRIPT = """
import resource, signal, sys
from wess_core.crm.local import LocalCrm
from wess_core.errors import StoreError
from wess_core.store import Store
from wess_core.strategies import NewRecord
from wess_core.sync.status import FolderState, StatusRow, StoreSyncState

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
    from wess_core.crm.local import LocalCrm
    from wess_core.store import Store
    from wess_core.sync.status import FolderState, StatusRow, StoreSyncState

    state = StoreSyncState(Store(tmp_path), "alice")
    state.save(FolderState("contacts", token="old", rows={"p0": StatusRow(
        "p0", "0", 0, "c", "item0", "ck", "i")}))  # fmt: skip
    state.close()
    crm = LocalCrm(tmp_path, "main")
    crm.create("people", [])
    before = sorted(p.name for p in (tmp_path / "crm").rglob("*"))
    out = subprocess.run([sys.executable, "-c", _FULL_DISK_SCRIPT, str(tmp_path)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stdout + out.stderr
    for line in lines:
        assert "could not save" in line and "nothing was changed" in line, line
    after = StoreSyncState(Store(tmp_path), "alice").load("contacts")
    assert after.token == "old" and sorted(after.rows) == ["p0"]
    assert sorted(p.name for p in (tmp_path / "crm").rglob("*")) == before  # no stray file
    assert crm.list("people") == []
