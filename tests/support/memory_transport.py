"""A third-party transport plugin over one in-memory mailbox (no EWS server), and a
home with alice ready to sync: for tests of the transport seam."""

from __future__ import annotations

from wess_core import hookimpl
from wess_core.sync.memory import MemoryMailbox


class MemoryTransportPlugin:
    """Registers the transport ``memory``: every user's mailbox is ``self.mailbox``;
    ``connections`` lists the connection of each transport built."""

    def __init__(self) -> None:
        self.mailbox = MemoryMailbox()
        self.connections: list = []

    @hookimpl
    def wess_register_transports(self, register):
        def factory(connection):
            self.connections.append(connection)
            return self.mailbox

        register("memory", factory)


def ready_alice(wess, *more: tuple[str, ...]) -> None:
    """Init a home, activate the module and enable alice; then run ``more`` commands."""
    for argv in (
        ("init",),
        ("module", "activate"),
        ("licences", "add", "1"),
        ("users", "add", "alice", "--email", "alice@example.com"),
        ("users", "allocate", "alice"),
        ("users", "enable", "alice"),
        *more,
    ):
        result = wess(*argv)
        assert result.exit_code == 0, (argv, result.stderr)
