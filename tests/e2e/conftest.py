"""Fixtures of the end-to-end tests: ``site``, alice syncing over each transport."""

from __future__ import annotations

import pytest

from tests.support.sites import TRANSPORTS, Site, graph_home, graph_mailbox


@pytest.fixture(params=TRANSPORTS)
def site(request: pytest.FixtureRequest, ews_server) -> Site:
    """Alice syncing ``ews_server`` over EWS (``synced_home``) or over Graph, with the
    person's mailbox over the same transport."""
    if request.param == "ews":
        wess = request.getfixturevalue("synced_home")
        mailbox = request.getfixturevalue("mailbox")
    else:
        wess = graph_home(request.getfixturevalue("admin_home"), ews_server)
        mailbox = graph_mailbox(ews_server)
    return Site(request.param, wess, ews_server, mailbox)
