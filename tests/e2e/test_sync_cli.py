"""Sync Now end to end: the CLI, the local CRM, exchangelib and the emulator."""

from __future__ import annotations


def test_sync_moves_contacts_both_ways(site, ews_mailbox):
    """Over either transport: both sides get both contacts; the next run reads back only
    its own write (over EWS the subscription names the contacts folder alone), and the
    run after that is idle."""
    wess = site.wess
    ann = ("first_name=Ann", "last_name=Lee", "email=ann@example.com")
    assert wess("crm", "add", "people", *ann).exit_code == 0
    ews_mailbox.add_items(
        "contacts", [{"GivenName": "Bob", "Surname": "Ray", "DisplayName": "Bob Ray"}]
    )
    result = wess("sync", "alice", "--json")
    assert result.exit_code == 0, result.stderr
    people = {p["fields"].get("first_name") for p in wess("crm", "list", "people", "--json").json}
    assert people == {"Ann", "Bob"}
    contacts = ews_mailbox.folder("contacts").items.values()
    assert sorted(c.field_text("GivenName") for c in contacts) == ["Ann", "Bob"]
    for expected in (site.after_writes("contacts"), site.idle):
        site.server.reset_counts()
        idle = wess("sync", "alice", "--json")
        assert idle.exit_code == 0, idle.stderr
        assert idle.json["total_changes"] == 0
        assert site.requests() == expected
    history = wess("history", "alice", "--json").json
    assert history[0]["kind"] == "sync"


def test_connection_set_before_any_user_has_a_password(admin_home, ews_server, home):
    """An admin sets the account up first; users add their passwords later."""
    wess = admin_home
    result = wess(
        "connection", "set", "--ews-url", ews_server.ews_url, "--ca-bundle", ews_server.ca_cert
    )
    assert result.exit_code == 0, result.stderr
    assert "not checked yet" in result.stdout
    assert wess("connection", "show", "--json").json["ews_url"] == ews_server.ews_url
    own = ("--exchange-email", "alice@example.com", "--password-stdin")
    saved = wess("users", "set", "alice", *own, input="Secret-1\n", as_="alice")
    assert saved.exit_code == 0, saved.stderr
    again = wess("connection", "set", "--ews-url", ews_server.ews_url)
    assert "Exchange accepted them (checked as alice)" in again.stdout
