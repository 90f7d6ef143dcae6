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
