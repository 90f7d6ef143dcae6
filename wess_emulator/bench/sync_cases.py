"""The steady-state cases: an idle pass over many users, and an incremental sync whose
requests must be proportional to the changes."""

from __future__ import annotations

import math
from typing import Any

from .measure import traffic
from .processes import EmulatorProcess
from .wess_side import (
    Edits,
    edited_home,
    folder_count,
    home_after_first_pass,
    idle_pass,
    measured,
    moved,
    seeded_users,
    sync_user,
)
from .workspace import Workspace


def case_idle(space: Workspace) -> dict[str, Any]:
    """An idle pass as users run it (one GetEvents per user: the pull subscription says
    nothing changed), then the same pass polling (``pull_subscriptions off``)."""
    from wess_core.service import accounts

    with EmulatorProcess() as emu:
        users = seeded_users(emu, space.sizes.idle_users, space.sizes.seed_per_user)
        ctx = home_after_first_pass(space.home("idle"), emu, users)
        emu.call("reset_counts")
        figures, mem = idle_pass(ctx, users)
        counts = emu.counts()
        accounts.set_setting(ctx, "pull_subscriptions", "off")
        emu.call("reset_counts")
        polled, _ = idle_pass(ctx, users)
        polled_counts = emu.counts()
    folders = folder_count()
    expected = {"GetEvents": len(users)}
    polled_expected = {"SyncFolderItems": len(users) * folders}
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
        "polling": {**polled, "requests": polled_counts, "expected_requests": polled_expected},
        "baseline": None,
        "ratio": None,
        "target": "exactly 1 GetEvents per user (1 SyncFolderItems per folder when polling)",
        "met": counts == expected
        and polled_counts == polled_expected
        and figures["synced"] == polled["synced"] == len(users),
    }


def case_incremental(space: Workspace) -> dict[str, Any]:
    edits = Edits.of(space.sizes)
    on_exchange, on_crm = edits.on_exchange, edits.on_crm
    with EmulatorProcess() as emu:
        # both sides edited, as Outlook (one UpdateItem) and the CRM would
        ctx = edited_home(space.home("incremental"), emu, edits)
        wall, data, mem, counts = measured(emu, lambda: sync_user(ctx, "inc"))
    folders = folder_count()
    to_crm, to_ex = moved(data, "to_crm"), moved(data, "to_exchange")
    expected = {  # the subscription names the one folder edited in Exchange
        "GetEvents": 1,
        "SyncFolderItems": math.ceil(on_exchange / 512),
        "UpdateItem": math.ceil(on_crm / 100),
    }
    return {
        "sizes": edits.sizes(folders),
        "wall_s": round(wall, 3),
        "moved": {"to_crm": to_crm, "to_exchange": to_ex},
        **traffic(counts, mem),
        "expected_requests": expected,
        "baseline": None,
        "ratio": None,
        "target": "requests proportional to the changes: one GetEvents, one "
        "SyncFolderItems page per 512 Exchange changes (only the folder with events), "
        "one UpdateItem per 100 CRM changes",
        "met": counts == expected and to_crm == on_exchange and to_ex == on_crm,
    }
