"""Is each HTTP/exchangelib patch worth keeping? Each one on and off, at realistic latency.

    python -m benchmarks.http_patches [--users 64] [--contacts 3000] [--latency-ms 20]
                                      [--rounds 3] [--patch NAME ...] [--out FILE]

WESS keeps a patch of a library's private internals only where it gains >= 10 % at a
realistic latency (>= 20 ms per request, set on the EWS emulator). This runs two
workloads through the real sync (``wess_core.service.sync``) against the emulator in its
own process, once with every patch on (the baseline) and once with each patch off, the
variants interleaved round by round so that a busy machine slows all of them alike:

``idle``    a scheduler pass over ``--users`` idle users, 8 workers (one process): users/s
            and the client's CPU per user.
``import``  a first sync of ``--contacts`` contacts into the local CRM: seconds, and the
            client's CPU seconds.

Prints one JSON document: per variant the median of each figure, and its ``gain``: how
much the patch saves against running without it (baseline / variant - 1 for a rate,
variant / baseline - 1 for a time). A second baseline run (``baseline_again``) shows the
noise of the run: on a shared machine, a gain within its spread is no gain.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from wess_emulator.bench.processes import EmulatorProcess
from wess_emulator.bench.sizes import PASSWORD
from wess_emulator.bench.wess_side import email_of, forget_protocols, make_home

WORKERS = 8  # sync.THREADS_PER_PROCESS: every worker in this process, so toggles apply


def _swap(owner: Any, name: str, value: Any) -> Callable[[], None]:
    """Set ``owner.name`` to ``value``; return what sets it back."""
    old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, old)


def _off_templates() -> Callable[[], None]:
    from wess_plugins.transport_ews import templates

    return _swap(templates, "plain", lambda text: False)


def _off_whole_body() -> Callable[[], None]:
    from wess_plugins.transport_ews.patches import WholeBody

    def parts(self: Any, response: Any) -> Any:
        return super(WholeBody, self)._get_soap_parts(response=response)

    return _swap(WholeBody, "_get_soap_parts", parts)


def _patches() -> dict[str, Callable[[], Callable[[], None]]]:
    """Patch name -> a function that turns the patch off and returns how to turn it on."""
    return {
        "templates": _off_templates,
        "whole_body": _off_whole_body,
    }


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """Every patch on (the baseline and its control) or all but ``name`` on."""
    patches = _patches()
    restore = patches[name]() if name in patches else (lambda: None)
    forget_protocols()  # new sessions, built with or without the patch
    try:
        yield
    finally:
        restore()
        forget_protocols()


def _check(outcome: dict[str, Any]) -> None:
    if outcome.get("failed"):
        raise RuntimeError(f"sync failed: {dict(list(outcome['failed'].items())[:3])}")


def idle_pass(ctx: Any, users: int) -> tuple[float, float]:
    """A scheduler pass over idle users: (users/s, client CPU ms per user)."""
    from wess_core.service import sync

    cpu, started = time.process_time(), time.perf_counter()
    outcome = sync.run_once(ctx, workers=WORKERS)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    _check(outcome)
    if len(outcome["synced"]) != users:
        raise RuntimeError(f"synced {len(outcome['synced'])} of {users}")
    return users / wall, 1000 * cpu / users


def first_import(
    emu: EmulatorProcess, workdir: Path, login: str, contacts: int
) -> tuple[float, float]:
    """A first sync of ``contacts`` contacts: (seconds, client CPU seconds)."""
    from wess_core.service import sync

    emu.call("add_users", [email_of(login)], PASSWORD)
    emu.call("seed_contacts", email_of(login), 0, contacts)
    home = workdir / login
    home.mkdir()
    ctx = make_home(home, emu, [login])
    cpu, started = time.process_time(), time.perf_counter()
    data = sync.sync_user(ctx, login)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    created = data["folders"]["contacts"]["to_crm"]["created"]
    if created != contacts:
        raise RuntimeError(f"imported {created} of {contacts}")
    return wall, cpu


CONTROL = "baseline_again"
FIGURES = (
    # name, workload, higher is better
    ("idle_users_per_s", "idle", True),
    ("idle_client_cpu_ms_per_user", "idle", False),
    ("import_s", "import", False),
    ("import_client_cpu_s", "import", False),
)


def run(
    users: int,
    contacts: int,
    latency_s: float,
    rounds: int,
    workdir: Path,
    only: list[str] | None = None,
) -> dict:
    from wess_core.service import accounts, sync

    names = ["baseline", CONTROL, *(only or _patches())]
    figures: dict[str, dict[str, list[float]]] = {n: {f[0]: [] for f in FIGURES} for n in names}
    logins = [f"idle{i:04d}" for i in range(users)]
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of(u) for u in logins], PASSWORD)
        for login in logins:
            emu.call("seed_contacts", email_of(login), 0, 3)
        home = workdir / "idle"
        home.mkdir()
        ctx = make_home(home, emu, logins)
        accounts.set_setting(ctx, "throttle_cap", str(WORKERS))
        _check(sync.run_once(ctx, workers=WORKERS))  # the first sync, without latency
        emu.call("set_latency", latency_s)
        idle_pass(ctx, users)  # warm up: imports, caches
        for round_no in range(rounds):
            for name in names:
                print(f"# round {round_no + 1}/{rounds}: {name}", file=sys.stderr, flush=True)
                mine = figures[name]
                with variant(name):
                    idle_pass(ctx, users)  # the first pass of a variant builds its sessions
                    rate, cpu_ms = idle_pass(ctx, users)
                    mine["idle_users_per_s"].append(rate)
                    mine["idle_client_cpu_ms_per_user"].append(cpu_ms)
                    login = f"imp{round_no}{names.index(name):02d}"
                    wall, cpu = first_import(emu, workdir, login, contacts)
                    mine["import_s"].append(wall)
                    mine["import_client_cpu_s"].append(cpu)
        emu.call("set_latency", 0.0)
    medians = {n: {f: statistics.median(v) for f, v in figs.items()} for n, figs in figures.items()}
    variants = {}
    for name in names:
        out: dict[str, Any] = {}
        for figure, _workload, higher in FIGURES:
            value, base = medians[name][figure], medians["baseline"][figure]
            out[figure] = round(value, 3)
            out[f"{figure}_by_round"] = [round(v, 3) for v in figures[name][figure]]
            # what the patch gains: the baseline has it, this variant has not
            out[f"{figure}_gain"] = round(base / value - 1 if higher else value / base - 1, 3)
        variants[name] = out
    return {
        "sizes": {
            "idle_users": users,
            "workers": WORKERS,
            "import_contacts": contacts,
            "latency_ms": latency_s * 1000,
            "rounds": rounds,
        },
        "baseline": "every patch on; each other variant turns one patch off, "
        f"{CONTROL!r} none (its gains are the noise of this run)",
        "variants": variants,
        "keep_if": "a wall-time gain (idle_users_per_s_gain or import_s_gain) >= 0.10, "
        f"well above {CONTROL!r}'s",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--patch", action="append", choices=sorted(_patches()), help="only these (repeatable)"
    )
    parser.add_argument("--out", help="also write the JSON document to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wess-http-patches-") as tmp:
        result = run(
            args.users, args.contacts, args.latency_ms / 1000, args.rounds, Path(tmp), args.patch
        )
    doc = json.dumps(result, indent=2)
    print(doc)
    if args.out:
        Path(args.out).write_text(doc + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
