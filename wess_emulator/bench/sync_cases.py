"""The steady-state cases: an idle pass over many users, and an incremental sync whose
requests must be proportional to the changes."""

from __future__ import annotations

import math
import time
from typing import Any

from .measure import peak_memory, timed, traffic
from .processes import EmulatorProcess
from .sizes import PASSWORD
from .wess_side import (
    email_of,
    folder_count,
    list_items,
    make_home,
    measured,
    moved,
    sync_user,
    transport,
)
from .workspace import Workspace


def case_idle(space: Workspace) -> dict[str, Any]:
    from wess_core.service import sync

    users = [f"idle{i:04d}" for i in range(space.sizes.idle_users)]
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of(u) for u in users], PASSWORD)
        for u in users:
            emu.call("seed_contacts", email_of(u), 0, space.sizes.seed_per_user)
        ctx = make_home(space.home("idle"), emu, users)
        first = sync.run_once(ctx, workers=4)
        if first["failed"]:
            raise RuntimeError(f"first pass failed: {first['failed']}")
        emu.call("reset_counts")
        cpu = time.process_time()
        with peak_memory() as mem:
            wall, outcome = timed(lambda: sync.run_once(ctx, workers=1))
        cpu = time.process_time() - cpu
        counts = emu.counts()
    folders = folder_count()
    expected = {"SyncFolderItems": len(users) * folders}
    return {
        "sizes": {
            "users": len(users),
            "folders_per_user": folders,
            "workers": 1,
            "items_per_user": space.sizes.seed_per_user,
        },
        "wall_s": round(wall, 3),
        "ms_per_user": round(1000 * wall / len(users), 2),
        "client_cpu_ms_per_user": round(1000 * cpu / len(users), 2),
        "synced": len(outcome["synced"]),
        **traffic(counts, mem),
        "expected_requests": expected,
        "baseline": None,
        "ratio": None,
        "target": "exactly 1 SyncFolderItems per folder and user, no other request",
        "met": counts == expected and len(outcome["synced"]) == len(users),
    }


def case_incremental(space: Workspace) -> dict[str, Any]:
    from wess_core.strategies import ItemUpdate
    from wess_plugins.crm_local import local

    n = space.sizes.items
    changed = max(2, round(n * space.sizes.changed_percent / 100))
    on_exchange, on_crm = changed // 2, changed - changed // 2
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of("inc")], PASSWORD)
        emu.call("seed_contacts", email_of("inc"), 0, n)
        ctx = make_home(space.home("incremental"), emu, ["inc"])
        sync_user(ctx, "inc")  # the initial import
        # Exchange side: as Outlook would, through the same transport (one UpdateItem).
        mailbox = transport(ctx, "inc")
        listing = list_items(mailbox, "contacts")
        chosen = listing[:: max(1, len(listing) // on_exchange)][:on_exchange]
        changes = [
            ItemUpdate(
                item_id=item.item_id,
                fields={"job_title": "Changed in Outlook"},
                changekey=item.changekey,
            )
            for item in chosen
        ]
        refs = mailbox.update("contacts", changes)
        assert not [r for r in refs if isinstance(r, Exception)], refs
        # CRM side: as the CRM would.
        records = local.list_records(ctx.home, "db-inc", "people")
        picked = {c.item_id for c in chosen}  # imported records carry their item id
        others = [r for r in records if r["exchange_id"] not in picked]
        for record in others[:: max(1, len(others) // on_crm)][:on_crm]:
            local.update_record(
                ctx.home, "db-inc", "people", record["id"], {"job_title": "Changed in CRM"}
            )
        wall, data, mem, counts = measured(emu, lambda: sync_user(ctx, "inc"))
    folders = folder_count()
    to_crm, to_ex = moved(data, "to_crm"), moved(data, "to_exchange")
    expected = {
        "SyncFolderItems": folders + max(0, math.ceil(on_exchange / 512) - 1),
        "UpdateItem": math.ceil(on_crm / 100),
    }
    return {
        "sizes": {
            "items": n,
            "changed": changed,
            "changed_in_exchange": on_exchange,
            "changed_in_crm": on_crm,
            "folders": folders,
        },
        "wall_s": round(wall, 3),
        "moved": {"to_crm": to_crm, "to_exchange": to_ex},
        **traffic(counts, mem),
        "expected_requests": expected,
        "baseline": None,
        "ratio": None,
        "target": "requests proportional to the changes: one SyncFolderItems page per "
        "folder (+1 per 512 Exchange changes), one UpdateItem per 100 CRM changes",
        "met": counts == expected and to_crm == on_exchange and to_ex == on_crm,
    }
