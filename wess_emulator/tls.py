"""TLS helpers for talking to the EWS emulator (or any server with a private CA) without ever
disabling certificate verification.

* :func:`ca_bundle_adapter` returns a
  ``requests`` HTTP adapter class that verifies server certificates against one CA bundle
  file. Assign it to
  ``exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS`` (exchangelib's documented extension
  point) so that exchangelib trusts the emulator's per-run CA.
* :func:`session_ca` returns a cached :class:`trustme.CA` for the process, so that starting an
  emulator costs milliseconds instead of generating a new key every time.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading

import requests.adapters
import trustme

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


@functools.cache
def ca_bundle_adapter(ca_path: str) -> type[requests.adapters.HTTPAdapter]:
    """An ``HTTPAdapter`` subclass that verifies every server against ``ca_path``.

    Verification stays on whatever ``verify`` the caller passes. Cached per path, so
    repeated calls return the same class (exchangelib compares adapters by class).
    """
    ca_path = os.fspath(ca_path)

    class CaBundleAdapter(requests.adapters.HTTPAdapter):
        CA_PATH = ca_path

        def cert_verify(self, conn, url, verify, cert):
            super().cert_verify(conn=conn, url=url, verify=self.CA_PATH, cert=cert)

        def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
            # requests >= 2.32.3 picks the pool's trust store here, not in cert_verify().
            return super().get_connection_with_tls_context(
                request=request, verify=self.CA_PATH, proxies=proxies, cert=cert
            )

    CaBundleAdapter.__qualname__ = CaBundleAdapter.__name__ = "CaBundleAdapter"
    return CaBundleAdapter
