"""Sync runs: eligibility, the per-user lock, the scheduler, faults, counts, observers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.support import listing, sync_ok
from wess_core import hookimpl, plugins
from wess_core.service import Context
from wess_core.service.sync import user_lock
from wess_core.strategies import ItemUpdate, NewItem


def test_ineligible_user_is_refused_with_reasons_in_history(synced_home):
    wess = synced_home
    result = wess("sync", "bob")
    assert result.exit_code == 1
    assert "bob cannot sync: no licence allocated; sync disabled" in result.stderr
    entry = wess("history", "bob", "--json").json[0]
    assert entry["kind"] == "skipped"
    assert entry["reasons"] == ["no licence allocated", "sync disabled"]


def test_sync_now_refuses_while_another_run_holds_the_user(synced_home, home):
    with user_lock(Context(home=home), "alice"):
        result = synced_home("sync", "alice")
    assert result.exit_code == 1
    assert "a sync of alice is already running" in result.stderr
    sync_ok(synced_home)  # free again afterwards


def test_user_may_sync_now_only_themselves(synced_home):
    assert synced_home("sync", "alice", as_="alice").exit_code == 0
    denied = synced_home("sync", "alice", as_="bob")
    assert denied.exit_code == 1
    assert "permission denied" in denied.stderr


def test_scheduler_pass_keeps_going_when_one_user_fails(synced_home, ews_server, crm):
    wess = synced_home
    ews_server.add_user("bob@example.com", "Bob-Pass-1")
    assert wess("users", "allocate", "bob").exit_code == 0
    assert wess("users", "enable", "bob").exit_code == 0
    # bob's own URL points at a closed port: his sync fails, alice's must not
    closed_port = "https://127.0.0.1:9/EWS/Exchange.asmx"
    assert wess("users", "set", "bob", "--ews-url", closed_port, "--skip-check").exit_code == 0
    crm.add("people", first_name="Ann", email="ann@example.com")
    result = wess("run", "--once", "--workers", "2", "--json")
    assert result.exit_code == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["synced"] == ["alice"]
    assert "bob" in outcome["failed"]
    assert wess("history", "bob", "--json").json[0]["kind"] == "error"
    status = {row["login"]: row for row in wess("status", "--json").json}
    assert status["alice"]["last_run"] is not None
    assert status["bob"]["last_error"]


def test_run_stops_cleanly_on_sigterm(synced_home, home):
    env = {**os.environ, "WESS_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "wess_core.cli", "run", "--interval", "0.2", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()  # one pass done
        assert json.loads(first)["synced"] == ["alice"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in proc.stderr.read()


def test_invalid_sync_state_resyncs_without_duplicates(site, crm):
    synced_home, mailbox = site.wess, site.mailbox
    crm.add("people", first_name="Ann", email="ann@example.com")
    mailbox.create("contacts", [NewItem({"given_name": "Bob"}, crm_id="")])
    sync_ok(synced_home)
    site.lose_sync_state()
    sync_ok(synced_home)
    sync_ok(synced_home)
    assert sorted(c.fields["given_name"] for c in listing(mailbox, "contacts")) == ["Ann", "Bob"]
    assert sorted(p["fields"]["first_name"] for p in crm.list("people")) == ["Ann", "Bob"]


def test_initial_sync_uses_requests_in_proportion_to_batches(site, home):
    from wess_plugins.crm_local import local

    people = [{"first_name": f"P{i}", "email": f"p{i}@example.com"} for i in range(250)]
    local.import_records(home, "main", "people", people)
    site.server.reset_counts()
    sync_ok(site.wess)
    counts = site.requests()
    if site.transport == "ews":
        assert counts["CreateItem"] == 3  # 250 items, batches of 100
        assert counts["SyncFolderItems"] == 5  # one page per folder
        assert counts["Subscribe"] == 1  # the pull subscription, made before any read
        assert counts.get("GetItem", 0) == 0
    else:
        assert counts["graph:contacts.create"] == 250
        assert counts["graph:batch"] == 13  # $batch holds 20 requests
        assert not {k for k in counts if k.endswith(".get")}
        assert {k: counts[k] for k in site.idle} == site.idle  # one delta page per folder
    # the next run reads back our own 250 creates: recognised as echoes, no extra request
    site.server.reset_counts()
    echo = sync_ok(site.wess)
    if site.transport == "ews":  # change lists only: no read, no write
        assert site.requests() == site.after_writes("contacts", events=250)
    else:  # the 250 echoes fill a second delta page (200 a page)
        assert site.requests() == {**site.idle, "graph:contacts.delta": 2}
    assert echo["folders"]["contacts"]["to_crm"] == {"created": 0, "updated": 0, "deleted": 0}


def test_dry_run_writes_nothing(site, crm, home):
    crm.add("people", first_name="Ann", email="ann@example.com")
    before = {p: p.read_bytes() for p in home.rglob("*.json") if "history" not in p.parts}
    site.server.reset_counts()
    result = site.wess("sync", "alice", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["dry_run"] is True
    assert result.json["folders"]["contacts"]["to_exchange"]["created"] == 1
    assert site.requests() and site.writes() == {}
    after = {p: p.read_bytes() for p in home.rglob("*.json") if "history" not in p.parts}
    assert after == before


def test_conflict_follows_policy_and_is_recorded_with_both_versions(site, crm):
    wess, mailbox = site.wess, site.mailbox
    record_id = crm.add("people", first_name="Ann", job_title="CTO")
    sync_ok(wess)
    (item,) = listing(mailbox, "contacts")
    crm.update("people", record_id, job_title="CEO")
    mailbox.update("contacts", [ItemUpdate(item.item_id, {"job_title": "CFO"}, item.changekey)])
    data = sync_ok(wess)
    conflicts = data["folders"]["contacts"]["conflicts"]
    assert len(conflicts) == 1
    assert conflicts[0]["winner"] == "crm"
    assert conflicts[0]["crm_version"]["job_title"] == "CEO"
    assert conflicts[0]["exchange_version"]["job_title"] == "CFO"
    (item,) = listing(mailbox, "contacts")
    assert item.fields["job_title"] == "CEO"
    assert "1 conflict(s)" in wess("history", "alice", "--json").json[0]["message"]
    # exchange-wins the next time
    assert wess("config", "set", "conflict_policy", "exchange-wins").exit_code == 0
    (item,) = listing(mailbox, "contacts")
    crm.update("people", record_id, job_title="COO")
    mailbox.update("contacts", [ItemUpdate(item.item_id, {"job_title": "CMO"}, item.changekey)])
    sync_ok(wess)
    assert crm.list("people")[0]["fields"]["job_title"] == "CMO"


class Observer:
    def __init__(self):
        self.events = []

    @hookimpl
    def wess_sync_started(self, user, item_types):
        self.events.append(("started", user.login, sorted(item_types)))

    @hookimpl
    def wess_sync_finished(self, user, result):
        self.events.append(("finished", user.login, result.total_changes))


def test_observers_see_start_and_finish(synced_home, crm):
    crm.add("people", first_name="Ann")
    observer = Observer()
    with plugins.registered(observer):
        sync_ok(synced_home)
    assert observer.events[0][:2] == ("started", "alice")
    assert "contacts" in observer.events[0][2]
    assert observer.events[1] == ("finished", "alice", 1)


def test_changed_ews_url_takes_effect_on_the_next_sync(synced_home, ews_server, ews_ca):
    from wess_emulator.emulator import EmulatorServer

    other = EmulatorServer(validate=True, ca=ews_ca)
    other.add_user("alice@example.com", "Secret-1")
    other.start()
    try:
        sync_ok(synced_home)
        ews_server.reset_counts()
        moved = synced_home("connection", "set", "--ews-url", other.ews_url, "--skip-check")
        assert moved.exit_code == 0
        result = synced_home("sync", "alice", "--json")
        assert other.counts["SyncFolderItems"] >= 5
        assert ews_server.counts.get("SyncFolderItems", 0) == 0
        assert result.exit_code == 0, result.stderr
    finally:
        other.stop()
    time.sleep(0)


def test_ledger_records_both_ids_of_a_create(site, crm):
    """A create's ledger entry names the CRM id and the new Exchange item's id (and back)."""
    synced_home, mailbox = site.wess, site.mailbox
    record_id = crm.add("people", first_name="Ann")
    mailbox.create("contacts", [NewItem({"given_name": "Bob"}, crm_id="")])
    sync_ok(synced_home)
    entries = synced_home("ledger", "alice", "--json").json
    creates = {e["direction"]: e for e in entries if e["op"] == "create"}
    (ann,) = [i for i in listing(mailbox, "contacts") if i.crm_id == record_id]
    assert creates["to-exchange"]["crm_id"] == record_id
    assert creates["to-exchange"]["item_id"] == ann.item_id
    bob = next(r for r in crm.list("people") if r["fields"].get("first_name") == "Bob")
    assert creates["to-crm"]["crm_id"] == bob["id"]
    assert creates["to-crm"]["item_id"] == bob["exchange_id"]


def test_progress_hook_sees_every_folder_in_order(synced_home, home, crm):
    from wess_core.service import sync

    crm.add("people", first_name="Ann")
    seen = []
    data = sync.sync_user(Context(home=home), "alice", progress=seen.append)
    # each mailbox folder reported once, as its sync begins
    assert seen == [folder["folder"] for folder in data["folders"].values()]
    assert len(seen) == 5


def test_sync_now_on_a_terminal_shows_a_progress_bar(synced_home, home, crm):
    import pty

    crm.add("people", first_name="Ann")
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wess_core.cli", "sync", "alice"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "WESS_HOME": str(home), "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert proc.wait(timeout=30) == 0
    text = output.decode(errors="replace")
    assert "Syncing alice" in text  # the bar, drawn on the terminal
    assert "Synced alice in" in text  # then the summary


def _sync_entries(wess):
    return [e for e in wess("history", "alice", "--json").json if e["kind"] in ("sync", "error")]


def test_idle_runs_fold_into_one_entry_and_changes_or_errors_never_do(synced_home, crm, ews_server):
    wess = synced_home
    crm.add("people", first_name="Ann", email="ann@example.com")
    sync_ok(wess)  # the first run lists everything and creates Ann: its own entry
    for _ in range(5):
        sync_ok(wess)
    first, changed = _sync_entries(wess)[:2]
    assert first["idle_runs"] == 5
    assert first["first"] < first["last"] == first["time"]
    assert first["message"].startswith("5 runs, nothing to sync, ")
    assert first["result"]["total_changes"] == 0  # every existing key is kept
    assert "idle_runs" not in changed and changed["result"]["total_changes"] == 1
    text = wess("history", "alice")
    assert text.exit_code == 0 and "5 runs, nothing to sync" in text.stdout

    crm.add("people", first_name="Bea", email="bea@example.com")
    sync_ok(wess)  # a change: a new entry, the idle count above it stays 5
    sync_ok(wess)
    sync_ok(wess)  # idle again: a new idle entry, not the old one counting on
    idle_again, change, idle = _sync_entries(wess)[:3]
    assert idle_again["idle_runs"] == 2
    assert "idle_runs" not in change and change["result"]["total_changes"] == 1
    assert idle["idle_runs"] == 5

    ews_server.inject(  # the idle runs' one request: the subscription's poll
        "soap_fault", operation="GetEvents", times=None, code="ErrorInternalServerError"
    )
    try:
        for _ in range(3):
            assert wess("sync", "alice").exit_code == 1
    finally:
        ews_server.faults.clear()
    errors = _sync_entries(wess)[:3]
    assert [e["kind"] for e in errors] == ["error"] * 3
    assert not any("idle_runs" in e for e in errors)
    sync_ok(wess)  # after the errors, an idle run starts its own entry again
    assert _sync_entries(wess)[0]["idle_runs"] == 1
