"""The bulk cases: a 10,000-contact import and export, each against bare exchangelib."""

from __future__ import annotations

from typing import Any

from .measure import ratio, total, traffic
from .processes import EmulatorProcess
from .sizes import PASSWORD
from .wess_side import (
    bare_account,
    contact_fields,
    email_of,
    folder_count,
    make_home,
    measured,
    person,
    sync_user,
)
from .workspace import Workspace


def case_import(space: Workspace) -> dict[str, Any]:
    n = space.sizes.items
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

        ctx = make_home(space.home("import"), emu, ["wess"])
        wall, data, mem, counts = measured(emu, lambda: sync_user(ctx, "wess"), cold=True)
    imported = data["folders"]["contacts"]["to_crm"]["created"]
    assert imported == n, f"imported {imported} of {n}"
    folders = folder_count()
    against_base = ratio(wall, base_s)
    requests_ok = total(counts) <= total(base_counts) + folders
    return {
        "sizes": {"contacts": n, "folders": folders},
        "wall_s": round(wall, 3),
        "items_per_s": round(n / wall),
        **traffic(counts, mem),
        "baseline": {
            "what": "exchangelib folder.sync_items(only_fields=<the transport's fields>, "
            "max_changes_returned=512), items counted, nothing stored",
            "wall_s": round(base_s, 3),
            **traffic(base_counts, base_mem),
        },
        "ratio": against_base,
        "target": f"wall <= 1.3 x baseline; requests <= baseline + {folders} folders",
        "met": bool(against_base is not None and against_base <= 1.3 and requests_ok),
    }


def case_export(space: Workspace) -> dict[str, Any]:
    from wess_plugins.crm_local import local

    n = space.sizes.items
    with EmulatorProcess() as emu:
        emu.call("add_users", [email_of("base"), email_of("wess")], PASSWORD)
        ctx = make_home(space.home("export"), emu, ["wess"])
        people = [person(i) for i in range(n)]
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

        wall, data, mem, counts = measured(emu, lambda: sync_user(ctx, "wess"), cold=True)
        in_mailbox = emu.call("folder_size", email_of("wess"), "contacts")
    exported = data["folders"]["contacts"]["to_exchange"]["created"]
    assert exported == n == in_mailbox, f"exported {exported}, mailbox {in_mailbox}, of {n}"
    against_base = ratio(wall, base_s)
    return {
        "sizes": {"people": n, "batch": 100},
        "wall_s": round(wall, 3),
        "items_per_s": round(n / wall),
        **traffic(counts, mem),
        "baseline": {
            "what": "exchangelib account.bulk_create(contacts, chunk_size=100) of the same "
            "fields, CRM id extended property included",
            "wall_s": round(base_s, 3),
            **traffic(base_counts, base_mem),
        },
        "ratio": against_base,
        "target": "wall <= 1.3 x baseline",
        "met": bool(against_base is not None and against_base <= 1.3),
    }
