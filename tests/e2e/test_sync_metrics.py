"""Metrics never fail a sync: ``wess sync`` with a PROMETHEUS_MULTIPROC_DIR that does not
exist (an operator's typo) syncs, exits 0, and says once in the log why nothing was
counted."""

from __future__ import annotations

import logging


def test_a_broken_metrics_directory_does_not_fail_the_sync(
    synced_home, crm, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    crm.add("people", first_name="Ada", email="ada@example.com")
    with caplog.at_level(logging.WARNING, logger="wess_core.service.metrics"):
        result = synced_home("sync", "alice", "--json")
    assert result.exit_code == 0, result.stderr
    created = sum(f["to_exchange"]["created"] for f in result.json["folders"].values())
    assert created == 1
    assert synced_home("history", "alice", "--json").json[0]["kind"] == "sync"
    warnings = [r for r in caplog.records if "metrics not recorded" in r.getMessage()]
    assert len(warnings) <= 1
