"""The cases that measure WESS on its own: the profile and state stores at many users,
and peak memory against the folder size."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from .measure import peak_memory, ratio, timed
from .processes import EmulatorProcess, in_child
from .sizes import MIB, PASSWORD
from .wess_side import email_of, make_home, measured, sync_user
from .workspace import Workspace


def case_store(space: Workspace) -> dict[str, Any]:
    from wess_core.service import users as users_service
    from wess_core.service.users import get_profile
    from wess_core.sync.status import FolderState, StatusRow, StoreSyncState

    s = space.sizes
    logins = [f"user{i:05d}" for i in range(s.store_users)]
    ctx = make_home(space.home("store"), None, logins, own_databases=False)
    list_s, listed = timed(lambda: users_service.list_users(ctx))
    assert len(listed) == len(logins)
    read_s = statistics.median(
        timed(lambda i=i: get_profile(ctx, logins[i * 37 % len(logins)]))[0] for i in range(20)
    )
    write_s = statistics.median(
        timed(lambda i=i: users_service.set_sync_enabled(ctx, logins[i], i % 2 == 0))[0]
        for i in range(10)
    )

    def state_of(login: str, rows: int) -> FolderState:
        state = FolderState("contacts", token="t", cursor="1")
        for r in range(rows):
            row = StatusRow(
                pair_id=f"p{login}{r}",
                crm_id=str(r),
                crm_rev=1,
                crm_hash="h" * 32,
                item_id=f"i{login}{r}",
                changekey="ck",
                item_hash="h" * 32,
            )
            state.put(row)
        return state

    # Other users' state databases: one made for real, copied (20 rows each).
    model = StoreSyncState(ctx.store, "model")
    model.save(state_of("x", 20))
    model.close()
    template = model.path.read_bytes()
    model.path.unlink()

    def fill_states(upto: int) -> None:
        for login in logins[1:upto]:
            path = StoreSyncState(ctx.store, login).path
            if not path.exists():
                path.write_bytes(template)
        # The files were written without fsync: flush them now, or the first fsyncs
        # measured below pay for their write-back (ext4's ordered journal commit).
        if hasattr(os, "sync"):
            os.sync()

    me = StoreSyncState(ctx.store, logins[0])

    def state_write_s() -> float:
        """Median time to save 100 changed rows (each save's rows made beforehand)."""
        states = [state_of(logins[0], 100) for _ in range(20)]
        return statistics.median(timed(lambda st=st: me.save(st))[0] for st in states)

    few = min(s.store_few_states, len(logins) - 1)
    fill_states(few + 1)
    with_few = state_write_s()
    fill_states(len(logins))
    with_many = state_write_s()
    growth = ratio(with_many, with_few)
    return {
        "sizes": {"profiles": len(logins), "state_rows_per_user": 20},
        "users_list_s": round(list_s, 3),
        "profile_read_ms": round(read_s * 1000, 2),
        "profile_write_ms": round(write_s * 1000, 2),
        "state_write_ms": {
            f"with_{few}_other_states": round(with_few * 1000, 2),
            f"with_{len(logins) - 1}_other_states": round(with_many * 1000, 2),
        },
        "wall_s": round(list_s, 3),
        "requests": {},
        "baseline": {
            "what": f"the same state write with {few} other users' state files present",
            "state_write_ms": round(with_few * 1000, 2),
        },
        "ratio": growth,
        "notes": "profiles share one file 'users' (a profile write rewrites it: linear in "
        "the number of profiles); sync state is one file per user, so a state write does "
        "not depend on other users' state",
        "target": "state write with many other users' state <= 2 x with few",
        "met": bool(growth is not None and growth <= 2.0),
    }


def case_memory(space: Workspace) -> dict[str, Any]:
    sizes = space.sizes.memory_sizes
    runs = {}
    for n in sizes:
        runs[str(n)] = in_child(memory_run, str(space.home(f"memory-{n}")), n)
    small, large = runs[str(sizes[0])], runs[str(sizes[-1])]
    factor = sizes[-1] / sizes[0]
    growth = ratio(large["import"]["growth_mib"], small["import"]["growth_mib"])
    # an incremental sync may not grow at all: 0.1 MiB stands for "nothing"
    inc_large = large["incremental"]["growth_mib"] or 0.1
    inc_small = small["incremental"]["growth_mib"] or 0.1
    inc_growth = ratio(inc_large, inc_small)
    extra_items = sizes[-1] - sizes[0]

    def per_item(step: str) -> int:
        """What each item beyond the small folder added to the step's peak: the part
        of memory that grows with the folder (0 if it is bounded)."""
        grown = large[step]["growth_mib"] - small[step]["growth_mib"]
        return round(max(0.0, grown) * MIB / extra_items)

    return {
        "sizes": {"items": list(sizes), "page": 512, "batch": 100},
        "runs": runs,
        "bytes_per_item": {
            "import": per_item("import"),
            "incremental": per_item("incremental"),
        },
        "wall_s": round(sum(r["import_s"] for r in runs.values()), 3),
        "requests": large["requests"],
        "baseline": None,
        "ratio": growth,
        "notes": "each size syncs in a fresh process; the emulator (which holds the "
        "items) is another process, its RSS is reported apart and not counted. "
        f"Folder size grows {factor:g}x; 'ratio' is how much the import's peak RSS "
        f"growth grew (incremental: {inc_growth}).",
        "target": "peak memory bounded by page/batch size, not folder size: "
        f"growth ratio <= 2 while the folder grows {factor:g}x",
        "met": bool(growth is not None and growth <= 2.0),
    }


def memory_run(home: str, n: int) -> dict[str, Any]:
    """In a fresh process: import an ``n``-item folder, then an idle-ish incremental sync."""
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of("mem")], PASSWORD)
        emu.call("seed_contacts", email_of("mem"), 0, n)
        ctx = make_home(Path(home), emu, ["mem"])
        import wess_plugins.transport_ews.transport  # noqa: F401  (imports outside the step)

        import_s, data, mem_import, counts = measured(emu, lambda: sync_user(ctx, "mem"))
        assert data["folders"]["contacts"]["to_crm"]["created"] == n
        from wess_plugins.crm_local import local

        for record in local.list_records(ctx.home, "db-mem", "people")[:: max(1, n // 50)]:
            local.update_record(ctx.home, "db-mem", "people", record["id"], {"job_title": "X"})
        with peak_memory() as mem_inc:
            inc_s, _ = timed(lambda: sync_user(ctx, "mem"))
        emulator_mib = emu.call("rss_mib")
    return {
        "items": n,
        "import_s": round(import_s, 3),
        "import": mem_import,
        "incremental_s": round(inc_s, 3),
        "incremental": mem_inc,
        "requests": counts,
        "emulator_process_rss_mib": emulator_mib,
    }
