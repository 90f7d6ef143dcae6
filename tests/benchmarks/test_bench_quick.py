"""``wess bench --quick``: the JSON shape, and the request counts that are exact targets.

Wall times are reported, never asserted (they depend on the machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wess_core.cli import cli
from wess_emulator import bench

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def doc(tmp_path_factory):
    result = bench.run(quick=True, workdir=tmp_path_factory.mktemp("bench"))
    json.dumps(result)  # one JSON document
    return result


def case(doc, name):
    (found,) = [c for c in doc["cases"] if c["name"] == name]
    assert "error" not in found, found.get("error")
    return found


def test_every_case_ran_with_the_common_fields(doc):
    assert doc["quick"] is True
    assert [c["name"] for c in doc["cases"]] == list(bench.DEFAULT_CASES)
    for c in doc["cases"]:
        assert "error" not in c, f"{c['name']}: {c.get('error')}"
        assert {"sizes", "wall_s", "requests", "baseline", "ratio", "target", "met"} <= set(c)
        assert isinstance(c["met"], bool) and isinstance(c["target"], str)
        assert all(isinstance(v, int) for v in c["requests"].values())


def test_baselines_are_measured_in_the_same_run(doc):
    for name in ("import", "export", "graph_import", "graph_export"):
        c = case(doc, name)
        assert c["baseline"]["wall_s"] > 0 and c["ratio"] == pytest.approx(
            c["wall_s"] / c["baseline"]["wall_s"], rel=0.01
        )
        assert c["memory"]["peak_mib"] >= c["memory"]["start_mib"] > 0
    items = bench.QUICK.items
    assert case(doc, "import")["requests_total"] <= (
        case(doc, "import")["baseline"]["requests_total"] + case(doc, "import")["sizes"]["folders"]
    )
    assert case(doc, "export")["requests"]["CreateItem"] == -(-items // 100)


def test_idle_sync_is_one_get_events_per_user_and_nothing_else(doc):
    c = case(doc, "idle")
    users, folders = c["sizes"]["users"], c["sizes"]["folders_per_user"]
    assert c["requests"] == {"GetEvents": users}
    assert c["polling"]["requests"] == {"SyncFolderItems": users * folders}
    assert c["synced"] == c["polling"]["synced"] == users and c["met"] is True
    assert c["ms_per_user"] > 0 and c["polling"]["ms_per_user"] > 0


def test_incremental_requests_are_proportional_to_the_changes(doc):
    c = case(doc, "incremental")
    sizes = c["sizes"]
    assert sizes["changed"] == sizes["changed_in_exchange"] + sizes["changed_in_crm"]
    assert (
        c["requests"]
        == c["expected_requests"]
        == {
            "GetEvents": 1,  # the pull subscription: only the contacts folder had events
            "SyncFolderItems": 1,
            "UpdateItem": -(-sizes["changed_in_crm"] // 100),
        }
    )
    assert c["moved"] == {
        "to_crm": sizes["changed_in_exchange"],
        "to_exchange": sizes["changed_in_crm"],
    }
    assert c["met"] is True


def test_graph_import_reads_every_contact_in_delta_pages(doc):
    c = case(doc, "graph_import")
    contacts, folders = c["sizes"]["contacts"], c["sizes"]["folders"]
    pages = -(-contacts // c["sizes"]["page_size"])
    assert c["requests"]["graph:contacts.delta"] == pages
    assert c["baseline"]["requests"] == {"graph:contacts.delta": pages}
    assert c["requests_total"] <= c["baseline"]["requests_total"] + 2 * folders
    assert c["batch_subrequests"] == {}  # reading needs no $batch
    assert c["authority_requests"]["<token>"] == 1  # a cold start: one token
    assert c["baseline"]["wall_s"] > 0 and c["ratio"] == pytest.approx(
        c["wall_s"] / c["baseline"]["wall_s"], rel=0.01
    )
    assert c["vs_ews"] == pytest.approx(c["wall_s"] / c["ews"]["wall_s"], rel=0.01)
    assert c["ews"]["requests"]["SyncFolderItems"] >= -(-contacts // 512)


def test_graph_export_creates_every_item_in_batches_of_twenty(doc):
    c = case(doc, "graph_export")
    people = c["sizes"]["people"]
    batches = -(-people // 20)
    assert c["batch_subrequests"] == {"graph:contacts.create": people}
    assert c["requests"]["graph:batch"] == batches
    assert c["requests_total"] < people  # far fewer requests than items
    assert c["baseline"]["requests"] == {"graph:batch": batches}
    assert c["baseline"]["batch_subrequests"] == {"graph:contacts.create": people}
    assert c["ratio"] == pytest.approx(c["wall_s"] / c["baseline"]["wall_s"], rel=0.01)
    assert c["ews"]["requests"]["CreateItem"] == -(-people // 100)


def test_graph_idle_is_one_delta_request_per_synced_folder(doc):
    c = case(doc, "graph_idle")
    users, folders = c["sizes"]["users"], c["sizes"]["folders_per_user"]
    assert folders == len(c["sizes"]["folders"]) == 5
    assert (
        c["requests"]
        == c["expected_requests"]
        == {
            "graph:contacts.delta": users,
            "graph:events.delta": users,
            "graph:messages.delta": 2 * users,  # the inbox and sent items
            "graph:tasks.delta": users,
        }
    )
    assert c["requests_total"] == users * folders and c["requests_per_user"] == folders
    assert c["batch_subrequests"] == {}
    # nothing asked of the authority: the token is cached and so is MSAL's app (its
    # metadata), and the users share the Graph service's connections
    assert c["authority_requests"] == {} and c["authority_requests_per_user"] == 0
    assert c["tls_handshakes"] == 0
    assert c["synced"] == users and c["met"] is True
    assert c["ews"]["requests"] == {"GetEvents": users}  # EWS idle: one poll per user
    assert c["ms_per_user"] > 0 and c["vs_ews"] > 0


def test_graph_incremental_requests_are_proportional_to_the_changes(doc):
    c = case(doc, "graph_incremental")
    sizes = c["sizes"]
    on_crm = sizes["changed_in_crm"]
    assert c["requests"] == c["expected_requests"]
    assert c["requests"]["graph:batch"] == -(-on_crm // 20)
    assert c["requests"]["graph:contacts.delta"] == 1 + max(
        0, -(-sizes["changed_in_exchange"] // 200) - 1
    )
    assert c["requests_total"] == sizes["folders"] + c["requests"]["graph:batch"]
    assert c["batch_subrequests"] == {"graph:contacts.update": on_crm}
    assert c["moved"] == {"to_crm": sizes["changed_in_exchange"], "to_exchange": on_crm}
    assert c["met"] is True


def test_scheduler_store_and_memory_report_their_figures(doc):
    sched = case(doc, "scheduler")
    assert sched["synced"] == sched["sizes"]["users"] and sched["failed"] == 0
    by_pass = sched["users_per_s_by_pass"]
    assert len(by_pass) == sched["sizes"]["passes"] and sorted(by_pass)[1] == sched["users_per_s"]
    assert sched["requests"] == {"GetEvents": 3 * sched["sizes"]["users"]}
    assert sched["baseline"]["ideal_users_per_s"] > 0 and sched["users_per_s"] > 0
    # per-process CPU (not the whole machine's): the client tree did the syncing
    assert sched["client_tree_cpu_ms_per_user"] >= sched["client_cpu_ms_per_user"] > 0
    assert sched["emulator_cpu_ms_per_user"] >= 0
    store = case(doc, "store")
    assert len(store["state_write_ms"]) == 2
    memory = case(doc, "memory")
    assert set(memory["runs"]) == {str(n) for n in bench.QUICK.memory_sizes}
    for run in memory["runs"].values():
        assert run["import"]["peak_mib"] > 0 and run["emulator_process_rss_mib"] > 0
    small, large = (memory["runs"][str(n)] for n in bench.QUICK.memory_sizes)
    extra = bench.QUICK.memory_sizes[1] - bench.QUICK.memory_sizes[0]
    for step in ("import", "incremental"):  # what each extra item cost, from the runs
        grown = large[step]["growth_mib"] - small[step]["growth_mib"]
        assert memory["bytes_per_item"][step] == round(max(0.0, grown) * bench.MIB / extra)


def test_the_command_is_wired():
    result = CliRunner().invoke(cli, ["bench", "--help"])
    assert result.exit_code == 0 and "--quick" in result.output
    bad = CliRunner().invoke(cli, ["bench", "--case", "nope"])
    assert bad.exit_code == 2
    for module, option in (("benchmarks", "--case"), ("benchmarks.http_patches", "--patch")):
        proc = subprocess.run(
            [sys.executable, "-m", module, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0 and option in proc.stdout, (module, proc.stderr)


def test_the_web_case_answers_every_concurrent_read_over_http(doc):
    c = case(doc, "web")
    sizes = c["sizes"]
    assert sum(c["requests"].values()) == sizes["reads"] == bench.QUICK.web_reads
    assert c["requests"]["GET /api/status"] == sizes["status_reads"] > 0
    assert sizes["clients"] == bench.QUICK.web_clients and sizes["users"] == bench.QUICK.web_users
    assert c["server_exit"] == 0  # wess serve stopped cleanly on SIGTERM
    assert 0 < c["p50_ms"] <= c["p95_ms"] and c["requests_per_s"] > 0
    assert c["ratio"] == pytest.approx(c["wall_s"] / c["baseline"]["wall_s"], rel=0.01)
