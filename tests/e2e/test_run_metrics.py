"""``wess run --metrics-port`` as a real process with worker processes: its ``/metrics``
adds up what every child synced (prometheus-client's multiprocess mode), from a private
directory that is gone once the scheduler exits."""

from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import httpx
import pytest

from tests.support import assert_no_orphan_workers, scheduled_home, spawn_run
from tests.support.metrics import value

LOGINS = [f"m{i:02d}" for i in range(24)]


def _metrics_url(proc) -> str:
    """The URL ``wess run`` prints on stderr before its first pass."""
    for line in proc.stderr:
        if line.startswith("{") and "metrics_url" in line:
            return json.loads(line)["metrics_url"]
    raise AssertionError(f"wess run exited {proc.wait()} without a metrics URL")


def _value(url: str, name: str, **labels: str) -> float:
    return value(httpx.get(url, timeout=30).text, name, **labels)


def _private_dir(tmp: Path) -> Path:
    (found,) = [p for p in tmp.iterdir() if p.name.startswith("wess-metrics-")]
    return found


@pytest.mark.parametrize("workers", [4, 16], ids=["threads", "processes"])
def test_run_metrics_add_up_every_worker(home, ews_server, tmp_path, monkeypatch, workers):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # where the private directory goes
    scheduled_home(home, ews_server, LOGINS, cap=8)
    argv = ("--interval", "0.2", "--workers", str(workers), "--metrics-port", "0")
    proc = spawn_run(home, *argv)
    try:
        url = _metrics_url(proc)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        first = json.loads(proc.stdout.readline() or "{}")  # one pass done
        assert first.get("synced") == LOGINS, first
        shared = _private_dir(tmp)
        assert stat.S_IMODE(shared.stat().st_mode) == 0o700
        writers = {int(p.stem.rpartition("_")[2]) for p in shared.glob("counter_*.db")}
        if workers > 8:  # worker processes synced (the scheduler only wrote its zeros)
            assert writers - {proc.pid}
        else:  # the scheduler's threads
            assert writers == {proc.pid}
        assert _value(url, "wess_syncs_total", outcome="synced") >= len(LOGINS)
        assert _value(url, "wess_syncs_total", outcome="failed") == 0
        assert _value(url, "wess_sync_duration_seconds_count") >= len(LOGINS)
        created = _value(url, "wess_items_changed_total", direction="to_exchange")
        assert created == 3 * len(LOGINS)  # each user's 3 CRM records, once
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert not shared.exists()  # removed at exit
    assert_no_orphan_workers(home)


def test_run_once_with_metrics_exits_and_cleans_up(home, ews_server, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    scheduled_home(home, ews_server, LOGINS, cap=8)
    proc = spawn_run(home, "--once", "--workers", "16", "--metrics-port", "0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["synced"] == LOGINS
    assert "metrics_url" in err
    assert list(tmp.iterdir()) == []


def test_a_killed_worker_leaves_no_running_sync_behind(home, ews_server, tmp_path, monkeypatch):
    """kill -9 of a worker process mid-sync: once the pass is over, ``wess_syncs_running``
    is back to 0 (the dead child's "now" numbers are dropped), its totals stay."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    scheduled_home(home, ews_server, LOGINS, cap=16)
    ews_server.set_latency(0.05)  # a pass takes seconds: the kill comes mid-sync
    proc = spawn_run(home, "--interval", "600", "--workers", "16", "--metrics-port", "0")
    try:
        url = _metrics_url(proc)
        deadline = time.monotonic() + 60
        while _value(url, "wess_syncs_running") < 2:
            assert time.monotonic() < deadline, "no sync ever ran"
            time.sleep(0.05)
        writers = {int(p.stem.rpartition("_")[2]) for p in tmp.glob("*/gauge_livesum_*.db")}
        os.kill(min(writers - {proc.pid}), signal.SIGKILL)  # a worker process
        first = json.loads(proc.stdout.readline() or "{}")  # the pass is over
        assert first.get("failed"), first  # the killed worker's users
        assert _value(url, "wess_syncs_running") == 0
        assert _value(url, "wess_syncs_total") >= len(first["synced"])
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
