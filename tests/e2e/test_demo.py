"""The README's main command: ``wess demo`` runs a real two-way sync and checks it."""

from __future__ import annotations

import subprocess
import sys


def test_demo_syncs_both_ways_and_ends_identical(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "wess_core.cli", "demo", "--size", "40"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "alice (direct), bob (impersonation)" in out
    assert "Second sync (the edits travel):" in out
    assert "Both sides identical for alice and bob" in out
    # the second sync carried edits both ways for each user
    second = out.split("Second sync")[1]
    contacts = [line for line in second.splitlines() if line.strip().startswith("contacts")]
    assert len(contacts) == 2
    for line in contacts:
        assert "to CRM +2" in line and "to Exchange +3" in line, line
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working folder


def test_the_demo_over_graph_syncs_both_ways_and_ends_identical(tmp_path):
    argv = [sys.executable, "-m", "wess_core.cli", "demo", "--size", "40", "--transport", "graph"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "alice and bob over Graph (OAuth app)" in out
    assert "Both sides identical for alice and bob" in out
    assert "Graph operations" in out
    second = out.split("Second sync")[1]
    contacts = [line for line in second.splitlines() if line.strip().startswith("contacts")]
    assert len(contacts) == 2
    for line in contacts:
        assert "to CRM +2" in line and "to Exchange +3" in line, line
    assert list(tmp_path.iterdir()) == []
