"""The client side of the cases: WESS homes whose users sync against the emulator
process (over EWS or Graph), bare exchangelib accounts for the baselines, and one
measured step."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .measure import peak_memory, timed
from .processes import EmulatorProcess
from .sizes import PASSWORD


def email_of(login: str) -> str:
    return f"{login}@example.com"


def person(n: int) -> dict[str, Any]:
    """The ``n``-th CRM person of the export case."""
    first = ("Ann", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana")[n % 8]
    return {
        "first_name": first,
        "last_name": f"Person{n:06d}",
        "email": f"{first.lower()}.p{n}@bench.example",
        "company": ("Acme", "Globex", "Initech", "Hooli")[n % 4],
        "job_title": ("CEO", "Buyer", "Engineer")[n % 3],
        "phone": f"+44 20 7946 {n % 10000:04d}",
    }


def make_home(
    home: Path,
    emu: EmulatorProcess | None,
    logins: list[str],
    *,
    own_databases: bool = True,
    password: str | None = PASSWORD,
    transport: str = "ews",
) -> Any:
    """A WESS home with ``logins`` eligible to sync against ``emu`` over ``transport``
    (bulk-written profiles: thousands of ``users add`` would measure the set-up, not the
    case). Over ``graph`` the account signs in as the emulator's OAuth app
    (``graph_side.connect_graph``) and the users have no password."""
    from wess_core.models import UserProfile
    from wess_core.service import Context, accounts
    from wess_core.service.users import user_profiles
    from wess_plugins.crm_local import local

    ctx = Context(home=home)
    accounts.init(ctx)
    accounts.set_module(ctx, True)
    accounts.add_licences(ctx, max(1, len(logins)))
    over_ews = transport == "ews"
    if emu is not None and over_ews:
        accounts.set_connection(ctx, ews_url=emu.ews_url, ca_bundle=emu.ca_cert, verify=False)
    elif emu is not None:
        from .graph_side import connect_graph

        connect_graph(ctx, emu)
    secret = ctx.secrets.encrypt(password) if password and over_ews else None
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    rows = []
    for login in logins:
        database = f"db-{login}" if own_databases else "main"
        rows.append(
            UserProfile(
                login=login,
                email=email_of(login),
                licence_allocated=True,
                sync_enabled=True,
                database=database,
                password=secret,
                auth="direct" if over_ews else None,
                created=now,
            ).to_dict()
        )
    with user_profiles(ctx).transaction() as profiles:
        for row in rows:
            profiles.put(row)
    if own_databases:
        for login in logins:
            local.create_database(home, f"db-{login}")
    return ctx


def forget_protocols() -> None:
    """Cold start: drop exchangelib's cached protocols (sessions, guessed versions)."""
    from exchangelib.protocol import CachingProtocol

    with contextlib.suppress(Exception):
        CachingProtocol.clear_cache()


def bare_account(emu: EmulatorProcess, login: str) -> Any:
    """A plain exchangelib Account for ``login`` (the baselines' client)."""
    from exchangelib import BASIC, DELEGATE, UTC, Account, Configuration, Credentials, FailFast

    from wess_plugins.transport_ews import adapter

    adapter.trust(emu.ews_url, emu.ca_cert)
    config = Configuration(
        service_endpoint=emu.ews_url,
        credentials=Credentials(email_of(login), PASSWORD),
        auth_type=BASIC,
        retry_policy=FailFast(),
    )
    return Account(
        email_of(login),
        access_type=DELEGATE,
        config=config,
        autodiscover=False,
        default_timezone=UTC,
    )


def contact_fields() -> list[str]:
    """The contact attributes the EWS transport fetches (the baseline fetches the same)."""
    from wess_plugins.transport_ews.fields import FOLDER_FIELDS
    from wess_plugins.transport_ews.items import CRM_ID_FIELD

    return [m.attribute for m in FOLDER_FIELDS["contacts"]] + [CRM_ID_FIELD, "last_modified_time"]


def measured(
    emu: EmulatorProcess, fn: Callable[[], Any], *, cold: bool = False
) -> tuple[float, Any, dict[str, Any], dict[str, int]]:
    """One measured step: requests counted from zero, peak memory and wall time of ``fn``;
    ``cold`` drops exchangelib's cached protocols first. Returns (seconds, value,
    memory, requests by operation)."""
    if cold:
        forget_protocols()
    emu.call("reset_counts")
    with peak_memory() as memory:
        seconds, value = timed(fn)
    return seconds, value, memory, emu.counts()


def folder_count() -> int:
    from wess_core import plugins

    return len(plugins.synced_folders())


def item_type_names() -> list[str]:
    """The item types every user syncs (one mailbox folder each)."""
    from wess_core import plugins

    return sorted(plugins.item_types().names())


def sync_user(ctx: Any, login: str) -> dict[str, Any]:
    """One user's sync through WESS; raises if any folder failed."""
    from wess_core.service import sync

    data = sync.sync_user(ctx, login)
    failed = {n: f["failed"] for n, f in data["folders"].items() if f.get("failed")}
    errors = [e for f in data["folders"].values() for e in f.get("errors", [])]
    if failed or errors:
        raise RuntimeError(f"sync of {login} failed: {failed or errors[:3]}")
    return data


def moved(data: dict[str, Any], side: str) -> int:
    """Items created, updated or deleted on ``side`` (``to_crm``/``to_exchange``)."""
    return sum(
        sum(f[side][k] for k in ("created", "updated", "deleted")) for f in data["folders"].values()
    )


def transport(ctx: Any, login: str) -> Any:
    """The transport of ``login``, as the engine makes it (to edit the mailbox)."""
    from wess_core import plugins
    from wess_core.connection import resolve
    from wess_core.service import accounts
    from wess_core.service.users import get_profile

    connection = resolve(
        accounts.load_account(ctx), get_profile(ctx, login), ctx.secrets.decrypt, ctx.home
    )
    return plugins.transports().get(connection.transport)(connection)


def list_items(mailbox: Any, folder: str) -> list[Any]:
    from wess_emulator.demo import _list_items as listing

    return listing(mailbox, folder)


@dataclass(frozen=True)
class Edits:
    """The incremental cases' sizes: ``items`` contacts, ``changed_percent`` of them
    edited, half in Exchange and half in the CRM."""

    items: int
    on_exchange: int
    on_crm: int

    @classmethod
    def of(cls, sizes: Any) -> Edits:
        changed = max(2, round(sizes.items * sizes.changed_percent / 100))
        return cls(sizes.items, changed // 2, changed - changed // 2)

    def sizes(self, folders: int) -> dict[str, int]:
        """The case's ``sizes`` in its JSON."""
        return {
            "items": self.items,
            "changed": self.on_exchange + self.on_crm,
            "changed_in_exchange": self.on_exchange,
            "changed_in_crm": self.on_crm,
            "folders": folders,
        }


def edited_home(home: Path, emu: EmulatorProcess, edits: Edits, transport: str = "ews") -> Any:
    """The incremental cases' set-up: user ``inc`` with ``edits.items`` contacts, their
    first sync, then both sides edited (``change_both_sides``); the home's context."""
    emu.call("add_users", [email_of("inc")], PASSWORD)
    emu.call("seed_contacts", email_of("inc"), 0, edits.items)
    ctx = make_home(home, emu, ["inc"], transport=transport)
    sync_user(ctx, "inc")  # the initial import
    change_both_sides(ctx, "inc", edits.on_exchange, edits.on_crm)
    return ctx


def change_both_sides(ctx: Any, login: str, on_exchange: int, on_crm: int) -> None:
    """The incremental cases' edits: ``on_exchange`` contacts changed in the mailbox
    through the user's own transport (as another client would), ``on_crm`` other
    people changed in the CRM, both spread over the folder."""
    from wess_core.strategies import ItemUpdate
    from wess_plugins.crm_local import local

    mailbox = transport(ctx, login)
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
    database = f"db-{login}"
    records = local.list_records(ctx.home, database, "people")
    picked = {c.item_id for c in chosen}  # imported records carry their item id
    others = [r for r in records if r["exchange_id"] not in picked]
    for record in others[:: max(1, len(others) // on_crm)][:on_crm]:
        local.update_record(
            ctx.home, database, "people", record["id"], {"job_title": "Changed in CRM"}
        )


def seeded_users(emu: EmulatorProcess, count: int, per_user: int) -> list[str]:
    """The idle cases' users: ``count`` mailboxes with ``per_user`` contacts each."""
    users = [f"idle{i:04d}" for i in range(count)]
    emu.call("add_users", [email_of(u) for u in users], PASSWORD)
    for u in users:
        emu.call("seed_contacts", email_of(u), 0, per_user)
    return users


def home_after_first_pass(
    home: Path, emu: EmulatorProcess, users: list[str], transport: str = "ews"
) -> Any:
    """A home whose ``users`` have had their first (importing) scheduler pass, so the
    next pass is idle; raises if a user failed it."""
    from wess_core.service import scheduler

    ctx = make_home(home, emu, users, transport=transport)
    first = scheduler.run_once(ctx, workers=4)
    if first["failed"]:
        raise RuntimeError(f"first pass failed: {first['failed']}")
    return ctx


def idle_pass(ctx: Any, users: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One measured scheduler pass with one worker over ``users`` of ``ctx``:
    (the idle cases' figures, peak memory)."""
    from wess_core.service import scheduler

    cpu = time.process_time()
    with peak_memory() as memory:
        wall, outcome = timed(lambda: scheduler.run_once(ctx, workers=1))
    cpu = time.process_time() - cpu
    figures = {
        "wall_s": round(wall, 3),
        "ms_per_user": round(1000 * wall / len(users), 2),
        "client_cpu_ms_per_user": round(1000 * cpu / len(users), 2),
        "synced": len(outcome["synced"]),
    }
    return figures, memory
