"""A WESS home wired to the emulator: alice syncs her mailbox with the CRM database main."""

from __future__ import annotations

import pytest

from wess_core.crm import local
from wess_core.service import Context
from wess_core.testing.pytest_plugin import EWS_PASSWORD, EWS_USER
from wess_plugins.transport_ews.transport import EwsTransport


@pytest.fixture
def synced_home(admin_home, ews_server):
    wess = admin_home
    assert wess("users", "set", "alice", "--exchange-email", EWS_USER, "--no-verify").exit_code == 0
    result = wess(
        "connection", "set", "--ews-url", ews_server.ews_url, "--ca-bundle", ews_server.ca_cert,
        "--no-verify",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    result = wess("users", "set", "alice", "--password-stdin", input=EWS_PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert wess("users", "enable", "alice").exit_code == 0
    return wess


@pytest.fixture
def mailbox(ews_account):
    """Alice's mailbox as a person (Outlook) would edit it: through exchangelib."""
    return EwsTransport(connection=None, account=ews_account)


@pytest.fixture
def crm(home):
    """The CRM database alice syncs with."""

    class Crm:
        def add(self, record_type, **fields):
            return local.add_record(home, "main", record_type, fields)["id"]

        def update(self, record_type, record_id, **fields):
            local.update_record(home, "main", record_type, record_id, fields)

        def delete(self, record_type, record_id):
            local.delete_record(home, "main", record_type, record_id)

        def list(self, record_type):
            return local.list_records(home, "main", record_type)

        def ctx(self):
            return Context(home=home)

    return Crm()


def sync_ok(wess, login="alice"):
    result = wess("sync", login, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    data = result.json
    for name, folder in data["folders"].items():
        assert not folder["failed"], (name, folder["failed"])
        assert not folder["errors"], (name, folder["errors"])
    return data


def listing(mailbox, folder):
    """Every item in a mailbox folder (a fresh full listing)."""
    items, token = {}, None
    for _ in range(1000):
        page = mailbox.changes(folder, token)
        for change in page.changes:
            if change.deleted:
                items.pop(change.item_id, None)
            else:
                items[change.item_id] = change.item
        token = page.token
        if page.done:
            return list(items.values())
    raise AssertionError("listing did not finish")
