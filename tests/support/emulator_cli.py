"""``wess emulator serve`` as a subprocess: started, its first JSON line read, stopped with
SIGTERM and required to exit 0."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def serving(*args: str) -> Iterator[dict]:
    """Run ``emulator serve ARGS``; yield the JSON line it prints first."""
    cmd = [sys.executable, "-c", "from wess_emulator.cli import emulator; emulator()", "serve"]
    proc = subprocess.Popen(
        [*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ)
    )
    try:
        yield json.loads(proc.stdout.readline())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, proc.stderr.read()
