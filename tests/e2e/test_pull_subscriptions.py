"""``wess sync`` and ``wess run`` poll a transport's pull subscription (``watch``) and
read only the folders it saw events in; ``pull_subscriptions off`` reads every folder.
The transport is a third-party in-memory one with ``watch`` (no EWS code involved)."""

from __future__ import annotations

from tests.support.memory_transport import MemoryTransportPlugin, ready_alice
from wess_core import plugins
from wess_core.strategies import MailboxUnavailable
from wess_plugins.crm_local import local

FOLDERS = 5


def _ready(wess, home):
    ready_alice(wess, ("users", "set", "alice", "--transport", "memory", "--skip-check"))
    local.add_record(home, "main", "people", {"first_name": "Bo", "last_name": "Ng"})


def _settle(wess, plugin) -> None:
    """Sync until a run reads no folder (the run's own writes are events once)."""
    for _ in range(3):
        assert wess("sync", "alice").exit_code == 0
    plugin.mailbox.calls.clear()


def test_an_idle_sync_asks_the_subscription_once_and_reads_no_folder(wess, home):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        _ready(wess, home)
        _settle(wess, plugin)
        result = wess("sync", "alice", "--json")
        assert result.exit_code == 0, result.stderr
        assert plugin.mailbox.calls == {"watch": 1}
        folders = result.json["folders"]
        assert len(folders) == FOLDERS and all(f["mailbox_quiet"] for f in folders.values())
        assert all(f["failed"] is None and "full_resync" in f for f in folders.values())

        # a person's edit in Outlook: that folder only is read, and the edit arrives
        (iid,) = plugin.mailbox.items("contacts")
        plugin.mailbox.edit("contacts", iid, {"surname": "Roe"})
        plugin.mailbox.calls.clear()
        result = wess("sync", "alice", "--json")
        assert result.exit_code == 0, result.stderr
        assert plugin.mailbox.calls["watch"] == 1 and plugin.mailbox.calls["changes"] == 1
        assert not result.json["folders"]["contacts"]["mailbox_quiet"]
    (person,) = local.list_records(home, "main", "people")
    assert person["fields"]["last_name"] == "Roe"


def test_the_scheduler_polls_the_subscription_too(wess, home):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        _ready(wess, home)
        _settle(wess, plugin)
        local.add_record(home, "main", "people", {"first_name": "Cy", "last_name": "Ode"})
        result = wess("run", "--once", "--json")
        assert result.exit_code == 0, result.stderr
        assert plugin.mailbox.calls["watch"] == 1 and plugin.mailbox.calls["changes"] == 0
    names = sorted(i.fields["given_name"] for i in plugin.mailbox.items("contacts").values())
    assert names == ["Bo", "Cy"]  # the CRM's change reached a folder with no event


def test_pull_subscriptions_off_reads_every_folder(wess, home):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        _ready(wess, home)
        _settle(wess, plugin)
        result = wess("config", "set", "pull_subscriptions", "off")
        assert result.exit_code == 0, result.stderr
        assert wess("sync", "alice").exit_code == 0
        assert plugin.mailbox.calls["watch"] == 0
        assert plugin.mailbox.calls["changes"] == FOLDERS
        assert wess("config", "set", "pull_subscriptions", "maybe").exit_code == 2


def test_a_subscription_poll_that_finds_the_server_gone_rediscovers_it(wess, home):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        _ready(wess, home)
        _settle(wess, plugin)
        error = MailboxUnavailable("the server did not answer", credentials=False, rediscover=True)
        plugin.mailbox.faults.fail_call("watch", error=error)
        local.add_record(home, "main", "people", {"first_name": "Cy", "last_name": "Ode"})
        result = wess("sync", "alice", "--json")
        assert result.exit_code == 0, result.stderr
        assert plugin.mailbox.calls["watch"] == 2  # failed, then again on the new connection
    assert len(plugin.mailbox.items("contacts")) == 2
