"""Fixtures for the Graph transport's tests: a WESS home whose account syncs over
Microsoft Graph (``--transport graph``) with the emulator's OAuth app, against the
emulator's Graph endpoint over real HTTPS on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.support import CLIENT_SECRET, oauth_args


@pytest.fixture
def graph_site(admin_home, emu):
    """A home whose account reaches ``emu`` over Graph with the OAuth app (the check on
    save reads alice's mailbox once); alice syncs."""
    wess = admin_home
    graph = ("--transport", "graph", "--option", f"graph_url={emu.graph_url}")
    trust = ("--ca-bundle", emu.ca_cert)
    r = wess(*oauth_args(emu.authority("contoso")), *graph, *trust, input=CLIENT_SECRET + "\n")
    assert r.exit_code == 0, r.stderr
    assert wess("users", "enable", "alice").exit_code == 0
    return wess
