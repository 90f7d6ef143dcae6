"""``wess run --push`` as a real process: a change made in Exchange reaches the CRM
within seconds (streaming notifications), while the passes stay every interval;
SIGTERM ends it, streams included, within 10 s with exit 0."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time

from tests.support import assert_no_orphan_workers, scheduled_home, spawn_run
from wess_plugins.crm_local import local

LOGINS = ["w00", "w01", "w02"]


class Lines:
    """The JSON lines ``wess run`` prints, read in a thread (a hung run fails the test
    instead of blocking it)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._lines.put(json.loads(line))

    def next(self, timeout: float) -> dict:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no pass reported within {timeout} s") from None


def _wait(check, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - started


def _names(home, login: str) -> set[str]:
    return {r["fields"].get("first_name") for r in local.list_records(home, login, "people")}


def test_a_mailbox_change_reaches_the_crm_within_seconds(home, ews_server):
    scheduled_home(home, ews_server, LOGINS, cap=4, people=1)
    proc = spawn_run(home, "--push", "--interval", "300")
    lines = Lines(proc)
    try:
        first = lines.next(60)
        assert set(first["synced"]) == set(LOGINS), first
        _wait(lambda: ews_server.streams_open == len(LOGINS), 30, "a stream per user")

        contact = {"GivenName": "Zed", "Surname": "Pushed", "DisplayName": "Zed Pushed"}
        ews_server.mailbox("w01@example.com").add_items("contacts", [contact])
        latency = _wait(lambda: "Zed" in _names(home, "w01"), 10, "Zed in the CRM")
        assert latency < 10
        pushed = lines.next(10)
        assert pushed["synced"] == ["w01"]  # only the user whose mailbox changed

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        err = proc.stderr.read()
        assert time.monotonic() - started < 10, err
        assert proc.returncode == 0, err
        assert "stopped on SIGTERM" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            print(proc.stderr.read(), file=sys.stderr)
    assert_no_orphan_workers(home)


def test_push_with_once_is_a_usage_error(home, ews_server):
    scheduled_home(home, ews_server, LOGINS[:1], cap=4, people=0)
    proc = spawn_run(home, "--push", "--once")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "drop --once" in err
    assert out == ""
