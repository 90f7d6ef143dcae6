"""The scale case's set-up (not measured): a WESS home made the way an admin makes one,
through the ``wess`` command in its own process — impersonation through one service
account, every user added in one ``wess users import`` — and brought to idle by a first
``wess run --once`` (pull subscriptions on, the default: it subscribes every user)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .processes import EmulatorProcess
from .sizes import PASSWORD
from .wess_side import email_of

SERVICE_ACCOUNT = "svc-scale@example.com"
SERVICE_PASSWORD = "Bench-Svc-Pass-1"


def wess_argv(home: Path, *args: str) -> list[str]:
    """The ``wess`` command line for ``home``: this interpreter's ``wess_core.cli``, so
    the measured process runs the installed code, not the bench process's imports."""
    return [sys.executable, "-m", "wess_core.cli", "--home", str(home), *args]


def workers_args(workers: int | None) -> list[str]:
    """``--workers N`` when the case's option names N; none (the account's
    ``throttle_cap``, as ``wess run`` chooses by default) otherwise."""
    return [] if workers is None else ["--workers", str(workers)]


def wess(home: Path, *args: str, stdin: str | None = None, timeout: float = 3600) -> str:
    """Run one ``wess`` command to its end; its stdout, or an error naming the command."""
    done = subprocess.run(
        wess_argv(home, *args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wess {' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}")
    return done.stdout


@dataclass(frozen=True)
class ScaleHome:
    """A home whose ``logins`` all synced once and are idle now."""

    path: Path
    logins: list[str]
    throttle_cap: int


def scale_logins(count: int) -> list[str]:
    return [f"sc{i:05d}" for i in range(count)]


def add_mailboxes(emu: EmulatorProcess, logins: list[str], per_user: int) -> None:
    """``logins``' mailboxes with ``per_user`` contacts each, and the service account
    that may impersonate them."""
    emu.call("add_users", [email_of(u) for u in logins], PASSWORD)
    emu.call("add_impersonator", SERVICE_ACCOUNT, SERVICE_PASSWORD)
    for login in logins:
        emu.call("seed_contacts", email_of(login), 0, per_user)


def _users_file(path: Path, logins: list[str]) -> Path:
    rows = [{"login": u, "email": email_of(u), "database": f"db-{u}"} for u in logins]
    path.write_text(json.dumps(rows), encoding="utf-8")
    return path


def make_scale_home(
    home: Path,
    emu: EmulatorProcess,
    logins: list[str],
    *,
    workers: int | None,
    throttle_cap: int | None,
) -> ScaleHome:
    """The home of ``logins`` over impersonation, after one idle-making pass at zero
    latency; ``throttle_cap`` None keeps the account's default (read back)."""
    from wess_plugins.crm_local import local

    wess(home, "init")
    wess(home, "module", "activate")
    wess(home, "licences", "add", str(len(logins)))
    connection = ("--ews-url", emu.ews_url, "--ca-bundle", emu.ca_cert)
    service = ("--auth", "impersonation", "--impersonation-user", SERVICE_ACCOUNT)
    wess(
        home, "connection", "set", *connection, *service, "--password-stdin", stdin=SERVICE_PASSWORD
    )
    if throttle_cap is not None:
        wess(home, "config", "set", "throttle_cap", str(throttle_cap))
    cap = int(json.loads(wess(home, "config", "show", "--json"))["throttle_cap"])
    users_file = _users_file(home.parent / f"{home.name}-users.json", logins)
    wess(home, "users", "import", str(users_file), "--allocate", "--enable")
    for login in logins:
        local.create_database(home, f"db-{login}")
    first = json.loads(wess(home, "run", "--once", *workers_args(workers), "--json"))
    if first.get("failed"):
        raise RuntimeError(f"first pass failed: {dict(list(first['failed'].items())[:3])}")
    return ScaleHome(path=home, logins=logins, throttle_cap=cap)


@dataclass(frozen=True)
class ChildRun:
    """One finished ``wess`` process: exit code, stdout, and its resource usage (its own
    and its waited-for worker processes')."""

    exit_code: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float


def run_measured(home: Path, args: list[str], *, timeout: float) -> ChildRun:
    """Run ``wess ARGS`` as its own process and measure it: wall time, CPU (user + sys,
    the ``RUSAGE_CHILDREN`` delta: the child and the worker processes it waited for) and
    peak memory (``ru_maxrss`` of this child alone, from ``wait4``). A child still running
    after ``timeout`` is killed with its process group and reported as an error. Its
    output is kept beside the home (``HOME-stdout.txt``, ``HOME-stderr.txt``)."""
    import resource
    import time

    stdout_path, stderr_path = (home.parent / f"{home.name}-{n}.txt" for n in ("stdout", "stderr"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(
            wess_argv(home, *args), stdout=out, stderr=err, start_new_session=True
        )
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                raise RuntimeError(f"wess {' '.join(args)} did not exit within {timeout:.0f} s")
            time.sleep(0.05)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ChildRun(
        exit_code=proc.returncode,
        stdout=stdout_path.read_text(encoding="utf-8", errors="replace"),
        stderr=stderr_path.read_text(encoding="utf-8", errors="replace"),
        wall_s=wall,
        cpu_s=cpu,
        peak_rss_mib=usage.ru_maxrss / 1024,
    )


def files_in(home: Path) -> int:
    """Every file under ``home`` (profiles, states, history, CRM databases, keys)."""
    return sum(len(files) for _, _, files in os.walk(home))


def newest_not_synced(home: Path, logins: list[str], since: str) -> dict[str, Any]:
    """Users whose newest history entry is not a successful sync recorded at or after
    ``since`` (ISO UTC): a silent failure, or a user the pass skipped."""
    from wess_core.service import Context, history

    newest = history.newest_by_kind(Context(home=home), logins)
    wrong: dict[str, Any] = {}
    for login in logins:
        kinds = newest.get(login, {})
        entry = max(kinds.values(), key=lambda e: e["_id"]) if kinds else None
        when = (entry or {}).get("last") or (entry or {}).get("time") or ""
        if entry is None or entry["kind"] != "sync" or when < since:
            wrong[login] = entry and {k: entry.get(k) for k in ("kind", "message", "time")}
    return wrong
