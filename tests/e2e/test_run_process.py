"""``wess run`` as a real process, in every worker mode (threads; worker processes with
16 and 64 workers): ``--once`` exits when its pass is done, SIGTERM (and Ctrl-C) stops a
running scheduler mid-pass within 10 s with exit 0 and what was synced saved, and no
process is left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.support import assert_no_orphan_workers, scheduled_home, spawn_run
from wess_core.service import history
from wess_plugins.crm_local import local

pytestmark = pytest.mark.slow

LOGINS = [f"w{i:02d}" for i in range(24)]
MODES = pytest.mark.parametrize("workers", [2, 16, 64], ids=["threads", "p16", "p64"])


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[float, str, str]:
    """Seconds until ``proc`` exited (killed after ``timeout``), its stdout and stderr."""
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"wess run did not exit within {timeout} s: {err}") from None
    return time.monotonic() - started, out, err


@MODES
def test_run_once_exits_after_its_pass(home, ews_server, workers):
    ctx = scheduled_home(home, ews_server, LOGINS, cap=8)
    _, out, err = _finish(spawn_run(home, "--once", "--workers", str(workers)), 120)
    assert json.loads(out.splitlines()[-1])["synced"] == LOGINS, err
    assert_no_orphan_workers(home)
    for login in LOGINS:
        assert history.last_entry(ctx, login)["kind"] == "sync"


@MODES
def test_sigterm_stops_run_within_10_s_with_state_saved(home, ews_server, workers):
    _stop_mid_pass(home, ews_server, workers, signal.SIGTERM)


def test_ctrl_c_stops_worker_processes_too(home, ews_server):
    _stop_mid_pass(home, ews_server, 16, signal.SIGINT)


def _stop_mid_pass(home, ews_server, workers: int, signum: signal.Signals) -> None:
    """Signal ``wess run`` while a pass writes to both sides; it must stop within 10 s,
    exit 0, leave no process, and leave every user's state whole."""
    scheduled_home(home, ews_server, LOGINS, cap=8)
    proc = spawn_run(home, "--interval", "0.1", "--workers", str(workers))
    try:
        first = json.loads(proc.stdout.readline() or "{}")  # one pass done
        assert first.get("synced") == LOGINS, first
        ews_server.set_latency(0.05)  # a pass now takes seconds: the signal comes mid-pass
        for login in LOGINS:  # new records: the next pass writes to both sides
            records = [{"first_name": f"{login}-new-{i}"} for i in range(20)]
            local.import_records(home, login, "people", records)
        time.sleep(0.3)
        proc.send_signal(signum)
        took, out, err = _finish(proc, 10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert took < 10, took
    assert err.strip().splitlines()[-1] == (
        f"wess run: stopped on {signum.name}; requests in flight were cut"
    ), err
    stopped = json.loads(out.splitlines()[-1])  # the pass the signal ended
    assert set(stopped["skipped"]) | set(stopped["failed"]), stopped
    assert_no_orphan_workers(home)
    # what the stopped run wrote is whole: a clean pass finishes every user without
    # a duplicate on either side
    ews_server.set_latency(0)
    _, out, err = _finish(spawn_run(home, "--once", "--workers", "4"), 120)
    outcome = json.loads(out.splitlines()[-1])
    assert outcome["synced"] == LOGINS and not outcome["failed"], (outcome, err)
    for login in LOGINS:
        people = local.list_records(home, login, "people")
        assert len(people) == 23, login
        mailbox = ews_server.mailbox(f"{login}@example.com")
        assert len(mailbox.folder("contacts").items) == 23, login
