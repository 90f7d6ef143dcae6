"""The EWS cases over Microsoft Graph: import, export, idle and incremental through the
``graph`` transport (every item type, the calendar too), each against a bare Graph client
doing the same work and, for the same work, against WESS over EWS (``vs_ews``) in the
same run and emulator."""

from __future__ import annotations

import math
from typing import Any

from .graph_side import (
    BATCH_LIMIT,
    bare_graph,
    contact_json,
    graph_measured,
    graph_traffic,
    idle_requests,
    split_counts,
)
from .measure import ratio, total, traffic
from .processes import EmulatorProcess
from .sizes import PASSWORD
from .wess_side import (
    Edits,
    edited_home,
    email_of,
    home_after_first_pass,
    idle_pass,
    item_type_names,
    make_home,
    measured,
    moved,
    person,
    seeded_users,
    sync_user,
)
from .workspace import Workspace

#: Items per delta page WESS asks for (``Prefer: odata.maxpagesize``); the baseline too.
PAGE_SIZE = 200


def _over_ews(
    space: Workspace, emu: EmulatorProcess, login: str, name: str, crm_people: int = 0
) -> dict[str, Any]:
    """WESS over EWS doing one user's sync (the same work as the graph case's, with
    ``crm_people`` people in the CRM): wall time and requests, for ``vs_ews``."""
    ctx = make_home(space.home(name), emu, [login])
    if crm_people:
        _fill_crm(ctx, login, crm_people)
    wall, _data, mem, counts = measured(emu, lambda: sync_user(ctx, login), cold=True)
    return {"what": "the same sync by WESS over EWS", "wall_s": round(wall, 3)} | traffic(
        counts, mem
    )


def _fill_crm(ctx: Any, login: str, n: int) -> None:
    from wess_plugins.crm_local import local

    local.import_records(ctx.home, f"db-{login}", "people", [person(i) for i in range(n)])


def case_graph_import(space: Workspace) -> dict[str, Any]:
    from wess_plugins.transport_graph.fields import EXPAND

    n = space.sizes.items
    logins = ("base", "wess", "ews")
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of(u) for u in logins], PASSWORD)
        for login in logins:
            emu.call("seed_contacts", email_of(login), 0, n)
        ctx = make_home(space.home("graph-import"), emu, ["wess"], transport="graph")
        client = bare_graph(emu)

        def baseline() -> int:
            link = f"/users/{email_of('base')}/contactFolders/contacts/contacts/delta"
            params: dict[str, str] | None = {"$expand": EXPAND["contacts"]}
            prefer = f'IdType="ImmutableId", odata.maxpagesize={PAGE_SIZE}'
            seen = 0
            for _ in range(1_000_000):
                answer = client.get(link, params=params, headers={"Prefer": prefer})
                answer.raise_for_status()
                doc = answer.json()
                seen += len(doc["value"])
                if "@odata.deltaLink" in doc:
                    return seen
                link, params = doc["@odata.nextLink"], None
            raise RuntimeError("the baseline's delta round never ended")

        base_s, seen, base_mem, base_split = graph_measured(emu, baseline)
        assert seen == n, f"baseline saw {seen} of {n} contacts"
        wall, data, mem, split = graph_measured(emu, lambda: sync_user(ctx, "wess"), cold=True)
        ews = _over_ews(space, emu, "ews", "ews-import")
    imported = data["folders"]["contacts"]["to_crm"]["created"]
    assert imported == n, f"imported {imported} of {n}"
    folders = item_type_names()
    against_base = ratio(wall, base_s)
    pages = math.ceil(n / PAGE_SIZE)
    requests = total(split["wire"])
    return {
        "sizes": {"contacts": n, "folders": len(folders), "page_size": PAGE_SIZE},
        "wall_s": round(wall, 3),
        "items_per_s": round(n / wall),
        **graph_traffic(split, mem),
        "baseline": {
            "what": "requests (bare Graph client): one contacts delta round with the same "
            f"$expand and maxpagesize {PAGE_SIZE}, items counted, nothing stored",
            "wall_s": round(base_s, 3),
            **graph_traffic(base_split, base_mem),
        },
        "ratio": against_base,
        "ews": ews,
        "vs_ews": ratio(wall, ews["wall_s"]),
        "target": f"wall <= 1.3 x WESS over EWS; contacts in {pages} delta pages of "
        f"{PAGE_SIZE}; requests <= baseline + 2 per folder",
        "met": bool(
            wall <= 1.3 * ews["wall_s"]
            and split["wire"].get("graph:contacts.delta", 0) <= pages + 1
            and requests <= total(base_split["wire"]) + 2 * len(folders)
        ),
    }


def case_graph_export(space: Workspace) -> dict[str, Any]:
    n = space.sizes.items
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of(u) for u in ("base", "wess", "ews")], PASSWORD)
        ctx = make_home(space.home("graph-export"), emu, ["wess"], transport="graph")
        _fill_crm(ctx, "wess", n)
        people = [person(i) for i in range(n)]
        client = bare_graph(emu)

        def baseline() -> int:
            url = f"/users/{email_of('base')}/contactFolders/contacts/contacts"
            created = 0
            for low in range(0, n, BATCH_LIMIT):
                requests = [
                    {
                        "id": str(i),
                        "method": "POST",
                        "url": url,
                        "headers": {"Content-Type": "application/json"},
                        "body": contact_json(people[i], str(i + 1)),
                    }
                    for i in range(low, min(n, low + BATCH_LIMIT))
                ]
                answer = client.post("/$batch", json={"requests": requests})
                answer.raise_for_status()
                created += sum(1 for r in answer.json()["responses"] if r["status"] == 201)
            return created

        base_s, created, base_mem, base_split = graph_measured(emu, baseline)
        assert created == n, f"baseline created {created} of {n}"
        wall, data, mem, split = graph_measured(emu, lambda: sync_user(ctx, "wess"), cold=True)
        in_mailbox = emu.call("folder_size", email_of("wess"), "contacts")
        ews = _over_ews(space, emu, "ews", "ews-export", crm_people=n)
    exported = data["folders"]["contacts"]["to_exchange"]["created"]
    assert exported == n == in_mailbox, f"exported {exported}, mailbox {in_mailbox}, of {n}"
    against_base = ratio(wall, base_s)
    batches = math.ceil(n / BATCH_LIMIT)
    return {
        "sizes": {"people": n, "batch": BATCH_LIMIT},
        "wall_s": round(wall, 3),
        "items_per_s": round(n / wall),
        **graph_traffic(split, mem),
        "baseline": {
            "what": f"requests (bare Graph client): $batch requests of {BATCH_LIMIT} contact "
            "creates of the same fields, CRM id property included, one after another",
            "wall_s": round(base_s, 3),
            **graph_traffic(base_split, base_mem),
        },
        "ratio": against_base,
        "ews": ews,
        "vs_ews": ratio(wall, ews["wall_s"]),
        "target": f"wall <= 1.3 x baseline; {n} creates in {batches} $batch requests",
        "met": bool(
            against_base is not None
            and against_base <= 1.3
            and split["wire"].get("graph:batch") == batches
            and split["batched"].get("graph:contacts.create") == n
        ),
    }


def case_graph_idle(space: Workspace) -> dict[str, Any]:
    with EmulatorProcess() as emu:
        users = seeded_users(emu, space.sizes.idle_users, space.sizes.seed_per_user)
        ctx = home_after_first_pass(space.home("graph-idle"), emu, users, "graph")
        emu.call("reset_counts")
        figures, mem = idle_pass(ctx, users)
        split = split_counts(emu.counts(), emu.batched())
        handshakes = emu.call("handshakes")
        ews_ctx = home_after_first_pass(space.home("ews-idle"), emu, users)
        emu.call("reset_counts")
        ews_figures, _ = idle_pass(ews_ctx, users)
        ews_counts, ews_handshakes = emu.counts(), emu.call("handshakes")
    folders = item_type_names()
    expected = idle_requests(folders, len(users))
    per_user = round(total(split["wire"]) / len(users), 2)
    authority_per_user = round(total(split["authority"]) / len(users), 2)
    return {
        "sizes": {
            "users": len(users),
            "folders_per_user": len(folders),
            "folders": folders,
            "workers": 1,
            "items_per_user": space.sizes.seed_per_user,
        },
        **figures,
        **graph_traffic(split, mem),
        "requests_per_user": per_user,
        "authority_requests_per_user": authority_per_user,
        "tls_handshakes": handshakes,
        "expected_requests": expected,
        "baseline": None,
        "ratio": None,
        "ews": {
            "what": "the same idle pass by WESS over EWS",
            **ews_figures,
            "requests": ews_counts,
            "tls_handshakes": ews_handshakes,
        },
        "vs_ews": ratio(figures["wall_s"], ews_figures["wall_s"]),
        "target": "exactly 1 delta request per synced folder and user, no other Graph "
        "request (requests to the OAuth authority reported apart)",
        "met": split["wire"] == expected
        and not split["batched"]
        and figures["synced"] == len(users),
    }


def case_graph_incremental(space: Workspace) -> dict[str, Any]:
    edits = Edits.of(space.sizes)
    on_exchange, on_crm = edits.on_exchange, edits.on_crm
    with EmulatorProcess() as emu:
        # both sides edited, as another Graph client (one $batch) and the CRM would
        ctx = edited_home(space.home("graph-incremental"), emu, edits, transport="graph")
        wall, data, mem, split = graph_measured(emu, lambda: sync_user(ctx, "inc"))
    to_crm, to_ex = moved(data, "to_crm"), moved(data, "to_exchange")
    folders = item_type_names()
    expected = idle_requests(folders, 1)
    expected["graph:contacts.delta"] += max(0, math.ceil(on_exchange / PAGE_SIZE) - 1)
    expected["graph:batch"] = math.ceil(on_crm / BATCH_LIMIT)
    expected_batched = {"graph:contacts.update": on_crm}
    return {
        "sizes": edits.sizes(len(folders)),
        "wall_s": round(wall, 3),
        "moved": {"to_crm": to_crm, "to_exchange": to_ex},
        **graph_traffic(split, mem),
        "expected_requests": dict(sorted(expected.items())),
        "expected_batch_subrequests": expected_batched,
        "baseline": None,
        "ratio": None,
        "target": f"requests proportional to the changes: one delta page per folder (+1 per "
        f"{PAGE_SIZE} Exchange changes), one $batch per {BATCH_LIMIT} CRM changes",
        "met": split["wire"] == expected
        and split["batched"] == expected_batched
        and to_crm == on_exchange
        and to_ex == on_crm,
    }
