"""Helpers of the Graph transport's real-sync tests (``tests/graph``)."""

from __future__ import annotations

from wess_core import http
from wess_core.strategies import AccessToken
from wess_emulator.graph_client import app_token
from wess_plugins.transport_graph.client import GraphClient
from wess_plugins.transport_graph.connect import GRAPH_SCOPE
from wess_plugins.transport_graph.transport import NO_CALENDAR, GraphTransport

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


class EmulatorTokens:
    """A ``TokenProvider`` for the emulator's OAuth app (no cache: each call is one token
    request), to build a ``GraphTransport`` without a WESS home."""

    def __init__(self, server, client_id: str, secret: str, tenant: str) -> None:
        self.server, self.client_id, self.secret = server, client_id, secret
        self.tenant = tenant

    def token(self, scope: str, *, fresh: bool = False) -> AccessToken:
        return AccessToken(app_token(self.server, self.client_id, self.secret, self.tenant))


def graph_transport(server, mailbox: str, secret: str, page_size: int = 200) -> GraphTransport:
    """A Graph transport on ``mailbox`` of the emulator ``server`` as the OAuth app
    ``wess-app`` of tenant ``contoso`` (``populate``), trusting the emulator's CA."""
    http.trust(server.graph_url, server.ca_cert)
    provider = EmulatorTokens(server, "wess-app", secret, "contoso")
    client = GraphClient(server.graph_url, mailbox, provider, GRAPH_SCOPE)
    return GraphTransport(connection=None, client=client, page_size=page_size)
