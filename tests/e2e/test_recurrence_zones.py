"""The recurrence golden tests, each machine zone in a process of its own (``TZ`` set
before Python starts, so nothing could have cached another zone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_TESTS = "tests/e2e/test_recurrence_golden.py"


@pytest.mark.slow
@pytest.mark.parametrize("zone", ["Europe/London", "America/New_York"])
def test_golden_recurrence_tests_pass_in_a_process_in_this_zone(zone):
    env = {**os.environ, "TZ": zone}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", GOLDEN_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
