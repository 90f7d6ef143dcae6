"""``wess bench --case scale --quick``: the real ``wess run --once`` over idle users —
the JSON shape, every user synced; with pull subscriptions one GetEvents per idle user,
polling one SyncFolderItems per folder per user; with push every change made in
Exchange reaches the CRM and SIGTERM ends ``wess run --push``.

Wall times are reported, never asserted (they depend on the machine).
"""

from __future__ import annotations

import json

import pytest

from wess_core.service import Context, history
from wess_emulator import bench
from wess_emulator.bench.scale_home import newest_not_synced, scale_logins


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("bench-scale")


@pytest.fixture(scope="module")
def scale(workdir):
    doc = bench.run(["scale"], quick=True, workdir=workdir)
    json.dumps(doc)  # one JSON document
    (case,) = doc["cases"]
    assert case["name"] == "scale" and "error" not in case, case.get("error")
    return case


def test_every_size_is_one_row_per_mode_with_every_figure(scale):
    sizes = scale["sizes"]
    assert sizes["users"] == list(bench.QUICK.scale_users)
    assert sizes["latency_ms"] == bench.QUICK.scale_latency_s * 1000
    assert sizes["modes"] == ["pull", "poll", "push"]
    # no --scale-workers: wess run chooses throttle_cap workers itself
    assert sizes["workers_from"] == "throttle_cap"
    assert sizes["workers"] == sizes["throttle_cap"] >= 1
    assert [(r["mode"], r["users"]) for r in scale["rows"]] == [
        (mode, n) for n in bench.QUICK.scale_users for mode in ("pull", "poll", "push")
    ]
    for row in (r for r in scale["rows"] if r["mode"] != "push"):
        assert row["exit_code"] == 0
        assert row["wall_s"] > 0 and row["users_per_s"] > 0
        assert row["cpu_ms_per_user"] > 0 and row["peak_rss_mib"] > 0
        # at least the user's own CRM database and sync state
        assert row["files_per_user"] >= 1
    assert {"baseline", "ratio", "files_ratio", "target", "met"} <= set(scale)
    assert isinstance(scale["met"], bool)


def test_every_idle_user_polled_with_one_request_per_folder(scale):
    folders = scale["sizes"]["folders_per_user"]
    assert scale["all_synced"] is True
    for row in (r for r in scale["rows"] if r["mode"] == "poll"):
        users = row["users"]
        assert row["synced"] == users and row["failed"] == 0 and row["not_synced"] == 0
        assert row["requests"]["SyncFolderItems"] == users * folders
        assert "GetEvents" not in row["requests"]
        assert row["requests_per_user"] < folders + 1


def test_every_idle_subscribed_user_costs_one_get_events(scale):
    for row in (r for r in scale["rows"] if r["mode"] == "pull"):
        users = row["users"]
        assert row["synced"] == users and row["failed"] == 0 and row["not_synced"] == 0
        assert row["requests"]["GetEvents"] == users
        assert row["requests"].get("SyncFolderItems", 0) == 0
        assert row["requests"].get("Subscribe", 0) == 0
        assert row["user_requests_per_user"] == 1
    assert scale["pull_met"] is True


def test_pull_against_poll_at_every_size(scale):
    folders = scale["sizes"]["folders_per_user"]
    ratios = scale["pull_vs_poll"]
    assert [r["users"] for r in ratios] == list(bench.QUICK.scale_users)
    for r in ratios:
        # about 1 request per user against one per folder
        assert r["requests_per_user"] < 1.5 / folders
        assert r["users_per_s"] > 0


def test_push_brings_every_change_to_the_crm_and_stops_on_sigterm(scale):
    for row in (r for r in scale["rows"] if r["mode"] == "push"):
        assert row["changes"] == bench.QUICK.scale_push_changes
        assert row["arrived"] == row["changes"], row["missed_sample"]
        assert 0 < row["latency_p50_s"] <= row["latency_p95_s"] <= row["latency_max_s"]
        # watched idle users ask nothing between passes: the streams are already open
        assert row["idle_requests"] == {}
        assert row["exit_code"] == 0 and row["stop_s"] <= 10
    assert scale["push"]["users"] == bench.QUICK.scale_users[-1]
    assert scale["push_met"] is True


def test_a_user_whose_newest_entry_is_an_error_is_not_counted_as_synced(scale, workdir):
    (home,) = [
        p for p in workdir.iterdir() if p.name.endswith(f"scale-{scale['rows'][0]['users']}")
    ]
    logins = scale_logins(scale["rows"][0]["users"])
    assert newest_not_synced(home, logins, "2000-01-01") == {}
    history.record(Context(home=home), logins[1], "error", "sync failed: test")
    assert list(newest_not_synced(home, logins, "2000-01-01")) == [logins[1]]
    # a sync entry older than the measured run does not count either
    assert len(newest_not_synced(home, logins, "9999-01-01")) == len(logins)
