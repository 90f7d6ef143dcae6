"""``wess ... | head``: when the reader goes away, wess stops quietly with 141 (128 +
SIGPIPE, as a shell reports for ``cat`` or ``ls``), never a traceback, and leaves no
temporary file behind (issue 13, §6)."""

from __future__ import annotations

import os
import subprocess
import sys

from wess_plugins.crm_local import local


def _wess(home, *args, stdout):
    return subprocess.Popen(
        [sys.executable, "-m", "wess_core.cli", *args],
        env={**os.environ, "WESS_HOME": str(home)},
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )


def _leftovers(home):
    return [p for p in home.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.suffixes]


def test_output_to_a_closed_pipe_ends_quietly(admin_home, home):
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before wess writes a byte
    try:
        proc = _wess(home, "users", "list", stdout=writer)
    finally:
        os.close(writer)
    _, stderr = proc.communicate(timeout=60)
    assert stderr == b""  # no traceback, no "Exception ignored" at shutdown
    assert proc.returncode == 141


def test_head_of_a_long_listing_ends_quietly_and_leaves_no_temp_file(admin_home, home):
    local.import_records(
        home,
        "main",
        "people",
        [{"first_name": f"P{i}", "email": f"p{i}@example.com"} for i in range(3000)],
    )
    for args in (("crm", "list", "people", "--json"), ("crm", "list", "people")):
        proc = _wess(home, *args, stdout=subprocess.PIPE)
        first = proc.stdout.read(200)  # `| head -c 200`: read a little, then go away
        proc.stdout.close()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 141, stderr
        assert first and stderr == b""
    assert _leftovers(home) == []
