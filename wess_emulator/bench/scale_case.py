"""The scale case: the real ``wess run --once`` (its own process) over many idle users
at a real Exchange latency — users/s, requests, CPU and files per user, peak memory —
at growing sizes, so per-user costs that grow with the number of users show.

Each row names its ``mode`` (how ``wess run`` learns that nothing changed). ``MODES``
maps a mode to the function that measures one pass of it on the size's idle home (set up
once per size; each mode first sets ``pull_subscriptions`` as an admin would); a new
mode is one more entry there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from .measure import ratio, total
from .processes import EmulatorProcess
from .scale_home import (
    ScaleHome,
    add_mailboxes,
    files_in,
    make_scale_home,
    newest_not_synced,
    run_measured,
    scale_logins,
    wess,
    workers_args,
)
from .scale_push import STOP_S, TARGET_P95_S, measure_push
from .wess_side import folder_count
from .workspace import Workspace

#: The issue's goal: 10,000 idle users in one pass of at most 300 s.
TARGET_USERS_PER_S = 10_000 / 300
#: "Flat": per-user CPU and files at the largest size within this of the smallest's.
FLAT_RATIO = 1.25


def measure_pass(space: Workspace, emu: EmulatorProcess, home: ScaleHome) -> dict[str, Any]:
    """One ``wess run --once`` over the idle ``home`` at the case's latency; ``--workers``
    only when the case's option names it (else the account's ``throttle_cap``)."""
    s = space.sizes
    args = ["run", "--once", *workers_args(s.scale_workers), "--json"]
    return measure_run(emu, home, args, latency_s=s.scale_latency_s)


def measure_run(
    emu: EmulatorProcess, home: ScaleHome, args: list[str], *, latency_s: float
) -> dict[str, Any]:
    """``wess ARGS`` (a ``wess run --once --json``: its own process) over the idle
    ``home`` at ``latency_s`` per request: its figures, the emulator's counts, and the
    users whose newest history entry is not a sync of this pass."""
    users = len(home.logins)
    emu.call("set_latency", latency_s)
    emu.call("reset_counts")
    since = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    try:
        child = run_measured(
            home.path,
            args,
            # 20 round trips per user one after another: far longer than any pass
            timeout=300 + users * 20 * latency_s,
        )
    finally:
        emu.call("set_latency", 0.0)
    counts = emu.counts()
    if child.exit_code != 0:
        command = " ".join(args[:3])
        raise RuntimeError(f"wess {command} exited {child.exit_code}: {child.stderr[-500:]}")
    outcome = json.loads(child.stdout)
    not_synced = newest_not_synced(home.path, home.logins, since)
    files = files_in(home.path)
    per_process = counts.get("ConvertId", 0)
    return {
        "users": users,
        "wall_s": round(child.wall_s, 2),
        "users_per_s": round(users / child.wall_s, 2),
        "synced": len(outcome.get("synced", [])),
        "failed": len(outcome.get("failed", {})),
        "not_synced": len(not_synced),
        "not_synced_sample": dict(list(not_synced.items())[:3]),
        "exit_code": child.exit_code,
        "requests": counts,
        "requests_total": total(counts),
        "requests_per_user": round(total(counts) / users, 4),
        # exchangelib's version probe (ConvertId) is per worker process, not per user
        "user_requests_per_user": round((total(counts) - per_process) / users, 4),
        "cpu_s": round(child.cpu_s, 2),
        "cpu_ms_per_user": round(1000 * child.cpu_s / users, 3),
        "peak_rss_mib": round(child.peak_rss_mib, 1),
        "files": files,
        "files_per_user": round(files / users, 3),
    }


def measure_pull(space: Workspace, emu: EmulatorProcess, home: ScaleHome) -> dict[str, Any]:
    """Pull subscriptions on (the default; the set-up's pass subscribed every user): an
    idle user should cost one GetEvents."""
    wess(home.path, "config", "set", "pull_subscriptions", "on")
    return {"mode": "pull", **measure_pass(space, emu, home)}


def measure_poll(space: Workspace, emu: EmulatorProcess, home: ScaleHome) -> dict[str, Any]:
    """Pull subscriptions off, as an admin turns them off: every synced folder's
    SyncFolderItems for every user."""
    wess(home.path, "config", "set", "pull_subscriptions", "off")
    return {"mode": "poll", **measure_pass(space, emu, home)}


#: In the order measured on one home per size: pull first, right after the set-up's
#: pass made every user's subscription; push last (it turns pull subscriptions on again).
MODES: dict[str, Callable[[Workspace, EmulatorProcess, ScaleHome], dict[str, Any]]] = {
    "pull": measure_pull,
    "poll": measure_poll,
    "push": measure_push,
}


def _line(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"scale {row['mode']} {row['users']} users: ERROR {row['error'][-200:]}"
    if row["mode"] == "push":
        return (
            f"scale push {row['users']} users: ready in {row['ready_s']} s, "
            f"{row['arrived']}/{row['changes']} changes in the CRM, p50 "
            f"{row['latency_p50_s']} s, p95 {row['latency_p95_s']} s, max "
            f"{row['latency_max_s']} s; idle {row['idle_requests_per_user']} requests/user "
            f"in {row['idle_window_s']} s; SIGTERM: exit {row['exit_code']} in {row['stop_s']} s"
        )
    return (
        f"scale {row['mode']} {row['users']} users: {row['wall_s']} s, "
        f"{row['users_per_s']} users/s, {row['requests_per_user']} requests/user, "
        f"{row['cpu_ms_per_user']} ms CPU/user, {row['peak_rss_mib']} MiB peak, "
        f"{row['files_per_user']} files/user, {row['synced']} synced, "
        f"{row['failed'] + row['not_synced']} not"
    )


def _size(space: Workspace, users: int) -> list[dict[str, Any]]:
    """Every mode's row for one size: one emulator and one home, set up once (the
    set-up's pass subscribes every user), then each mode's pass in ``MODES`` order."""
    s = space.sizes
    logins = scale_logins(users)
    rows = []
    with EmulatorProcess() as emu:
        add_mailboxes(emu, logins, s.scale_seed_per_user)
        home = make_scale_home(
            space.home(f"scale-{users}"),
            emu,
            logins,
            workers=s.scale_workers,
            throttle_cap=s.scale_throttle_cap,
        )
        for measure in MODES.values():
            row = {**measure(space, emu, home), "throttle_cap": home.throttle_cap}
            space.log(_line(row))
            rows.append(row)
    return rows


def _ratio_of(rows: list[dict[str, Any]], key: str) -> float | None:
    by_mode = {r["mode"]: r[key] for r in rows if r["mode"] in ("pull", "poll")}
    return ratio(by_mode["pull"], by_mode["poll"])


def _pull_vs_poll(rows: list[dict[str, Any]], sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per size: pull's users/s and requests/user over poll's, in the same run."""
    out = []
    for users in sizes:
        same = [r for r in rows if r["users"] == users]
        out.append(
            {
                "users": users,
                "users_per_s": _ratio_of(same, "users_per_s"),
                "requests_per_user": _ratio_of(same, "requests_per_user"),
            }
        )
    return out


def _pull_met(row: dict[str, Any]) -> bool:
    """One GetEvents per idle user and no folder read: at most 1 request per user
    besides the per-process version probe."""
    counts = row["requests"]
    return (
        counts.get("GetEvents", 0) == row["users"]
        and counts.get("SyncFolderItems", 0) == 0
        and row["user_requests_per_user"] <= 1
    )


def _push_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The push figures at the largest size."""
    keys = ("users", "changes", "arrived", "latency_p50_s", "latency_p95_s", "latency_max_s")
    keys = (*keys, "idle_requests_per_user", "exit_code", "stop_s", "error")
    return {k: row[k] for k in keys if k in row}


def case_scale(space: Workspace) -> dict[str, Any]:
    s = space.sizes
    rows = [row for users in s.scale_users for row in _size(space, users)]
    polls = [r for r in rows if r["mode"] == "poll"]
    pulls = [r for r in rows if r["mode"] == "pull"]
    pushes = [r for r in rows if r["mode"] == "push"]
    small, large = polls[0], polls[-1]
    cpu_ratio = ratio(large["cpu_ms_per_user"], small["cpu_ms_per_user"])
    files_ratio = ratio(large["files_per_user"], small["files_per_user"])
    all_synced = all(r["failed"] == 0 and r["not_synced"] == 0 for r in polls + pulls)
    flat = all(x is not None and x <= FLAT_RATIO for x in (cpu_ratio, files_ratio))
    pull_met = all(_pull_met(r) for r in pulls)
    push_met = all(r["met"] for r in pushes)
    return {
        "sizes": {
            "users": list(s.scale_users),
            "modes": list(MODES),
            "latency_ms": round(s.scale_latency_s * 1000, 1),
            "workers": s.scale_workers or large["throttle_cap"],
            "workers_from": "option" if s.scale_workers else "throttle_cap",
            "throttle_cap": large["throttle_cap"],
            "throttle_cap_from": "option" if s.scale_throttle_cap else "account default",
            "seed_per_user": s.scale_seed_per_user,
            "folders_per_user": folder_count(),
            "auth": "impersonation (one service account)",
        },
        "rows": rows,
        "wall_s": large["wall_s"],
        "users_per_s": large["users_per_s"],
        "requests": large["requests"],
        "requests_total": large["requests_total"],
        "all_synced": all_synced,
        "pull_vs_poll": _pull_vs_poll(rows, s.scale_users),
        "pull_met": pull_met,
        **({"push": _push_summary(pushes[-1]), "push_met": push_met} if pushes else {}),
        "baseline": {
            "what": "the smallest size in the same run: per-user CPU and files of the poll "
            "pass at the largest size against it; pull against poll at each size",
            "users": small["users"],
            "cpu_ms_per_user": small["cpu_ms_per_user"],
            "files_per_user": small["files_per_user"],
        },
        "ratio": cpu_ratio,
        "files_ratio": files_ratio,
        "target": f"poll users/s >= {TARGET_USERS_PER_S:.1f} at the largest size (10,000 "
        f"in 300 s); pull: 1 GetEvents and no SyncFolderItems per idle user; push: every "
        f"change in the CRM, p95 <= {TARGET_P95_S:.0f} s, SIGTERM exits 0 within "
        f"{STOP_S:.0f} s; CPU and files "
        f"per user largest/smallest <= {FLAT_RATIO}; every user synced",
        "met": bool(
            all_synced
            and flat
            and pull_met
            and push_met
            and large["users_per_s"] >= TARGET_USERS_PER_S
        ),
    }
