"""The scheduler case: many users at a realistic per-request latency, users/s against
the ideal the round-trip floor allows."""

from __future__ import annotations

import contextlib
import os
import statistics
from typing import Any

from .measure import ProcessCpu, machine_busy_s, peak_memory, ratio, timed, total
from .processes import EmulatorProcess
from .sizes import PASSWORD
from .wess_side import bare_account, email_of, make_home
from .workspace import Workspace


def _idle_page(service: Any, folder: Any, state: str | None) -> None:
    """One SyncFolderItems page through ``service`` (bare exchangelib, ids only)."""
    list(
        service.call(
            folder=folder,
            shape="IdOnly",
            additional_fields=set(),
            sync_state=state,
            ignore=None,
            max_changes_returned=512,
            sync_scope=None,
        )
    )


def round_trip_s(emu: EmulatorProcess, login: str) -> float:
    """The round-trip floor: the median of 20 bare exchangelib idle SyncFolderItems
    calls, one at a time (after two that bring the sync state up to date)."""
    from exchangelib.services import SyncFolderItems

    account = bare_account(emu, login)
    folder = account.contacts
    state = None
    for _ in range(2):
        service = SyncFolderItems(account=account)
        _idle_page(service, folder, state)
        state = service.sync_state
    rtts = []
    for _ in range(20):
        service = SyncFolderItems(account=account)
        seconds, _ = timed(lambda service=service: _idle_page(service, folder, state))
        rtts.append(seconds)
    return statistics.median(rtts)


def case_scheduler(space: Workspace) -> dict[str, Any]:
    from wess_core.service import accounts, scheduler

    s = space.sizes
    users = [f"sch{i:04d}" for i in range(s.scheduler_users)]
    with EmulatorProcess() as emu, contextlib.ExitStack() as held:
        emu.call("add_users", [email_of(u) for u in users], PASSWORD)
        for u in users:
            emu.call("seed_contacts", email_of(u), 0, s.seed_per_user)
        ctx = make_home(space.home("scheduler"), emu, users)
        # Every user is on one server, so throttle_cap bounds the users synced at once:
        # the cap is set to the workers, whatever the account's default, so the ideal
        # below (workers / per-user time) is what the cap allows.
        accounts.set_setting(ctx, "throttle_cap", str(s.scheduler_workers))
        # one scheduler for every pass: its worker processes (and their connections)
        # live from one pass to the next, as in `wess run`
        runner = held.enter_context(scheduler.Scheduler(ctx, s.scheduler_workers))
        first = runner.run_pass()  # initial sync, no latency
        if first["failed"]:
            raise RuntimeError(f"first pass failed: {first['failed']}")
        emu.call("set_latency", s.latency_s)
        rtt = round_trip_s(emu, users[0])
        emu.call("reset_counts")
        busy = machine_busy_s()
        passes: list[tuple[float, dict[str, Any]]] = []
        with peak_memory() as mem, ProcessCpu(emu.pid) as procs:
            for _ in range(s.scheduler_passes):
                passes.append(timed(runner.run_pass))
        cpu, busy = procs.self_s, machine_busy_s() - busy
        counts = emu.counts()
        handshakes = emu.call("handshakes")
        emu.call("set_latency", 0.0)
    # the median pass (a shared machine's noise moves single passes by a few percent)
    rates = [len(outcome["synced"]) / wall for wall, outcome in passes]
    median = sorted(range(len(passes)), key=rates.__getitem__)[len(passes) // 2]
    wall, outcome = passes[median]
    synced = len(outcome["synced"])
    done = sum(len(o["synced"]) for _, o in passes)  # CPU and requests: every pass
    failed = {login: msg for _, o in passes for login, msg in o["failed"].items()}
    per_user_requests = total(counts) / max(1, done)
    per_user_s = per_user_requests * rtt
    ideal = s.scheduler_workers / per_user_s
    rate = rates[median]
    against_ideal = ratio(rate, ideal)
    return {
        "sizes": {
            "users": len(users),
            "workers": s.scheduler_workers,
            "latency_ms": s.latency_s * 1000,
            "passes": s.scheduler_passes,
        },
        "wall_s": round(wall, 3),
        "synced": synced,
        "failed": len(failed),
        "users_per_s": round(rate, 2),
        "users_per_s_by_pass": [round(r, 2) for r in rates],
        # one process, one GIL: users/s can't beat 1 / (client CPU per user); more
        # workers than THREADS_PER_PROCESS run in worker processes, whose CPU is in
        # machine_cpu_ms_per_user (this process's alone is client_cpu_ms_per_user)
        "worker_processes": scheduler.process_count(s.scheduler_workers),
        "throttle_cap": s.scheduler_workers,
        "client_cpu_ms_per_user": round(1000 * cpu / max(1, done), 2),
        "machine_cpu_ms_per_user": round(1000 * busy / max(1, done), 2),
        # per process, so another load on the machine does not count: this process and
        # its worker processes, and the emulator process
        "client_tree_cpu_ms_per_user": round(1000 * procs.client_s / max(1, done), 2),
        "emulator_cpu_ms_per_user": round(1000 * procs.emulator_s / max(1, done), 2),
        "process_cpu_bound_users_per_s": round(
            os.cpu_count() * max(1, done) / (procs.client_s + procs.emulator_s), 2
        )
        if procs.client_s + procs.emulator_s
        else None,
        "machine_cores_busy": round(busy / sum(w for w, _ in passes), 2),
        "cpu_bound_users_per_s": round(os.cpu_count() * max(1, done) / busy, 2) if busy else None,
        "requests": counts,
        "requests_total": total(counts),
        "tls_handshakes": handshakes,
        "memory": mem,
        "baseline": {
            "what": "the round-trip floor: median of 20 bare exchangelib idle "
            "SyncFolderItems calls at the same latency; ideal users/s = workers / "
            "(requests per user x that round trip)",
            "round_trip_ms": round(rtt * 1000, 2),
            "requests_per_user": round(per_user_requests, 2),
            "per_user_request_s": round(per_user_s, 4),
            "ideal_users_per_s": round(ideal, 2),
        },
        "ratio": against_ideal,
        "target": "users/s >= 0.8 x ideal",
        "met": bool(against_ideal is not None and against_ideal >= 0.8 and not failed),
    }
