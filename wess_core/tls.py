"""Trusting a private CA for the Exchange servers of an account, without ever turning
certificate verification off.

On-premises Exchange often has a certificate from the company's own CA; the admin
gives WESS that CA (``wess connection set --ca-bundle CA.pem``). exchangelib opens
its HTTP sessions with ``BaseProtocol.HTTP_ADAPTER_CLS`` (its documented extension
point), so WESS installs, once per process, an adapter that verifies each server
against the CA registered for the server's origin (scheme, host, port) and against
the system's trust store for every other server. Registering per origin keeps two
accounts (or two test servers) with different CAs apart in one process.

The same adapter enforces ``wess_core.deadlines``: an overall deadline per request
(a watchdog can shut its connection down, whatever the server trickles) and a size
cap on each answer, read here in chunks.

:func:`ca_bundle_adapter` is the simpler form (one CA for every server), used by
the EWS emulator's tests (``wess_emulator.tls`` still has its own copy; it
can re-export this one).
"""

from __future__ import annotations

import functools
import os
import sys
import threading
from urllib.parse import urlsplit

import requests
import requests.adapters
import requests.utils
import urllib3
import urllib3.poolmanager

from wess_core import deadlines
from wess_core.endpoints import guard_request
from wess_core.lean_session import make_lean

__all__ = ["ca_bundle_adapter", "install", "session", "trust", "trusted_ca"]

_lock = threading.Lock()
_trusted: dict[str, str] = {}


@functools.lru_cache(maxsize=1024)
def _host(url: str) -> str:
    """The host (and port, when not the scheme's own) of ``url``, for messages."""
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url


@functools.lru_cache(maxsize=1024)
def _origin(url: str) -> str:
    """The origin of ``url`` (remembered: every request asks for its URL's)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def trust(url: str, ca_path: str | None) -> None:
    """Verify the server of ``url`` against ``ca_path`` from now on (``None``: the system
    trust store again). Called before every connection, so a changed CA applies at once."""
    origin = _origin(url)
    with _lock:
        if ca_path:
            _trusted[origin] = os.fspath(ca_path)
        else:
            _trusted.pop(origin, None)
    install()


def trusted_ca(url: str) -> str | None:
    """The CA bundle registered for the server of ``url``, if any."""
    with _lock:
        return _trusted.get(_origin(url))


#: Connections per server kept by the shared pool (more at once are opened and closed).
SHARED_POOL_SIZE = 32
_shared_pools: urllib3.PoolManager | None = None
_shared_lock = threading.Lock()


def shared_pools() -> urllib3.PoolManager:
    """The process's pool of HTTPS connections that any user's requests may use."""
    global _shared_pools
    with _shared_lock:
        if _shared_pools is None:
            _shared_pools = _watched(urllib3.PoolManager(num_pools=64, maxsize=SHARED_POOL_SIZE))
        return _shared_pools


class _WatchedPool:
    """Tells the deadline watchdog which connection the thread's request goes over."""

    def _get_conn(self, timeout=None):  # type: ignore[no-untyped-def]
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        try:
            deadlines.attach(conn)
        except BaseException:
            self._put_conn(conn)  # type: ignore[attr-defined]
            raise
        return conn


class _WatchedHTTPPool(_WatchedPool, urllib3.HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_WatchedPool, urllib3.HTTPSConnectionPool):
    pass


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def _watched(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """``manager`` with pools whose connections the watchdog can cut (a SOCKS proxy
    manager keeps its own pools: only the per-read timeouts hold there)."""
    if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


def _bounded(timeout, left: float):  # type: ignore[no-untyped-def]
    """requests' ``timeout`` (seconds, a (connect, read) pair or None) capped at ``left``."""
    if timeout is None:
        return left
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    if isinstance(timeout, int | float):
        return min(timeout, left)
    return timeout


def _shareable(request, proxies, cert) -> bool:
    """A request whose every message carries its own credentials (Basic, Bearer) can go
    over any connection to its server; NTLM / Negotiate authenticate the connection
    itself, so those keep their session's own connection (as do proxied and mTLS ones)."""
    auth = request.headers.get("Authorization") or ""
    return (
        auth.startswith(("Basic ", "Bearer "))
        and cert is None
        and not (proxies and requests.utils.select_proxy(request.url, proxies))
    )


class _PerOriginCaMixin:
    """Replaces ``verify`` by the origin's CA file when one is registered; never by False.

    Requests whose credentials travel in every message share one pool of connections
    per server (and CA) across all sessions of the process: exchangelib keeps one
    session, so one TLS connection, per user, and a scheduler pass over many users of
    one server would otherwise hold and set up one connection per user.

    Every request has an overall deadline and its answer a size cap
    (``wess_core.deadlines``): the body of a non-streamed request is read here, in
    chunks, while the deadline watchdog can cut the connection.
    """

    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)  # type: ignore[misc]
        _watched(self.poolmanager)  # type: ignore[attr-defined]

    def proxy_manager_for(self, proxy, **proxy_kwargs):  # type: ignore[no-untyped-def]
        return _watched(super().proxy_manager_for(proxy, **proxy_kwargs))  # type: ignore[misc]

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):  # type: ignore[no-untyped-def]
        flight = deadlines.arm(_host(request.url))
        try:
            response = super().send(  # type: ignore[misc]
                request, stream=stream, timeout=_bounded(timeout, deadlines.time_left(flight)),
                verify=verify, cert=cert, proxies=proxies,
            )  # fmt: skip
            if not stream:  # a streamed body is the caller's (only its headers are bounded)
                deadlines.read_body(response, flight)
            if flight.cut is not None:  # cut: what came may look complete but is not
                response.close()
                raise flight.error()
            return response
        except deadlines.RequestCut:
            raise
        except Exception as exc:
            if flight.cut is not None or isinstance(exc, deadlines.Refused):
                raise flight.error() from exc
            raise
        finally:
            deadlines.disarm(flight)

    def cert_verify(self, conn, url, verify, cert):  # requests < 2.32.3
        ca = trusted_ca(url)
        super().cert_verify(conn=conn, url=url, verify=ca or verify, cert=cert)  # type: ignore[misc]

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        ca = trusted_ca(request.url)
        if _shareable(request, proxies, cert):
            host, pool_kwargs = self.build_connection_pool_key_attributes(  # type: ignore[attr-defined]
                request, ca or verify, cert
            )
            return shared_pools().connection_from_host(**host, pool_kwargs=pool_kwargs)
        return super().get_connection_with_tls_context(  # type: ignore[misc]
            request=request, verify=ca or verify, proxies=proxies, cert=cert
        )


class _CredentialGuardMixin:
    """The last line of defence of the trust boundary (``wess_core.endpoints``): a request
    carrying an ``Authorization`` header is refused before it is sent when it is not HTTPS,
    or, during discovery, when its host is outside the account's boundary, whichever code
    built it (exchangelib's own Autodiscover search and redirects included)."""

    def send(self, request, *args, **kwargs):
        guard_request(request.url, request.headers)
        return super().send(request, *args, **kwargs)  # type: ignore[misc]


def install() -> None:
    """Make exchangelib use the per-origin adapter (idempotent), read the environment
    once per HTTP session instead of once per request (:func:`settle_environment`), and
    prepare its requests without requests' generic merging (``wess_core.lean_session``).

    An adapter class someone installed before (a proxy adapter, the emulator's test
    adapter) is kept as the base class, so WESS adds to it instead of replacing it. The
    adapter also refuses to send credentials outside the trust boundary
    (:class:`_CredentialGuardMixin`).
    """
    from exchangelib.protocol import BaseProtocol

    if not getattr(BaseProtocol.raw_session, "_wess_settled", False):
        original = BaseProtocol.raw_session.__func__

        def raw_session(cls, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
            return make_lean(settle_environment(original(cls, prefix, *args, **kwargs)))

        raw_session._wess_settled = True  # type: ignore[attr-defined]
        BaseProtocol.raw_session = classmethod(raw_session)  # type: ignore[method-assign,assignment]
    current = BaseProtocol.HTTP_ADAPTER_CLS
    if issubclass(current, _PerOriginCaMixin):
        return
    BaseProtocol.HTTP_ADAPTER_CLS = type(
        "WessTlsAdapter",
        (_CredentialGuardMixin, _PerOriginCaMixin, current),
        {"__module__": __name__},
    )


def _netrc_exists() -> bool:
    names = [os.environ.get("NETRC")] + [os.path.join("~", n) for n in (".netrc", "_netrc")]
    return any(n and os.path.exists(os.path.expanduser(n)) for n in names)


def settle_environment(session: requests.Session) -> requests.Session:
    """What ``requests`` would read from the environment on every request of ``session``,
    read once now, when it can be: ~0.1 ms of client CPU per EWS request (scanning
    ``os.environ`` twice), a tenth of an idle request's.

    Only when the environment can change nothing but the CA bundle: Linux (elsewhere the
    system proxy settings apply), no ``*_proxy`` variable and no netrc file. The bundle
    (``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``) becomes the session's ``verify``, as
    requests would apply it; otherwise the session keeps reading the environment.
    """
    if not sys.platform.startswith("linux") or not session.trust_env:
        return session
    if any(name.lower().endswith("_proxy") for name in os.environ) or _netrc_exists():
        return session
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
    return session


class PerOriginCaAdapter(_PerOriginCaMixin, requests.adapters.HTTPAdapter):
    """A plain requests adapter with the per-origin CA rule (for non-exchangelib clients)."""


def session(timeout: float = 30) -> requests.Session:
    """A ``requests`` session that follows the per-origin CA rule, for clients such as MSAL.

    A session's own ``verify`` loses to ``REQUESTS_CA_BUNDLE`` in requests (the
    environment wins over the session setting), so the CA is applied by the adapter.
    """
    s = requests.Session()
    s.mount("https://", PerOriginCaAdapter(max_retries=1))
    s.request = functools.partial(s.request, timeout=timeout)  # type: ignore[method-assign]
    return s


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
