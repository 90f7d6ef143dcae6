"""Fixtures for the Graph transport's tests: a WESS home whose account syncs over
Microsoft Graph (``--transport graph``) with the emulator's OAuth app, against the
emulator's Graph endpoint over real HTTPS on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.support.sites import graph_home


@pytest.fixture
def graph_site(admin_home, emu):
    """A home whose account reaches ``emu`` over Graph with the OAuth app (the check on
    save reads alice's mailbox once); alice syncs."""
    return graph_home(admin_home, emu)
