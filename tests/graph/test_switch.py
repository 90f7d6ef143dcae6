"""A user switched from EWS to Graph keeps every link: the stored EWS ids are converted
(translateExchangeIds) or, where Microsoft refuses that call to an app, the items are
found again by the CRM id WESS stored on them or by match keys. Nothing is created,
updated or deleted on either side, and the next run is idle."""

from __future__ import annotations

import pytest

from tests.support.graph_sync import IDLE, graph_requests, graph_sync

ALICE = "alice@example.com"


def _on_ews_first(graph_site, emu, crm, keyless: bool) -> None:
    """Alice synced over EWS (same OAuth app): two people from the CRM, one contact and
    one task from the mailbox, a CRM task to the mailbox; with ``keyless`` also a contact
    without name or e-mail, which only a converted id can link again."""
    ews = ("--transport", "ews", "--discovery", "manual", "--ews-url", emu.ews_url)
    r = graph_site("connection", "set", *ews)
    assert r.exit_code == 0, r.stderr
    crm.add("people", first_name="Ann", last_name="Lee", email="ann@example.com")
    crm.add("people", first_name="Cy", last_name="Ode", email="cy@example.com")
    crm.add("tasks", subject="Send quote", due_date="2026-05-01")
    box = emu.mailbox(ALICE)
    box.add_items(
        "contacts",
        [{"kind": "Contact", "GivenName": "Bo", "email_addresses": {"EmailAddress1": "b@x.com"}}],
    )
    box.add_items("tasks", [{"kind": "Task", "Subject": "Call Bo", "Status": "InProgress"}])
    if keyless:
        box.add_items("contacts", [{"kind": "Contact", "CompanyName": "Acme Ltd"}])
    r = graph_site("sync", "alice", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json["total_changes"] == 5 + keyless


def _sizes(emu, crm) -> dict[str, int]:
    box = emu.mailbox(ALICE)
    return {
        "contacts": len(box.folder("contacts").items),
        "tasks": len(box.folder("tasks").items),
        "people": len(crm.list("people")),
        "crm tasks": len(crm.list("tasks")),
    }


@pytest.mark.parametrize("translate", [True, False], ids=["translated", "refused"])
def test_a_switch_to_graph_keeps_every_link(graph_site, emu, crm, translate):
    _on_ews_first(graph_site, emu, crm, keyless=translate)
    before = _sizes(emu, crm)
    emu.graph.translate_for_apps = translate
    assert graph_site("connection", "set", "--transport", "graph").exit_code == 0
    emu.reset_counts()
    data = graph_sync(graph_site)
    for name in ("contacts", "tasks"):
        folder = data["folders"][name]
        assert folder["to_crm"] == {"created": 0, "deleted": 0, "updated": 0}, name
        assert folder["to_exchange"] == {"created": 0, "deleted": 0, "updated": 0}, name
        assert folder["held"] == [], name
    assert _sizes(emu, crm) == before
    assert emu.counts["graph:translateExchangeIds"] > 0  # asked either way

    emu.reset_counts()
    again = graph_sync(graph_site)
    assert again["total_changes"] == 0
    assert graph_requests(emu.counts) == IDLE
