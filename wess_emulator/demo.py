"""``wess demo``: a real two-way sync you can watch, on an embedded default.

It starts the EWS emulator on loopback (a fake Exchange 2016 over HTTPS with its
own CA), makes a throw-away WESS home with two users — alice with her own
password (direct), bob through an impersonation service account — seeds the
built-in CRM and both mailboxes with a few hundred items, syncs, edits both
sides (the CRM through the same functions ``wess crm`` uses, the mailboxes
through exchangelib as Outlook would), syncs again and checks that every
mailbox and its CRM database hold the same items.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wess_core import plugins
from wess_core.connection import resolve
from wess_core.service import Context, accounts, scheduler, users
from wess_core.service.users import get_profile
from wess_plugins.crm_local import local

PASSWORDS = {"alice": "Alice-Demo-1", "bob": "Bob-Demo-1", "svc": "Service-Demo-1"}
#: The app registration of ``--transport graph`` (OAuth client credentials).
DEMO_APP = ("wess-demo", "Demo-App-Secret-1", "contoso")
FIRST = ["Ann", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lena"]
LAST = ["Lee", "Moss", "Novak", "Ortiz", "Patel", "Quinn", "Ruiz", "Shah", "Tanaka", "Ueda"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark"]


def _person(rng: random.Random, n: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "first_name": first,
        "last_name": f"{last}-{n}",
        "email": f"{first.lower()}.{last.lower()}{n}@{rng.choice(COMPANIES).lower()}.example",
        "company": rng.choice(COMPANIES),
        "job_title": rng.choice(["CEO", "CTO", "Buyer", "Engineer", "Sales"]),
        "phone": f"+44 20 7946 {n:04d}",
    }


def _meeting(rng: random.Random, n: int, day: dt.date) -> dict[str, Any]:
    start = dt.datetime.combine(day, dt.time(9 + n % 8), tzinfo=dt.UTC)
    return {
        "subject": f"Meeting {n}",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=30 * (1 + n % 3))).isoformat(),
        "location": f"Room {1 + n % 5}",
    }


def _task(rng: random.Random, n: int, day: dt.date) -> dict[str, Any]:
    return {
        "subject": f"Follow up {n}",
        "due_date": (day + dt.timedelta(days=n % 20)).isoformat(),
        "status": rng.choice(["not_started", "in_progress"]),
    }


class Demo:
    """One demo run; ``run()`` returns True when both sides ended identical."""

    def __init__(
        self,
        out: Callable[[str], None],
        home: Path | None = None,
        size: int = 120,
        transport: str = "ews",
    ):
        self.out = out
        self.size = size
        self.transport = transport
        self.rng = random.Random(7)
        self._tmp = None if home else tempfile.TemporaryDirectory(prefix="wess-demo-")
        self.home = Path(home) if home else Path(self._tmp.name)  # type: ignore[union-attr]
        self.ctx = Context(home=self.home)
        #: The people each CRM database was seeded with (the CRM side edits these).
        self.crm_made: dict[str, list[str]] = {}

    # -- set-up ------------------------------------------------------------

    def start_exchange(self) -> Any:
        from wess_emulator.emulator import EmulatorServer

        server = EmulatorServer(validate=False)
        server.add_user("alice@example.com", PASSWORDS["alice"], display_name="Alice")
        server.add_user("bob@example.com", PASSWORDS["bob"], display_name="Bob")
        server.add_user("svc-wess@example.com", PASSWORDS["svc"], impersonator=True)
        client_id, secret, tenant = DEMO_APP
        server.add_app(client_id, secret, tenant)
        server.start()
        return server

    def set_up_account(self, server: Any) -> None:
        ctx = self.ctx
        accounts.init(ctx)
        accounts.set_module(ctx, True)
        accounts.add_licences(ctx, 2)
        for login in ("alice", "bob"):
            users.add_user(ctx, login, f"{login}@example.com")
            users.allocate(ctx, login)
            users.set_sync_enabled(ctx, login, True)
        local.create_database(self.home, "sales")
        if self.transport == "graph":
            self._set_up_graph(server)
            return
        users.update_user(ctx, "bob", database="sales", auth="impersonation", verify=False)
        accounts.set_connection(
            ctx,
            ews_url=server.ews_url,
            ca_bundle=server.ca_cert,
            impersonation_user="svc-wess@example.com",
            impersonation_password=PASSWORDS["svc"],
            verify=False,
        )
        # the credential checks on save run for real against the emulator
        users.update_user(ctx, "alice", password=PASSWORDS["alice"], auth="direct")
        users.update_user(ctx, "bob", discovery="manual")

    def _set_up_graph(self, server: Any) -> None:
        """Both users through the app's OAuth token over Microsoft Graph."""
        client_id, secret, tenant = DEMO_APP
        ctx = self.ctx
        users.update_user(ctx, "bob", database="sales", verify=False)
        accounts.set_connection(
            ctx,
            transport="graph",
            auth="oauth",
            ca_bundle=server.ca_cert,
            ews_url=server.ews_url,  # the demo's mail arrives over EWS
            options=[
                ("tenant", tenant),
                ("client_id", client_id),
                ("authority", server.authority(tenant)),
                ("graph_url", server.graph_url),
            ],
            secret_options=[("client_secret", secret)],
        )  # checked for real: a token from the emulated tenant, then the mailbox

    def mailbox(self, login: str, transport: str | None = None) -> Any:
        """The user's mailbox through the same transport the sync uses (or ``transport``:
        mail arrives over EWS, the same app's token, when the sync reads it over Graph)."""
        ctx = self.ctx
        connection = resolve(
            accounts.load_account(ctx), get_profile(ctx, login), ctx.secrets.decrypt, ctx.home
        )
        return plugins.transports().get(transport or self.transport)(connection)

    def seed(self, login: str, database: str) -> None:
        from wess_core.strategies import NewItem

        rng, n = self.rng, self.size
        day = dt.date.today() + dt.timedelta(days=1)
        people = local.import_records(
            self.home, database, "people", [_person(rng, i) for i in range(n)]
        )
        self.crm_made[database] = [p["id"] for p in people]
        people = [p["fields"] for p in people]
        local.import_records(
            self.home, database, "meetings", [_meeting(rng, i, day) for i in range(n // 6)]
        )
        local.import_records(
            self.home, database, "tasks", [_task(rng, i, day) for i in range(n // 8)]
        )
        mailbox = self.mailbox(login)
        types = dict(plugins.item_types().items())
        # what a person typed into Outlook: items without a CRM id
        contacts = [types["contacts"].to_item(_person(rng, 1000 + i)) for i in range(n // 2)]
        meetings = [types["calendar"].to_item(_meeting(rng, 1000 + i, day)) for i in range(n // 10)]
        tasks = [types["tasks"].to_item(_task(rng, 1000 + i, day)) for i in range(n // 12)]
        mails = [
            {
                "subject": f"Quote request {i}",
                "sender": people[i % len(people)]["email"],
                "to_recipients": [f"{login}@example.com"],
                "body": "Could you send us a quote?",
            }
            for i in range(n // 6)
        ]
        seeded = {"contacts": contacts, "calendar": meetings, "tasks": tasks, "inbox": mails}
        for folder, items in seeded.items():
            # WESS never writes mail over Graph: the demo's mail arrives over EWS
            target = self.mailbox(login, "ews") if folder == "inbox" else mailbox
            refs = target.create(folder, [NewItem(fields=f, crm_id="") for f in items])
            failed = [r for r in refs if isinstance(r, Exception)]
            if failed:
                raise RuntimeError(f"seeding {folder} failed: {failed[0]}")

    def edit_both_sides(self, login: str, database: str) -> dict[str, int]:
        from wess_core.strategies import ItemUpdate, NewItem

        rng = self.rng
        # the CRM edits its own people, the mailbox its own contacts: no pair is edited
        # on both sides (a conflict would make the counts depend on the draw)
        made = set(self.crm_made[database])
        people = [r for r in local.list_records(self.home, database, "people") if r["id"] in made]
        for record in rng.sample(people, 5):
            local.update_record(self.home, database, "people", record["id"], {"job_title": "VP"})
        for record in rng.sample(people, 2):
            local.delete_record(self.home, database, "people", record["id"])
        for i in range(3):
            local.add_record(self.home, database, "people", _person(rng, 5000 + i))
        mailbox = self.mailbox(login)
        # typed into Outlook (no CRM id), in a stable order (ids differ between runs over
        # Graph): the same edits every run
        typed = [i for i in _list_items(mailbox, "contacts") if not i.crm_id]
        listing = sorted(typed, key=lambda i: _canon(i.fields))
        chosen = rng.sample(listing, 6)
        mailbox.update(
            "contacts",
            [ItemUpdate(i.item_id, {"company_name": "Wayne Ltd"}, i.changekey) for i in chosen[:4]],
        )
        mailbox.delete("contacts", [i.ref for i in chosen[4:]])
        types = dict(plugins.item_types().items())
        mailbox.create(
            "contacts",
            [NewItem(types["contacts"].to_item(_person(rng, 6000 + i)), "") for i in range(2)],
        )
        return {"crm_edits": 10, "exchange_edits": 8}

    # -- checks ------------------------------------------------------------

    def compare(self, login: str, database: str) -> list[str]:
        """Differences between the user's mailbox and CRM database ([] = identical)."""
        problems = []
        mailbox = self.mailbox(login)
        emails = local.list_records(self.home, database, "emails")
        inbox = _list_items(mailbox, "inbox")
        filed = [e for e in emails if e.get("people_ids")]
        if len(emails) != len(inbox) or len(filed) != len(inbox):
            problems.append(
                f"{login}/e-mail: {len(inbox)} in the inbox, {len(emails)} in the CRM, "
                f"{len(filed)} filed against people"
            )
        for name, item_type in plugins.item_types().items():
            if item_type.direction.value != "two-way":
                continue
            items = _list_items(mailbox, item_type.folder)
            records = local.list_records(self.home, database, item_type.record_type)
            exchange_side = sorted(_canon(item_type.to_record(i.fields)) for i in items)
            crm_side = sorted(
                _canon(item_type.to_record(item_type.to_item(r["fields"]))) for r in records
            )
            if exchange_side != crm_side:
                problems.append(
                    f"{login}/{name}: {len(items)} in Exchange, {len(records)} in the CRM, "
                    f"{len(set(exchange_side) ^ set(crm_side))} differ"
                )
        return problems

    # -- the run -----------------------------------------------------------

    def report(self, title: str, outcome: dict[str, Any]) -> None:
        self.out(f"\n{title}")
        for login in ("alice", "bob"):
            entry = _last_sync(self.ctx, login)
            if entry is None:
                self.out(f"  {login}: {outcome['failed'].get(login, 'not synced')}")
                continue
            self.out(f"  {login}: {entry['message']} ({entry.get('seconds', 0):.2f} s)")
            for name, folder in entry["result"]["folders"].items():
                to_crm, to_ex = folder["to_crm"], folder["to_exchange"]
                self.out(
                    f"    {name:<12} to CRM +{to_crm['created']:<3} ~{to_crm['updated']:<3} "
                    f"-{to_crm['deleted']:<3}  to Exchange +{to_ex['created']:<3} "
                    f"~{to_ex['updated']:<3} -{to_ex['deleted']:<3}"
                )

    def run(self) -> bool:
        started = time.monotonic()
        server = self.start_exchange()
        try:
            self.out(f"Emulated Exchange at {server.ews_url}")
            self.out(f"WESS home {self.home}")
            self.set_up_account(server)
            if self.transport == "graph":
                self.out(f"Emulated Microsoft Graph at {server.graph_url}")
                self.out("Account: module active, 2 licences; alice and bob over Graph (OAuth app)")
            else:
                self.out("Account: module active, 2 licences; alice (direct), bob (impersonation)")
            dbs = {"alice": "main", "bob": "sales"}
            for login, database in dbs.items():
                self.seed(login, database)
            self.out(f"Seeded both CRM databases and both mailboxes ({self.size} people each ...)")
            first = scheduler.run_once(self.ctx, workers=2)
            self.report("First sync (both sides merged):", first)
            for login, database in dbs.items():
                self.edit_both_sides(login, database)
            self.out("\nEdited both sides: 10 CRM changes and 8 Exchange changes per user.")
            second = scheduler.run_once(self.ctx, workers=2)
            self.report("Second sync (the edits travel):", second)
            problems = [p for login, db in dbs.items() for p in self.compare(login, db)]
            problems += [
                f"{u}: {why}" for u, why in {**first["failed"], **second["failed"]}.items()
            ]
            seconds = time.monotonic() - started
            if problems:
                self.out("\nNOT identical:")
                for problem in problems:
                    self.out(f"  {problem}")
                return False
            self.out(
                f"\nBoth sides identical for alice and bob: contacts, calendar, tasks; "
                "every inbox message filed in the CRM against its people "
                f"({seconds:.1f} s, {_requests(server, self.transport)})."
            )
            return True
        finally:
            server.stop()
            if self._tmp is not None:
                self._tmp.cleanup()


def _list_items(mailbox: Any, folder: str) -> list[Any]:
    """Every item of a folder, through a fresh full sync listing."""
    items: dict[str, Any] = {}
    token = None
    for _ in range(10_000):
        page = mailbox.changes(folder, token)
        for change in page.changes:
            if change.deleted:
                items.pop(change.item_id, None)
            elif change.item is not None:
                items[change.item_id] = change.item
        token = page.token
        if page.done:
            break
    return list(items.values())


def _canon(fields: dict[str, Any]) -> str:
    import json

    clean = {k: v for k, v in fields.items() if v not in (None, "", [], {})}
    return json.dumps(clean, sort_keys=True, default=str)


def _last_sync(ctx: Context, login: str) -> dict[str, Any] | None:
    from wess_core.service import history

    for kind in ("sync", "error"):
        entry = history.last_entry(ctx, login, kind)
        if entry and "result" in entry:
            return entry
    return None


def _requests(server: Any, transport: str) -> str:
    """How much the sync asked of the server (over Graph, each of a $batch's requests
    counts as an operation)."""
    if transport == "graph":
        calls = sum(n for op, n in server.counts.items() if op.startswith("graph:"))
        inner = server.counts.get("graph:batch", 0)
        return f"{calls} Graph operations, the writes among them in {inner} $batch requests"
    return f"{sum(server.counts.values())} EWS requests"
