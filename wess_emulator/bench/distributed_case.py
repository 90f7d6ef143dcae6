"""The distributed case: the same idle pass over the same home, once with the embedded
default (``wess run --once``, its own process, ``throttle_cap`` threads) and once per
worker count with the Celery executor (N ``wess worker`` processes on a fresh
redis-server, then ``wess run --executor celery --once`` timed from its start, which
enqueues the pass, to the end of the pass's last task) — users/s, and the ratios of 2
and 4 workers against 1 and of each against the embedded default, in one run.

Every measured pass is an idle pull pass (pull subscriptions on, the default): the
set-up's untimed first pass subscribed every user, so each measured pass costs one
GetEvents per user, whichever process sends it.
"""

from __future__ import annotations

import os
from typing import Any

from .measure import ratio
from .processes import EmulatorProcess
from .scale_case import measure_run
from .scale_home import ScaleHome, add_mailboxes, make_scale_home, scale_logins
from .wess_side import folder_count
from .worker_processes import WorkerProcesses
from .workspace import Workspace

EMBEDDED = "embedded"


def mode_name(workers: int) -> str:
    return f"celery-{workers}w"


def measure_embedded(space: Workspace, emu: EmulatorProcess, home: ScaleHome) -> dict[str, Any]:
    """``wess run --once``: the embedded default, its default workers (``throttle_cap``)."""
    s = space.sizes
    row = measure_run(emu, home, ["run", "--once", "--json"], latency_s=s.distributed_latency_s)
    return {"mode": EMBEDDED, "workers": 0, **row}


def measure_celery(
    space: Workspace, emu: EmulatorProcess, home: ScaleHome, workers: int
) -> dict[str, Any]:
    """``workers`` ``wess worker`` processes on a fresh redis-server, waited for until each
    takes tasks (their start is not timed), then the beat's ``--once`` pass, timed."""
    from wess_emulator.redis_server import RedisServer

    s = space.sizes
    with RedisServer() as redis:
        pool = WorkerProcesses(
            home.path, redis.url, count=workers, concurrency=s.distributed_concurrency
        )
        with pool:
            args = ["run", "--executor", "celery", "--broker", redis.url, "--once", "--json"]
            ready_cpu = pool.cpu_s()
            row = measure_run(emu, home, args, latency_s=s.distributed_latency_s)
            workers_cpu = pool.cpu_s() - ready_cpu
        usage = pool.usage
    beat_cpu = row["cpu_s"]
    cpu = beat_cpu + workers_cpu
    return {
        "mode": mode_name(workers),
        **row,
        "workers": workers,
        "concurrency": s.distributed_concurrency,
        # the pass's CPU: the beat's (its start included) and the workers' during the
        # pass (their start left out, as their wall time is)
        "beat_cpu_s": beat_cpu,
        "workers_cpu_s": round(workers_cpu, 2),
        "beat_peak_rss_mib": row["peak_rss_mib"],
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_user": round(1000 * cpu / row["users"], 3),
        "worker_peak_rss_mib": [round(u.peak_rss_mib, 1) for u in usage],
        "worker_exit_codes": [u.exit_code for u in usage],
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"distributed {row['mode']} {row['users']} users: {row['wall_s']} s, "
        f"{row['users_per_s']} users/s, {row['requests_per_user']} requests/user, "
        f"{row['cpu_ms_per_user']} ms CPU/user, {row['synced']} synced, "
        f"{row['failed'] + row['not_synced']} not (load {row['load_1m']})"
    )


def _ratios(rows: dict[str, dict[str, Any]], workers: tuple[int, ...]) -> dict[str, Any]:
    """users/s of each further worker count over 1 worker's (the first count's), and of
    every count over the embedded default's."""
    first = rows[mode_name(workers[0])]["users_per_s"]
    embedded = rows[EMBEDDED]["users_per_s"]
    return {
        "vs_first": {
            f"{n}w/{workers[0]}w": ratio(rows[mode_name(n)]["users_per_s"], first)
            for n in workers[1:]
        },
        "vs_embedded": {
            f"{n}w/embedded": ratio(rows[mode_name(n)]["users_per_s"], embedded) for n in workers
        },
    }


def require_redis() -> None:
    """Start and stop one redis-server: a machine without one gets
    :class:`~wess_emulator.redis_server.RedisMissing` (one line: how to install it)
    before the long set-up."""
    from wess_emulator.redis_server import RedisServer

    RedisServer().stop()


def case_distributed(space: Workspace) -> dict[str, Any]:
    s = space.sizes
    require_redis()
    logins = scale_logins(s.distributed_users)
    rows: dict[str, dict[str, Any]] = {}
    with EmulatorProcess() as emu:
        add_mailboxes(emu, logins, s.distributed_seed_per_user)
        home = make_scale_home(
            space.home(f"distributed-{len(logins)}"),
            emu,
            logins,
            workers=None,
            throttle_cap=None,
        )
        measures = [lambda: measure_embedded(space, emu, home)]
        measures += [
            (lambda n=n: measure_celery(space, emu, home, n)) for n in s.distributed_workers
        ]
        for measure in measures:
            row = {**measure(), "load_1m": round(os.getloadavg()[0], 2)}
            space.log(_line(row))
            rows[row["mode"]] = row
    all_synced = all(
        r["synced"] == r["users"] and r["failed"] == 0 and r["not_synced"] == 0
        for r in rows.values()
    )
    ratios = _ratios(rows, s.distributed_workers)
    largest = rows[mode_name(s.distributed_workers[-1])]
    first = rows[mode_name(s.distributed_workers[0])]
    scaling = ratio(largest["users_per_s"], first["users_per_s"])
    return {
        "sizes": {
            "users": len(logins),
            "latency_ms": round(s.distributed_latency_s * 1000, 1),
            "workers": list(s.distributed_workers),
            "concurrency_per_worker": s.distributed_concurrency,
            "embedded_workers": home.throttle_cap,
            "throttle_cap": home.throttle_cap,
            "pass": "idle, pull subscriptions on (one GetEvents per user), after an untimed "
            "first pass at zero latency",
            "seed_per_user": s.distributed_seed_per_user,
            "folders_per_user": folder_count(),
            "auth": "impersonation (one service account)",
        },
        "modes": list(rows),
        "rows": list(rows.values()),
        "users_per_s": {mode: r["users_per_s"] for mode, r in rows.items()},
        "requests_per_user": {mode: r["requests_per_user"] for mode, r in rows.items()},
        "scaling": ratios["vs_first"],
        "vs_embedded": ratios["vs_embedded"],
        "all_synced": all_synced,
        "wall_s": largest["wall_s"],
        "requests": largest["requests"],
        "requests_total": largest["requests_total"],
        "baseline": {
            "what": f"{s.distributed_workers[0]} worker(s) for the scaling ratios; the "
            "embedded default's pass over the same home in the same run for vs_embedded",
            "users_per_s": first["users_per_s"],
            "embedded_users_per_s": rows[EMBEDDED]["users_per_s"],
        },
        "ratio": scaling,
        "target": "every user synced by every mode (the scaling is reported, not a target)",
        "met": all_synced,
    }
