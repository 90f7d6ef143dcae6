"""Helpers shared by the end-to-end and reliability tests."""

from __future__ import annotations


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
