"""A mailbox transport is chosen by name, like auth and discovery: a transport plugin
registered through ``wess_register_transports`` is selected with ``--transport`` on the
account or one user, and the sync goes through it (no EWS server exists in this test)."""

from __future__ import annotations

from tests.support.memory_transport import MemoryTransportPlugin
from tests.support.memory_transport import ready_alice as _ready
from wess_core import plugins
from wess_plugins.crm_local import local


def test_a_user_syncs_through_the_transport_named_on_their_profile(wess, home):
    plugin = MemoryTransportPlugin()
    plugin.mailbox.add(
        "contacts",
        {
            "given_name": "Ann",
            "surname": "Lee",
            "email_addresses": [{"label": "EmailAddress1", "email": "ann@example.com"}],
        },
    )
    with plugins.registered(plugin):
        _ready(wess)
        result = wess("users", "set", "alice", "--transport", "memory", "--skip-check")
        assert result.exit_code == 0, result.stderr
        assert wess("users", "show", "alice", "--json").json["transport"] == "memory"

        result = wess("sync", "alice", "--json")
        assert result.exit_code == 0, result.stderr

    assert [c.transport for c in plugin.connections] == ["memory"]
    people = local.list_records(home, "main", "people")
    assert [
        (p["fields"]["first_name"], p["fields"]["email"], p["exchange_id"]) for p in people
    ] == [("Ann", "ann@example.com", "AAMk000001")]


def test_the_account_default_transport_applies_to_users_without_one(wess, home):
    plugin = MemoryTransportPlugin()
    with plugins.registered(plugin):
        _ready(wess)
        result = wess("connection", "set", "--transport", "memory", "--skip-check")
        assert result.exit_code == 0, result.stderr
        assert wess("users", "show", "alice", "--json").json["transport"] == "memory"
        local.add_record(home, "main", "people", {"first_name": "Bo", "last_name": "Ng"})
        assert wess("sync", "alice").exit_code == 0
    (item,) = plugin.mailbox.items("contacts").values()
    assert item.fields["given_name"] == "Bo"


def test_an_unknown_transport_is_refused_with_the_available_names(wess):
    _ready(wess)
    result = wess("users", "set", "alice", "--transport", "carrier-pigeon", "--skip-check")
    assert result.exit_code == 2
    assert "carrier-pigeon" in result.stderr and "ews" in result.stderr
    assert wess("users", "show", "alice", "--json").json["transport"] == "ews"


def test_a_user_may_not_choose_their_transport(wess):
    _ready(wess)
    result = wess("users", "set", "alice", "--transport", "ews", as_="alice")
    assert result.exit_code == 1 and "permission denied" in result.stderr
