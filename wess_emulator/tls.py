"""TLS helpers for talking to the EWS emulator (or any server with a private CA) without ever
disabling certificate verification.

* :func:`ca_bundle_adapter` (from :mod:`wess_core.tls`, re-exported here) returns a
  ``requests`` HTTP adapter class that verifies server certificates against one CA bundle
  file. Assign it to
  ``exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS`` (exchangelib's documented extension
  point) so that exchangelib trusts the emulator's per-run CA.
* :func:`session_ca` returns a cached :class:`trustme.CA` for the process, so that starting an
  emulator costs milliseconds instead of generating a new key every time.
"""

from __future__ import annotations

import os
import tempfile
import threading

import trustme

from wess_core.tls import ca_bundle_adapter

__all__ = ["CaBundle", "ca_bundle_adapter", "session_ca"]


class CaBundle:
    """A trustme CA plus its PEM file on disk (removed at interpreter exit by the temp dir)."""

    def __init__(self) -> None:
        self.ca = trustme.CA(organization_name="WESS EWS emulator test CA")
        self._dir = tempfile.TemporaryDirectory(prefix="wess-emulator-ca-")
        self.path = os.path.join(self._dir.name, "ca.pem")
        self.ca.cert_pem.write_to_path(self.path)
        self._leaf_lock = threading.Lock()
        self._leaves: dict[tuple[str, ...], trustme.LeafCert] = {}

    def leaf(self, *hostnames: str) -> trustme.LeafCert:
        """Return a (cached) server certificate for ``hostnames`` signed by this CA."""
        key = tuple(hostnames)
        with self._leaf_lock:
            cert = self._leaves.get(key)
            if cert is None:
                cert = self._leaves[key] = self.ca.issue_cert(*hostnames)
            return cert


_SESSION_CA: CaBundle | None = None
_SESSION_LOCK = threading.Lock()


def session_ca() -> CaBundle:
    """The process-wide test CA (created on first use)."""
    global _SESSION_CA
    with _SESSION_LOCK:
        if _SESSION_CA is None:
            _SESSION_CA = CaBundle()
        return _SESSION_CA
