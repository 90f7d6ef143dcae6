"""What WESS tells an admin about transports: Exchange Online gets pointed to Graph, and
the checklist shows the steps the chosen transport needs."""

from __future__ import annotations

from tests.support.memory_transport import MemoryTransportPlugin
from tests.support.memory_transport import ready_alice as _ready
from wess_core import hookimpl, plugins
from wess_core.validation import O365_EWS_URL


def test_an_exchange_online_url_without_a_transport_suggests_graph(wess):
    _ready(wess)
    result = wess("connection", "set", "--ews-url", O365_EWS_URL, "--skip-check")
    assert result.exit_code == 0, result.stderr
    assert "wess connection set --transport graph" in result.stdout
    shown = wess("connection", "set", "--ews-url", O365_EWS_URL, "--skip-check", "--json")
    assert "Microsoft Graph" in shown.json["suggestion"]


def test_an_on_premises_url_gets_no_suggestion(wess):
    _ready(wess)
    url = "https://mail.example.com/EWS/Exchange.asmx"
    result = wess("connection", "set", "--ews-url", url, "--skip-check", "--json")
    assert result.exit_code == 0, result.stderr
    assert "suggestion" not in result.json


def test_choosing_a_transport_explicitly_gets_no_suggestion(wess):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        _ready(wess)
        args = ("--ews-url", O365_EWS_URL, "--transport", "memory", "--skip-check", "--json")
        result = wess("connection", "set", *args)
    assert result.exit_code == 0, result.stderr
    assert "suggestion" not in result.json


class StepsTransport(MemoryTransportPlugin):
    """A transport that tells the admin what its server needs."""

    @hookimpl
    def wess_register_transports(self, register):
        def factory(connection):
            return self.mailbox

        factory.checklist_steps = lambda account: [f"Carrier: feed the pigeons ({account.auth})."]
        register("pigeon", factory)


def test_the_checklist_shows_the_chosen_transports_steps_instead_of_ews(wess):
    with plugins.registered(StepsTransport()):
        _ready(wess)
        before = wess("checklist").stdout
        assert "EWS URL" in before and "pigeons" not in before
        assert wess("users", "set", "alice", "--transport", "pigeon", "--skip-check").exit_code == 0
        after = wess("checklist").stdout
    assert "1. Carrier: feed the pigeons (direct)." in after
    assert "EWS URL" not in after
    assert "Firewall" in after and "licence(s) purchased" in after
