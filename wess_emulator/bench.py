"""Benchmarks: WESS's cost against bare exchangelib and the round-trip floor.

``wess bench`` (or ``python -m benchmarks`` in a checkout) runs each case against the EWS
emulator on 127.0.0.1 and prints one JSON object per case: sizes, wall time, EWS requests by
operation, peak memory and the ratio against a baseline measured in the same run.

The emulator runs in its own process (a ``multiprocessing`` child driven over a pipe), so its
CPU and its in-memory mailboxes are not counted as WESS's: the benchmark process holds only the
client side. Requests are counted by the emulator, per operation. Peak memory is the benchmark
process's peak resident set size during the measured step (Linux: ``VmHWM``, reset before each
step through ``/proc/self/clear_refs``; elsewhere the process's lifetime ``ru_maxrss``).

Cases (``--case NAME``, repeatable; default all):

``import``       10,000 contacts Exchange → local CRM; baseline: exchangelib ``sync_items``.
``export``       10,000 CRM people → Exchange; baseline: exchangelib ``bulk_create`` (100).
``idle``         100 users, nothing changed: one SyncFolderItems per folder, nothing else.
``incremental``  1% of 10,000 items changed (half in Exchange, half in the CRM).
``scheduler``    500 users, 20 ms emulator latency, 16 workers; users/s against the ideal
                 (the median of 3 passes; CPU and requests are over all of them).
``store``        10,000 profiles; list, read, write; a state write with 100 vs 10,000
                 other users' state files present.
``memory``       peak memory of importing a 10,000- and a 100,000-item folder, each in a
                 fresh process.

``--quick`` scales every size down (1,000 items, 20 users) so a test can run it in seconds.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

CASES = ("import", "export", "idle", "incremental", "scheduler", "store", "memory")
PASSWORD = "Bench-Pass-1"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    items: int = 10_000
    idle_users: int = 100
    changed_percent: float = 1.0
    scheduler_users: int = 500
    scheduler_workers: int = 16
    scheduler_passes: int = 3
    latency_s: float = 0.020
    store_users: int = 10_000
    store_few_states: int = 100
    memory_sizes: tuple[int, ...] = (10_000, 100_000)
    seed_per_user: int = 10


FULL = Sizes()
QUICK = Sizes(
    items=1_000,
    idle_users=20,
    scheduler_users=20,
    scheduler_workers=4,
    store_users=1_000,
    store_few_states=100,
    memory_sizes=(1_000, 5_000),
    seed_per_user=3,
)


# -- memory ------------------------------------------------------------------------------


def _status_kib(key: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else None


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    if kib is None:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kib / 1024


@contextlib.contextmanager
def peak_memory() -> Iterator[dict[str, Any]]:
    """Peak RSS of this process during the block: ``{"start_mib", "peak_mib", "method"}``."""
    gc.collect()
    out: dict[str, Any] = {}
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        out["method"] = "VmHWM (reset before the step)"
    except OSError:
        out["method"] = "ru_maxrss (process lifetime)"
    out["start_mib"] = round(rss_mib(), 1)
    try:
        yield out
    finally:
        kib = _status_kib("VmHWM")
        if kib is None:
            import resource

            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_mib"] = round(kib / 1024, 1)
        out["growth_mib"] = round(out["peak_mib"] - out["start_mib"], 1)


# -- the emulator in its own process -----------------------------------------------------


def _contact_record(n: int) -> dict[str, Any]:
    first = ("Ann", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana")[n % 8]
    last = f"Bench{n:06d}"
    return {
        "GivenName": first,
        "Surname": last,
        "DisplayName": f"{first} {last}",
        "CompanyName": ("Acme", "Globex", "Initech", "Hooli")[n % 4],
        "JobTitle": ("CEO", "Buyer", "Engineer")[n % 3],
        "email_addresses": {"EmailAddress1": f"{first.lower()}.{n}@bench.example"},
    }


def _person(n: int) -> dict[str, Any]:
    first = ("Ann", "Ben", "Cleo", "Dev", "Eva", "Finn", "Gus", "Hana")[n % 8]
    return {
        "first_name": first,
        "last_name": f"Person{n:06d}",
        "email": f"{first.lower()}.p{n}@bench.example",
        "company": ("Acme", "Globex", "Initech", "Hooli")[n % 4],
        "job_title": ("CEO", "Buyer", "Engineer")[n % 3],
        "phone": f"+44 20 7946 {n % 10000:04d}",
    }


class _Control:
    """What the parent may ask the emulator process to do (runs in the child)."""

    def __init__(self) -> None:
        from wess_emulator.emulator import EmulatorServer

        self.server = EmulatorServer(host="127.0.0.1", port=0, validate=False)
        self.server.start()

    def info(self) -> dict[str, str]:
        return {"ews_url": self.server.ews_url, "ca_cert": self.server.ca_cert}

    def add_users(self, emails: list[str], password: str) -> None:
        for email in emails:
            self.server.add_user(email, password)

    def seed_contacts(self, email: str, start: int, count: int) -> int:
        mailbox = self.server.mailbox(email)
        step = 5_000
        for low in range(start, start + count, step):
            high = min(start + count, low + step)
            mailbox.add_items("contacts", (_contact_record(n) for n in range(low, high)))
        return len(mailbox.folder("contacts").items)

    def folder_size(self, email: str, folder: str) -> int:
        return len(self.server.mailbox(email).folder(folder).items)

    def counts(self) -> dict[str, int]:
        return dict(self.server.counts)

    def reset_counts(self) -> None:
        self.server.reset_counts()

    def handshakes(self) -> int:
        return self.server.handshakes

    def set_latency(self, seconds: float) -> None:
        self.server.set_latency(seconds)

    def rss_mib(self) -> float:
        return round(rss_mib(), 1)

    def stop(self) -> None:
        self.server.stop()


def _emulator_main(conn: Any) -> None:
    """The emulator process: answer ``(method, args)`` messages until ``stop``."""
    control = _Control()
    conn.send(("ok", control.info()))
    for _ in range(10_000_000):
        try:
            method, args = conn.recv()
        except EOFError:
            break
        try:
            conn.send(("ok", getattr(control, method)(*args)))
        except Exception as exc:  # reported to the parent, which raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        if method == "stop":
            break
    control.stop()


class EmulatorProcess:
    """The EWS emulator in a child process on 127.0.0.1 (``with EmulatorProcess() as emu``)."""

    def __init__(self) -> None:
        import multiprocessing  # here: every `wess` command loads this module

        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_emulator_main, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        if not self._conn.poll(60):
            self._proc.kill()
            raise RuntimeError("the emulator process did not start within 60 s")
        status, info = self._conn.recv()
        self.ews_url: str = info["ews_url"]
        self.ca_cert: str = info["ca_cert"]
        self.pid: int | None = self._proc.pid

    def call(self, method: str, *args: Any, timeout: float = 600) -> Any:
        self._conn.send((method, args))
        if not self._conn.poll(timeout):
            raise RuntimeError(f"the emulator did not answer {method} within {timeout} s")
        status, value = self._conn.recv()
        if status != "ok":
            raise RuntimeError(f"emulator {method}: {value}")
        return value

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in sorted(self.call("counts").items()) if v}

    def stop(self) -> None:
        if self._proc.is_alive():
            with contextlib.suppress(Exception):
                self.call("stop", timeout=10)
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=5)
        self._conn.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# -- WESS homes --------------------------------------------------------------------------


def email_of(login: str) -> str:
    return f"{login}@example.com"


def make_home(
    home: Path,
    emu: EmulatorProcess | None,
    logins: list[str],
    *,
    own_databases: bool = True,
    password: str | None = PASSWORD,
) -> Any:
    """A WESS home with ``logins`` eligible to sync against ``emu`` (bulk-written profiles:
    thousands of ``users add`` would measure the set-up, not the case)."""
    from wess_core.models import UserProfile
    from wess_core.service import Context, accounts
    from wess_core.service.users import user_profiles
    from wess_plugins.crm_local import local

    ctx = Context(home=home)
    accounts.init(ctx)
    accounts.set_module(ctx, True)
    accounts.add_licences(ctx, max(1, len(logins)))
    if emu is not None:
        accounts.set_connection(ctx, ews_url=emu.ews_url, ca_bundle=emu.ca_cert, verify=False)
    secret = ctx.secrets.encrypt(password) if password else None
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
                auth="direct",
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

    from wess_core import tls

    tls.trust(emu.ews_url, emu.ca_cert)
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
    from wess_plugins.transport_ews.transport import CRM_ID_FIELD

    return [m.attribute for m in FOLDER_FIELDS["contacts"]] + [CRM_ID_FIELD, "last_modified_time"]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


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

    return len({t.folder for _, t in plugins.item_types().items()})


def total(counts: dict[str, int]) -> int:
    return sum(counts.values())


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _sync(ctx: Any, login: str) -> dict[str, Any]:
    from wess_core.service import sync

    data = sync.sync_user(ctx, login)
    failed = {n: f["failed"] for n, f in data["folders"].items() if f.get("failed")}
    errors = [e for f in data["folders"].values() for e in f.get("errors", [])]
    if failed or errors:
        raise RuntimeError(f"sync of {login} failed: {failed or errors[:3]}")
    return data


def _moved(data: dict[str, Any], side: str) -> int:
    return sum(
        sum(f[side][k] for k in ("created", "updated", "deleted")) for f in data["folders"].values()
    )


# -- the cases ---------------------------------------------------------------------------


class Bench:
    def __init__(self, sizes: Sizes, workdir: Path, log: Callable[[str], None]) -> None:
        self.sizes = sizes
        self.workdir = workdir
        self.log = log
        self._n = 0

    def home(self, name: str) -> Path:
        self._n += 1
        path = self.workdir / f"{self._n:02d}-{name}"
        path.mkdir(parents=True)
        return path

    # 1 ------------------------------------------------------------------------------------
    def case_import(self) -> dict[str, Any]:
        n = self.sizes.items
        with EmulatorProcess() as emu:
            emu.call("add_users", [email_of("base"), email_of("wess")], PASSWORD)
            for login in ("base", "wess"):
                emu.call("seed_contacts", email_of(login), 0, n)
            fields = contact_fields()

            def baseline() -> int:
                account = bare_account(emu, "base")
                seen = 0
                for _change, _item in account.contacts.sync_items(
                    only_fields=fields, max_changes_returned=512
                ):
                    seen += 1
                return seen

            base_s, seen, base_mem, base_counts = measured(emu, baseline, cold=True)
            assert seen == n, f"baseline saw {seen} of {n} contacts"

            ctx = make_home(self.home("import"), emu, ["wess"])
            wall, data, mem, counts = measured(emu, lambda: _sync(ctx, "wess"), cold=True)
        imported = data["folders"]["contacts"]["to_crm"]["created"]
        assert imported == n, f"imported {imported} of {n}"
        folders = folder_count()
        ratio = _ratio(wall, base_s)
        requests_ok = total(counts) <= total(base_counts) + folders
        return {
            "sizes": {"contacts": n, "folders": folders},
            "wall_s": round(wall, 3),
            "items_per_s": round(n / wall),
            "requests": counts,
            "requests_total": total(counts),
            "memory": mem,
            "baseline": {
                "what": "exchangelib folder.sync_items(only_fields=<the transport's fields>, "
                "max_changes_returned=512), items counted, nothing stored",
                "wall_s": round(base_s, 3),
                "requests": base_counts,
                "requests_total": total(base_counts),
                "memory": base_mem,
            },
            "ratio": ratio,
            "target": f"wall <= 1.3 x baseline; requests <= baseline + {folders} folders",
            "met": bool(ratio is not None and ratio <= 1.3 and requests_ok),
        }

    # 2 ------------------------------------------------------------------------------------
    def case_export(self) -> dict[str, Any]:
        from wess_plugins.crm_local import local

        n = self.sizes.items
        with EmulatorProcess() as emu:
            emu.call("add_users", [email_of("base"), email_of("wess")], PASSWORD)
            ctx = make_home(self.home("export"), emu, ["wess"])
            people = [_person(i) for i in range(n)]
            local.import_records(ctx.home, "db-wess", "people", people)

            def baseline() -> int:
                from exchangelib import Contact
                from exchangelib.indexed_properties import EmailAddress, PhoneNumber

                account = bare_account(emu, "base")
                folder = account.contacts
                items = [
                    Contact(
                        folder=folder,
                        given_name=p["first_name"],
                        surname=p["last_name"],
                        display_name=f"{p['first_name']} {p['last_name']}",
                        company_name=p["company"],
                        job_title=p["job_title"],
                        email_addresses=[EmailAddress(label="EmailAddress1", email=p["email"])],
                        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number=p["phone"])],
                        wess_crm_id=str(i + 1),
                    )
                    for i, p in enumerate(people)
                ]
                results = account.bulk_create(folder=folder, items=items, chunk_size=100)
                return sum(1 for r in results if not isinstance(r, Exception))

            base_s, created, base_mem, base_counts = measured(emu, baseline, cold=True)
            assert created == n, f"baseline created {created} of {n}"

            wall, data, mem, counts = measured(emu, lambda: _sync(ctx, "wess"), cold=True)
            in_mailbox = emu.call("folder_size", email_of("wess"), "contacts")
        exported = data["folders"]["contacts"]["to_exchange"]["created"]
        assert exported == n == in_mailbox, f"exported {exported}, mailbox {in_mailbox}, of {n}"
        ratio = _ratio(wall, base_s)
        return {
            "sizes": {"people": n, "batch": 100},
            "wall_s": round(wall, 3),
            "items_per_s": round(n / wall),
            "requests": counts,
            "requests_total": total(counts),
            "memory": mem,
            "baseline": {
                "what": "exchangelib account.bulk_create(contacts, chunk_size=100) of the same "
                "fields, CRM id extended property included",
                "wall_s": round(base_s, 3),
                "requests": base_counts,
                "requests_total": total(base_counts),
                "memory": base_mem,
            },
            "ratio": ratio,
            "target": "wall <= 1.3 x baseline",
            "met": bool(ratio is not None and ratio <= 1.3),
        }

    # 3 ------------------------------------------------------------------------------------
    def case_idle(self) -> dict[str, Any]:
        from wess_core.service import sync

        users = [f"idle{i:04d}" for i in range(self.sizes.idle_users)]
        with EmulatorProcess() as emu:
            emu.call("add_users", [email_of(u) for u in users], PASSWORD)
            for u in users:
                emu.call("seed_contacts", email_of(u), 0, self.sizes.seed_per_user)
            ctx = make_home(self.home("idle"), emu, users)
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
                "items_per_user": self.sizes.seed_per_user,
            },  # fmt: skip
            "wall_s": round(wall, 3),
            "ms_per_user": round(1000 * wall / len(users), 2),
            "client_cpu_ms_per_user": round(1000 * cpu / len(users), 2),
            "synced": len(outcome["synced"]),
            "requests": counts,
            "requests_total": total(counts),
            "expected_requests": expected,
            "memory": mem,
            "baseline": None,
            "ratio": None,
            "target": "exactly 1 SyncFolderItems per folder and user, no other request",
            "met": counts == expected and len(outcome["synced"]) == len(users),
        }

    # 4 ------------------------------------------------------------------------------------
    def case_incremental(self) -> dict[str, Any]:
        from wess_core.strategies import ItemUpdate
        from wess_plugins.crm_local import local

        n = self.sizes.items
        changed = max(2, round(n * self.sizes.changed_percent / 100))
        on_exchange, on_crm = changed // 2, changed - changed // 2
        with EmulatorProcess() as emu:
            emu.call("add_users", [email_of("inc")], PASSWORD)
            emu.call("seed_contacts", email_of("inc"), 0, n)
            ctx = make_home(self.home("incremental"), emu, ["inc"])
            _sync(ctx, "inc")  # the initial import
            # Exchange side: as Outlook would, through the same transport (one UpdateItem).
            mailbox = _transport(ctx, "inc")
            listing = _list_items(mailbox, "contacts")
            chosen = listing[:: max(1, len(listing) // on_exchange)][:on_exchange]
            refs = mailbox.update(
                "contacts",
                [ItemUpdate(i.item_id, {"job_title": "Changed in Outlook"}, i.changekey)
                 for i in chosen],
            )  # fmt: skip
            assert not [r for r in refs if isinstance(r, Exception)], refs
            # CRM side: as the CRM would.
            records = local.list_records(ctx.home, "db-inc", "people")
            picked = {c.item_id for c in chosen}  # imported records carry their item id
            others = [r for r in records if r["exchange_id"] not in picked]
            for record in others[:: max(1, len(others) // on_crm)][:on_crm]:
                local.update_record(
                    ctx.home, "db-inc", "people", record["id"], {"job_title": "Changed in CRM"}
                )
            wall, data, mem, counts = measured(emu, lambda: _sync(ctx, "inc"))
        folders = folder_count()
        to_crm, to_ex = _moved(data, "to_crm"), _moved(data, "to_exchange")
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
            },  # fmt: skip
            "wall_s": round(wall, 3),
            "moved": {"to_crm": to_crm, "to_exchange": to_ex},
            "requests": counts,
            "requests_total": total(counts),
            "expected_requests": expected,
            "memory": mem,
            "baseline": None,
            "ratio": None,
            "target": "requests proportional to the changes: one SyncFolderItems page per "
            "folder (+1 per 512 Exchange changes), one UpdateItem per 100 CRM changes",
            "met": counts == expected and to_crm == on_exchange and to_ex == on_crm,
        }

    # 5 ------------------------------------------------------------------------------------
    def case_scheduler(self) -> dict[str, Any]:
        from wess_core.service import sync

        s = self.sizes
        users = [f"sch{i:04d}" for i in range(s.scheduler_users)]
        with EmulatorProcess() as emu:
            emu.call("add_users", [email_of(u) for u in users], PASSWORD)
            for u in users:
                emu.call("seed_contacts", email_of(u), 0, s.seed_per_user)
            ctx = make_home(self.home("scheduler"), emu, users)
            # Every user is on one server: with the default throttle_cap (8) only 8 of the
            # 16 workers could ever run, and the ideal below (workers / per-user time)
            # would be out of reach by design. The cap is set to the workers.
            from wess_core.service import accounts

            accounts.set_setting(ctx, "throttle_cap", str(s.scheduler_workers))
            first = sync.run_once(ctx, workers=s.scheduler_workers)  # initial sync, no latency
            if first["failed"]:
                raise RuntimeError(f"first pass failed: {first['failed']}")
            emu.call("set_latency", s.latency_s)
            # The round-trip floor: a bare exchangelib idle SyncFolderItems, one at a time.
            from exchangelib.services import SyncFolderItems

            account = bare_account(emu, users[0])
            folder = account.contacts
            state = None
            for _ in range(2):
                svc = SyncFolderItems(account=account)
                list(svc.call(folder=folder, shape="IdOnly", additional_fields=set(),
                              sync_state=state, ignore=None, max_changes_returned=512,
                              sync_scope=None))  # fmt: skip
                state = svc.sync_state
            rtts = []
            for _ in range(20):
                svc = SyncFolderItems(account=account)
                t, _ = timed(lambda svc=svc: list(svc.call(
                    folder=folder, shape="IdOnly", additional_fields=set(), sync_state=state,
                    ignore=None, max_changes_returned=512, sync_scope=None)))  # fmt: skip
                rtts.append(t)
            rtt = statistics.median(rtts)
            emu.call("reset_counts")
            busy = _machine_busy_s()
            passes: list[tuple[float, dict[str, Any]]] = []
            with peak_memory() as mem, ProcessCpu(emu.pid) as procs:
                for _ in range(s.scheduler_passes):
                    passes.append(timed(lambda: sync.run_once(ctx, workers=s.scheduler_workers)))
            cpu, busy = procs.self_s, _machine_busy_s() - busy
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
        ratio = _ratio(rate, ideal)
        return {
            "sizes": {
                "users": len(users),
                "workers": s.scheduler_workers,
                "latency_ms": s.latency_s * 1000,
                "passes": s.scheduler_passes,
            },  # fmt: skip
            "wall_s": round(wall, 3),
            "synced": synced,
            "failed": len(failed),
            "users_per_s": round(rate, 2),
            "users_per_s_by_pass": [round(r, 2) for r in rates],
            # one process, one GIL: users/s can't beat 1 / (client CPU per user); more
            # workers than THREADS_PER_PROCESS run in worker processes, whose CPU is in
            # machine_cpu_ms_per_user (this process's alone is client_cpu_ms_per_user)
            "worker_processes": sync.process_count(s.scheduler_workers),
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
            "cpu_bound_users_per_s": round(os.cpu_count() * max(1, done) / busy, 2)
            if busy
            else None,
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
            "ratio": ratio,
            "target": "users/s >= 0.8 x ideal",
            "met": bool(ratio is not None and ratio >= 0.8 and not failed),
        }

    # 6 ------------------------------------------------------------------------------------
    def case_store(self) -> dict[str, Any]:
        from wess_core.service import users as users_service
        from wess_core.service.users import get_profile
        from wess_core.sync.status import FolderState, StatusRow, StoreSyncState

        s = self.sizes
        logins = [f"user{i:05d}" for i in range(s.store_users)]
        ctx = make_home(self.home("store"), None, logins, own_databases=False)
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
                state.put(StatusRow(f"p{login}{r}", str(r), 1, "h" * 32, f"i{login}{r}",
                                    "ck", "h" * 32))  # fmt: skip
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
        growth = _ratio(with_many, with_few)
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

    # 7 ------------------------------------------------------------------------------------
    def case_memory(self) -> dict[str, Any]:
        runs = {}
        for n in self.sizes.memory_sizes:
            runs[str(n)] = _in_child(_memory_run, str(self.home(f"memory-{n}")), n)
        small, large = (
            runs[str(n)] for n in (self.sizes.memory_sizes[0], self.sizes.memory_sizes[-1])
        )
        factor = self.sizes.memory_sizes[-1] / self.sizes.memory_sizes[0]
        growth = _ratio(large["import"]["growth_mib"], small["import"]["growth_mib"])
        inc_growth = _ratio(large["incremental"]["growth_mib"] or 0.1,
                            small["incremental"]["growth_mib"] or 0.1)  # fmt: skip
        extra_items = self.sizes.memory_sizes[-1] - self.sizes.memory_sizes[0]

        def per_item(step: str) -> int:
            """What each item beyond the small folder added to the step's peak: the part
            of memory that grows with the folder (0 if it is bounded)."""
            grown = large[step]["growth_mib"] - small[step]["growth_mib"]
            return round(max(0.0, grown) * MIB / extra_items)

        return {
            "sizes": {"items": list(self.sizes.memory_sizes), "page": 512, "batch": 100},
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


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy so far (Linux ``/proc/stat``; every
    process: WESS, its workers, the emulator), or process CPU elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return time.process_time()
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) process ``pid`` has used so far (Linux
    ``/proc/PID/stat``), or None where that is not readable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # after "pid (comm)": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_of(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                text = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(text.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class ProcessCpu:
    """CPU of the processes a measured step involves, counted per process so the figures
    do not depend on the machine being quiet (``/proc/stat`` counts everyone's CPU):
    this process plus its live children (the client tree: the scheduler's worker
    processes), and the emulator process apart."""

    def __init__(self, emulator_pid: int | None) -> None:
        self.emulator_pid = emulator_pid
        self.client_s = self.emulator_s = 0.0
        self._start: dict[str, float] = {}

    def _read(self, at_start: bool) -> dict[str, float]:
        # this process's own CPU is read on the inside of the scan of /proc (~20 ms)
        own = None if at_start else time.process_time()
        children = [p for p in _children_of(os.getpid()) if p != self.emulator_pid]
        kids = sum(filter(None, (_proc_cpu_s(p) for p in children)))
        emulator = _proc_cpu_s(self.emulator_pid) if self.emulator_pid else None
        return {
            "self": time.process_time() if own is None else own,
            "children": kids,
            "emulator": emulator or 0.0,
        }

    def __enter__(self) -> ProcessCpu:
        self._start = self._read(at_start=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        end = self._read(at_start=False)
        self.self_s = end["self"] - self._start["self"]
        # a child started during the step counts whole; one that ended is lost (none do)
        self.children_s = end["children"] - self._start["children"]
        self.client_s = self.self_s + self.children_s
        self.emulator_s = end["emulator"] - self._start["emulator"]


def _transport(ctx: Any, login: str) -> Any:
    from wess_core import plugins
    from wess_core.connection import resolve
    from wess_core.service import accounts
    from wess_core.service.users import get_profile

    connection = resolve(
        accounts.load_account(ctx), get_profile(ctx, login), ctx.secrets.decrypt, ctx.home
    )
    return plugins.transports().get("ews")(connection)


def _list_items(mailbox: Any, folder: str) -> list[Any]:
    from wess_emulator.demo import _list_items as listing

    return listing(mailbox, folder)


def _memory_run(home: str, n: int) -> dict[str, Any]:
    """In a fresh process: import an ``n``-item folder, then an idle-ish incremental sync."""
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of("mem")], PASSWORD)
        emu.call("seed_contacts", email_of("mem"), 0, n)
        ctx = make_home(Path(home), emu, ["mem"])
        import wess_plugins.transport_ews.transport  # noqa: F401  (imports outside the step)

        import_s, data, mem_import, counts = measured(emu, lambda: _sync(ctx, "mem"))
        assert data["folders"]["contacts"]["to_crm"]["created"] == n
        from wess_plugins.crm_local import local

        for record in local.list_records(ctx.home, "db-mem", "people")[:: max(1, n // 50)]:
            local.update_record(ctx.home, "db-mem", "people", record["id"], {"job_title": "X"})
        with peak_memory() as mem_inc:
            inc_s, _ = timed(lambda: _sync(ctx, "mem"))
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


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _in_child(fn: Callable[..., Any], *args: Any, timeout: float = 1800) -> Any:
    """Run ``fn(*args)`` in a fresh (spawned) process and return its result."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    proc = ctx.Process(target=_child_main, args=(child, fn, args))
    proc.start()
    child.close()
    try:
        if not conn.poll(timeout):
            raise RuntimeError(f"{fn.__name__} did not finish within {timeout} s")
        status, value = conn.recv()
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
    if status != "ok":
        raise RuntimeError(value)
    return value


# -- running -----------------------------------------------------------------------------


def run(
    cases: list[str] | None = None,
    *,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """Run the benchmark cases; returns the JSON document (one object per case)."""
    import wess_core

    log = log or (lambda line: None)
    sizes = QUICK if quick else FULL
    chosen = list(cases or CASES)
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        raise ValueError(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    started = time.perf_counter()
    results = []
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="wess-bench-"))
        bench = Bench(sizes, Path(workdir), log)
        for name in chosen:
            log(f"{name} ...")
            case_started = time.perf_counter()
            try:
                result = {"name": name, **getattr(bench, f"case_{name}")()}
            except Exception as exc:
                result = {"name": name, "error": f"{type(exc).__name__}: {exc}", "met": False}
            result["case_s"] = round(time.perf_counter() - case_started, 1)
            results.append(result)
            log(f"{name}: {summary(result)}")
    return {
        "wess": getattr(wess_core, "__version__", None),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        "cases": results,
    }


def summary(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    parts = [f"wall {result.get('wall_s')} s"]
    if result.get("ratio") is not None:
        parts.append(f"ratio {result['ratio']}")
    if "requests_total" in result:
        parts.append(f"{result['requests_total']} requests")
    parts.append(("met" if result["met"] else "MISSED") + f" ({result['target']})")
    return ", ".join(parts)


@click.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON document.")
@click.option("--quick", is_flag=True, help="Small sizes (1,000 items, 20 users): seconds.")
@click.option(
    "--case",
    "cases",
    multiple=True,
    type=click.Choice(CASES),
    help="Run only this case (repeatable).",
)
@click.option("--output", type=click.Path(dir_okay=False), help="Also write the JSON here.")
def bench_command(as_json: bool, quick: bool, cases: tuple[str, ...], output: str | None) -> None:
    """Benchmarks against the EWS emulator on 127.0.0.1: WESS vs bare exchangelib."""
    log = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    doc = run(list(cases) or None, quick=quick, log=log)
    text = json.dumps(doc, indent=2, sort_keys=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    if as_json:
        click.echo(text)
    failed = [c["name"] for c in doc["cases"] if "error" in c]
    if failed:
        click.echo(f"wess bench: case(s) failed to run: {', '.join(failed)}", err=True)
        sys.exit(1)
