"""One user, alice, syncing one emulator over either transport: the ``ews`` home of
``synced_home`` (her password, EWS) or a ``graph`` home (the OAuth app, Microsoft
Graph) on the same emulator and mailbox, so a test parametrised over both asserts the
same behaviour a user notices.

``Site.mailbox`` is the person in Outlook: a transport of the same kind on alice's
mailbox (exchangelib for EWS, a ``GraphTransport`` for Graph).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support import CLIENT_SECRET, oauth_args
from tests.support.graph_sync import IDLE, graph_requests, graph_transport

ALICE = "alice@example.com"
TRANSPORTS = ("ews", "graph")

#: The EWS requests of an idle run: one poll of the user's pull subscription.
EWS_IDLE = {"GetEvents": 1}
#: The requests that write to a mailbox, by transport (the emulator's counters).
EWS_WRITES = ("CreateItem", "UpdateItem", "DeleteItem")


@dataclass
class Site:
    transport: str
    wess: Callable[..., Any]
    server: Any
    mailbox: Any

    def requests(self) -> dict[str, int]:
        """The mailbox requests counted since the last ``server.reset_counts()``."""
        counts: Counter = self.server.counts
        if self.transport == "graph":
            return graph_requests(counts)
        return {k: v for k, v in counts.items() if v and not k.startswith(("graph:", "<"))}

    @property
    def idle(self) -> dict[str, int]:
        """The requests of a run that finds nothing changed."""
        return dict(IDLE) if self.transport == "graph" else dict(EWS_IDLE)

    def after_writes(self, *folders: str, events: int = 1) -> dict[str, int]:
        """The requests of a run that finds only its previous run's ``events`` writes to
        ``folders``: over EWS the subscription names those folders (GetEvents answers
        50 events at most), each read once (the echoes are recognised, nothing more is
        asked); over Graph every folder's delta, as idle."""
        if self.transport == "graph":
            return self.idle
        return {"GetEvents": -(-events // 50), "SyncFolderItems": len(folders)}

    def writes(self) -> dict[str, int]:
        """The write requests counted since the last reset (sub-requests of a batch)."""
        if self.transport == "graph":
            verbs = (".create", ".update", ".delete")
            return {k: v for k, v in self.requests().items() if k.endswith(verbs)}
        return {k: v for k, v in self.requests().items() if k in EWS_WRITES}

    def created(self) -> int:
        """How many items were created in the mailbox since the last reset."""
        writes = self.writes()
        return sum(v for k, v in writes.items() if k == "CreateItem" or k.endswith(".create"))

    def lose_sync_state(self) -> None:
        """The server forgets the sync state of the next read (EWS
        ErrorInvalidSyncStateData; Graph 410 syncStateNotFound on every token)."""
        if self.transport == "graph":
            self.server.graph.expire_delta_tokens()
        else:
            self.server.inject("invalid_sync_state", operation="SyncFolderItems", times=1)


def graph_home(admin_home: Callable[..., Any], server: Any) -> Callable[..., Any]:
    """``admin_home`` with its account on ``server``'s Graph endpoint as the OAuth app
    ``wess-app`` of tenant ``contoso`` (registered here); alice syncs."""
    wess = admin_home
    server.add_app("wess-app", CLIENT_SECRET, tenant="contoso")
    graph = ("--transport", "graph", "--option", f"graph_url={server.graph_url}")
    trust = ("--ca-bundle", server.ca_cert)
    r = wess(*oauth_args(server.authority("contoso")), *graph, *trust, input=CLIENT_SECRET + "\n")
    assert r.exit_code == 0, r.stderr
    assert wess("users", "enable", "alice").exit_code == 0
    return wess


def graph_mailbox(server: Any) -> Any:
    """Alice's mailbox as a person edits it, over Graph."""
    return graph_transport(server, ALICE, CLIENT_SECRET)
