"""The steady-state cases: an idle pass over many users, and an incremental sync whose
requests must be proportional to the changes."""

from __future__ import annotations

import math
from typing import Any

from .measure import traffic
from .processes import EmulatorProcess
from .sizes import PASSWORD
from .wess_side import (
    change_both_sides,
    email_of,
    folder_count,
    home_after_first_pass,
    idle_pass,
    make_home,
    measured,
    moved,
    seeded_users,
    sync_user,
)
from .workspace import Workspace


def case_idle(space: Workspace) -> dict[str, Any]:
    with EmulatorProcess() as emu:
        users = seeded_users(emu, space.sizes.idle_users, space.sizes.seed_per_user)
        ctx = home_after_first_pass(space.home("idle"), emu, users)
        emu.call("reset_counts")
        figures, mem = idle_pass(ctx, users)
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
        **figures,
        **traffic(counts, mem),
        "expected_requests": expected,
        "baseline": None,
        "ratio": None,
        "target": "exactly 1 SyncFolderItems per folder and user, no other request",
        "met": counts == expected and figures["synced"] == len(users),
    }


def case_incremental(space: Workspace) -> dict[str, Any]:
    n = space.sizes.items
    changed = max(2, round(n * space.sizes.changed_percent / 100))
    on_exchange, on_crm = changed // 2, changed - changed // 2
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of("inc")], PASSWORD)
        emu.call("seed_contacts", email_of("inc"), 0, n)
        ctx = make_home(space.home("incremental"), emu, ["inc"])
        sync_user(ctx, "inc")  # the initial import
        # both sides edited, as Outlook (one UpdateItem) and the CRM would
        change_both_sides(ctx, "inc", on_exchange, on_crm)
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
