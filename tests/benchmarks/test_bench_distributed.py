"""``wess bench --case distributed --quick``: the same idle pass by the embedded default
and by 1, 2 and 4 ``wess worker`` processes on a real redis-server — the JSON shape, the
ratios, and every mode syncing every user; a machine without redis-server gets one line
saying how to install it.

Wall times and ratios are reported, never asserted (they depend on the machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from wess_emulator import bench


@pytest.fixture(scope="module")
def distributed(tmp_path_factory):
    doc = bench.run(["distributed"], quick=True, workdir=tmp_path_factory.mktemp("bench-dist"))
    json.dumps(doc)  # one JSON document
    (case,) = doc["cases"]
    assert case["name"] == "distributed" and "error" not in case, case.get("error")
    return case


def test_one_row_per_mode_with_every_figure(distributed):
    sizes = distributed["sizes"]
    assert sizes["users"] == bench.QUICK.distributed_users
    assert sizes["latency_ms"] == bench.QUICK.distributed_latency_s * 1000
    assert sizes["workers"] == [1, 2, 4]
    assert sizes["concurrency_per_worker"] == 8
    modes = ["embedded", "celery-1w", "celery-2w", "celery-4w"]
    assert distributed["modes"] == modes
    assert [r["mode"] for r in distributed["rows"]] == modes
    assert list(distributed["users_per_s"]) == modes
    for row in distributed["rows"]:
        assert row["exit_code"] == 0
        assert row["wall_s"] > 0 and row["users_per_s"] > 0 and row["cpu_ms_per_user"] > 0
        assert row["load_1m"] >= 0  # the machine's load as the pass ended
    for row in distributed["rows"][1:]:
        # each worker its own process, stopped cleanly by SIGTERM
        assert len(row["worker_peak_rss_mib"]) == row["workers"]
        assert all(mib > 0 for mib in row["worker_peak_rss_mib"])
        assert row["worker_exit_codes"] == [0] * row["workers"]
        assert row["concurrency"] == 8 and row["workers_cpu_s"] > 0


def test_every_mode_synced_every_user_in_its_own_pass(distributed):
    users = distributed["sizes"]["users"]
    for row in distributed["rows"]:
        assert row["synced"] == users and row["failed"] == 0, row["mode"]
        # every user's newest history entry is a sync of this mode's pass
        assert row["not_synced"] == 0, row["not_synced_sample"]
        # the same idle pull pass whichever process sends it: one GetEvents a user
        assert row["requests"]["GetEvents"] == users, row["mode"]
        assert row["user_requests_per_user"] == 1
    assert distributed["all_synced"] is True and distributed["met"] is True


def test_scaling_against_one_worker_and_against_the_embedded_default(distributed):
    per_s = distributed["users_per_s"]
    assert set(distributed["scaling"]) == {"2w/1w", "4w/1w"}
    assert distributed["scaling"]["4w/1w"] == round(per_s["celery-4w"] / per_s["celery-1w"], 3)
    assert distributed["ratio"] == distributed["scaling"]["4w/1w"]
    vs = distributed["vs_embedded"]
    assert set(vs) == {"1w/embedded", "2w/embedded", "4w/embedded"}
    assert vs["2w/embedded"] == round(per_s["celery-2w"] / per_s["embedded"], 3)


def test_without_redis_server_one_line_says_how_to_install_it(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no redis-server on it
    argv = [sys.executable, "-m", "wess_core.cli", "--home", str(tmp_path / "home")]
    done = subprocess.run(
        [*argv, "bench", "--case", "distributed", "--quick"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "redis-server is not installed" in line and "apt-get install redis-server" in line


@pytest.mark.parametrize("value", ["0,2", "1,x", "1,,4", "65"])
def test_a_worker_list_that_is_not_counts_from_1_to_64_is_refused(value):
    from click.testing import CliRunner

    from wess_emulator.bench.command import bench_command

    result = CliRunner().invoke(
        bench_command, ["--case", "distributed", "--distributed-workers", value]
    )
    assert result.exit_code == 2
    assert "--distributed-workers" in result.output and value in result.output
