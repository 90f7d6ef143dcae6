"""The scale case's push mode: ``wess run --push`` (its own process) watching every idle
user through streaming notifications; changes made in Exchange, each timed until it is
in that user's CRM (change-to-CRM latency), the requests of idle watched users, and a
SIGTERM that must end the process with exit 0 within 10 s."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import total
from .processes import EmulatorProcess
from .scale_home import ScaleHome, wess, wess_argv, workers_args
from .wess_side import email_of
from .workspace import Workspace

#: Exchange serves one streaming connection for at most this many subscriptions.
PER_STREAM = 200
#: The issue's goal: p95 change-to-CRM latency at 10,000 watched users.
TARGET_P95_S = 10.0
#: How long SIGTERM may take to end ``wess run --push``.
STOP_S = 10.0
#: Seconds between two changes made in Exchange.
CHANGE_SPACING_S = 0.05
#: Seconds between two looks at the CRMs still waiting for their change.
LOOK_S = 0.05


@dataclass(frozen=True)
class Child:
    """The running ``wess run --push`` and the files its output goes to."""

    process: subprocess.Popen
    stdout: Path
    stderr: Path

    def tail(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")[-500:]


@dataclass(frozen=True)
class PushPlan:
    """How many changes, and how long the idle window is (full size or quick)."""

    changes: int
    idle_s: float


def changed_logins(logins: list[str], changes: int) -> list[str]:
    """``changes`` different users spread over all of them."""
    step = max(1, len(logins) // changes)
    return logins[::step][:changes]


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _contact(login: str) -> dict[str, Any]:
    return {"GivenName": f"Pushed-{login}", "Surname": "Push", "DisplayName": f"Pushed {login}"}


def _in_crm(home: Path, login: str) -> bool:
    from wess_plugins.crm_local import local

    people = local.list_records(home, f"db-{login}", "people")
    return any(r["fields"].get("first_name") == f"Pushed-{login}" for r in people)


def _wait_ready(emu: EmulatorProcess, proc: Child, users: int, timeout: float) -> float:
    """Seconds until the first pass reported (its JSON line) and every user's streaming
    subscription is on an open stream: as many subscription ids streamed as users, and a
    stream per ``PER_STREAM`` users open."""
    started = time.monotonic()
    streams = math.ceil(users / PER_STREAM)
    while True:
        seen = emu.call("streaming")
        passed = proc.stdout.read_text(encoding="utf-8").strip() != ""
        if passed and seen["subscriptions"] >= users and seen["open"] >= streams:
            return time.monotonic() - started
        if proc.process.poll() is not None:
            code = proc.process.returncode
            raise RuntimeError(f"wess run --push exited {code} before it was ready: {proc.tail()}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"wess run --push not ready in {timeout:.0f} s: {seen}")
        time.sleep(0.5)


def _make_changes(emu: EmulatorProcess, logins: list[str], written: dict[str, float]) -> None:
    for login in logins:
        written[login] = emu.call("add_contact", email_of(login), _contact(login))
        time.sleep(CHANGE_SPACING_S)


def _latencies(
    emu: EmulatorProcess, home: Path, logins: list[str], timeout: float
) -> dict[str, float]:
    """Make a change for each of ``logins`` (in a thread, ``CHANGE_SPACING_S`` apart) and
    time each one until it is in that user's CRM (read-only looks); users whose change did
    not arrive within ``timeout`` after the last change are left out."""
    written: dict[str, float] = {}
    maker = threading.Thread(target=_make_changes, args=(emu, logins, written), daemon=True)
    maker.start()
    arrived: dict[str, float] = {}
    deadline = None
    while len(arrived) < len(logins):
        if deadline is None and not maker.is_alive():
            deadline = time.time() + timeout
        if deadline is not None and time.time() > deadline:
            break
        for login in [u for u in list(written) if u not in arrived]:
            if _in_crm(home, login):
                arrived[login] = time.time() - written[login]
        time.sleep(LOOK_S)
    maker.join()
    return arrived


def _stop(proc: subprocess.Popen) -> tuple[int | None, float]:
    """SIGTERM; the exit code and seconds it took (None: still running after
    ``STOP_S`` + 5 s, then killed with its process group)."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=STOP_S + 5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = None
    return code, time.monotonic() - started


def _start(home: Path, args: list[str]) -> Child:
    """``wess run ARGS --json`` in its own process group, output beside the home."""
    out, err = (home.parent / f"{home.name}-push-{n}.txt" for n in ("stdout", "stderr"))
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            wess_argv(home, "run", *args, "--json"),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return Child(process=process, stdout=out, stderr=err)


def measure_push(space: Workspace, emu: EmulatorProcess, home: ScaleHome) -> dict[str, Any]:
    """``wess run --push`` over the idle ``home`` (pull subscriptions on; one pass every
    hour, so only pushed syncs run while measured). A push that fails (never ready, exits)
    is a row with its ``error``, not the end of the case: the passes' rows stay."""
    try:
        return _measure_push(space, emu, home)
    except RuntimeError as exc:
        return {"mode": "push", "users": len(home.logins), "error": str(exc)[-500:], "met": False}


def _measure_push(space: Workspace, emu: EmulatorProcess, home: ScaleHome) -> dict[str, Any]:
    s = space.sizes
    users = len(home.logins)
    plan = PushPlan(changes=min(users, s.scale_push_changes), idle_s=s.scale_push_idle_s)
    wess(home.path, "config", "set", "pull_subscriptions", "on")
    emu.call("set_latency", s.scale_latency_s)
    proc = _start(home.path, ["--push", "--interval", "3600", *workers_args(s.scale_workers)])
    try:
        ready_s = _wait_ready(emu, proc, users, timeout=300 + users * 20 * s.scale_latency_s)
        emu.call("reset_counts")
        time.sleep(plan.idle_s)
        idle = emu.counts()
        emu.call("reset_counts")
        changed = changed_logins(home.logins, plan.changes)
        arrived = _latencies(emu, home.path, changed, timeout=60)
        during = emu.counts()
        exit_code, stop_s = _stop(proc.process)
    finally:
        if proc.process.poll() is None:
            os.killpg(proc.process.pid, signal.SIGKILL)
            proc.process.wait()
        emu.call("set_latency", 0.0)
    values = list(arrived.values())
    p95 = percentile(values, 0.95)
    return {
        "mode": "push",
        "users": users,
        "ready_s": round(ready_s, 1),
        "streams": math.ceil(users / PER_STREAM),
        "idle_window_s": plan.idle_s,
        "idle_requests": idle,
        "idle_requests_per_user": round(total(idle) / users, 4),
        "changes": len(changed),
        "arrived": len(arrived),
        "missed_sample": [u for u in changed if u not in arrived][:3],
        "latency_p50_s": _round(percentile(values, 0.5)),
        "latency_p95_s": _round(p95),
        "latency_max_s": _round(max(values, default=None)),
        "requests_during_changes": during,
        "exit_code": exit_code,
        "stop_s": round(stop_s, 2),
        "met": bool(
            len(arrived) == len(changed)
            and p95 is not None
            and p95 <= TARGET_P95_S
            and exit_code == 0
            and stop_s <= STOP_S
        ),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
