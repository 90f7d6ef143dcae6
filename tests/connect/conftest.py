"""Fixtures for the connection tests: a WESS home wired to one or two EWS emulators.

Everything runs over real HTTPS on 127.0.0.1 through unmodified exchangelib; the
only stand-in for Microsoft's cloud is the emulator's loopback OAuth token endpoint.
``WESS_AUTODISCOVER_DNS=0`` keeps Autodiscover from ever searching public DNS.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import serving_populated
from wess_emulator.emulator import EmulatorServer


@pytest.fixture(autouse=True)
def _no_public_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WESS_AUTODISCOVER_DNS", "0")


@pytest.fixture
def emu2(ews_ca) -> Iterator[EmulatorServer]:
    """A second, independent emulator (same test CA) to move users to."""
    yield from serving_populated(ews_ca)


@pytest.fixture
def site(admin_home, emu):
    """A home whose account points at ``emu`` by hand, with its CA; alice syncs."""
    wess = admin_home
    r = wess(
        "connection", "set", "--ews-url", emu.ews_url, "--ca-bundle", emu.ca_cert, "--skip-check"
    )
    assert r.exit_code == 0, r.stderr
    assert wess("users", "enable", "alice").exit_code == 0
    return wess
