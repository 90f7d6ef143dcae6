"""Helpers of the Graph transport's real-sync tests (``tests/graph``)."""

from __future__ import annotations

from wess_plugins.transport_graph.transport import NO_CALENDAR

#: The Graph requests of an idle run (the emulator's counters): one delta per folder.
IDLE = {
    "graph:contacts.delta": 1,
    "graph:tasks.delta": 1,
    "graph:messages.delta": 2,
    "graph:events.delta": 1,
}


def graph_sync(wess, login: str = "alice") -> dict:
    """``wess sync LOGIN --json``: every folder synced cleanly (the calendar too, unless
    this installation has no Graph calendar: then it is skipped with that reason)."""
    result = wess("sync", login, "--json")
    data = result.json
    for name, folder in data["folders"].items():
        if name == "calendar" and NO_CALENDAR in (folder["failed"] or ""):
            continue
        assert not folder["failed"], (name, folder["failed"], result.stderr)
        assert not folder["errors"], (name, folder["errors"])
    assert data["items_in_error"] == 0, data
    return data


def graph_requests(counts) -> dict[str, int]:
    """The emulator's Graph request counts (the token endpoint's apart)."""
    return {k: v for k, v in counts.items() if k.startswith("graph:") and v}
