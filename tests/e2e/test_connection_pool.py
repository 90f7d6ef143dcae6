"""Users who share one service account (impersonation) still have ``throttle_cap``
requests in flight to their server: exchangelib's connection pool per login is sized
from the cap, in worker threads and in worker processes, and never exceeds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import SERVICE_ACCOUNT, assert_no_orphan_workers, impersonated_home
from wess_core.service import accounts, scheduler

LOGINS = [f"p{i:02d}" for i in range(40)]
CAP = 4


def _run_once(home, workers: int) -> dict:
    env = {**os.environ, "WESS_HOME": str(home)}
    argv = ["run", "--once", "--workers", str(workers), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("workers", [8, 16], ids=["threads", "processes"])
def test_one_service_account_has_cap_requests_in_flight(home, ews_server, workers):
    # 16 workers run in at most 2 processes here: 4 requests at once need a pool of
    # more than one connection per process
    assert scheduler.process_count(workers) <= 2
    impersonated_home(home, ews_server, LOGINS, cap=CAP)
    ews_server.set_latency(0.2)
    outcome = _run_once(home, workers)
    assert outcome["synced"] == LOGINS and not outcome["failed"], outcome
    assert ews_server.peak_in_flight(SERVICE_ACCOUNT) == CAP
    assert_no_orphan_workers(home)


def test_changed_cap_resizes_the_shared_pool(home, ews_server):
    """One scheduler (its threads keep exchangelib's cached Protocol between passes):
    a raised throttle_cap is used on the next pass, a lowered one bounds it again."""
    ctx = impersonated_home(home, ews_server, LOGINS[:16], cap=2)
    with scheduler.Scheduler(ctx, 8) as runner:
        assert not runner.run_pass()["failed"]  # the first full sync, no latency
        ews_server.set_latency(0.2)
        peaks = []
        for cap in (2, 6, 3):
            accounts.set_setting(ctx, "throttle_cap", str(cap))
            ews_server.reset_counts()
            outcome = runner.run_pass()
            assert not outcome["failed"], outcome
            peaks.append(ews_server.peak_in_flight(SERVICE_ACCOUNT))
    assert peaks == [2, 6, 3]
