"""HTTP for every client WESS runs (EWS, Autodiscover, the OAuth token endpoint), through
public APIs of requests and urllib3 only.

Three rules hold for every request, whoever builds it:

* **Per-origin CA trust.** On-premises Exchange often has a certificate from the
  company's own CA (``wess connection set --ca-bundle CA.pem``). :func:`trust` registers
  that CA for one origin (scheme, host, port); the adapter verifies that server against
  it and every other server against the system's store, so two accounts (or two test
  servers) with different CAs stay apart in one process. Verification is never off.
* **The credential boundary** (``wess_core.endpoints.guard_request``): a request with an
  ``Authorization`` header is refused before it is sent when it is not HTTPS or, during
  discovery, when its host is outside the account's boundary.
* **Deadlines and a size cap** (``wess_core.deadlines``): each request has an overall
  deadline, enforced by a watchdog that shuts the socket of the connection the request
  goes over (the pools hand it over through urllib3's public ``ConnectionCls``), and
  each answer a size cap, checked while the adapter reads the body in chunks through
  urllib3's ``HTTPResponse.stream``.

:func:`session` is a plain ``requests`` session with these rules (MSAL's HTTP client);
:func:`adapter_class` puts them on another adapter class (exchangelib's, see
``wess_plugins.transport_ews``).
"""

from __future__ import annotations

import collections
import functools
import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection
import urllib3.poolmanager

from wess_core import deadlines
from wess_core.endpoints import guard_request

__all__ = ["TrustAdapter", "adapter_class", "session", "trust", "trusted_ca"]

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


def trust(url: str, ca_path: str | os.PathLike[str] | None) -> None:
    """Verify the server of ``url`` against ``ca_path`` from now on (``None``: the system
    trust store again). Called before every connection, so a changed CA applies at once."""
    origin = _origin(url)
    with _lock:
        if ca_path:
            _trusted[origin] = os.fspath(ca_path)
        else:
            _trusted.pop(origin, None)


def trusted_ca(url: str) -> str | None:
    """The CA bundle registered for the server of ``url``, if any."""
    with _lock:
        return _trusted.get(_origin(url))


# -- connections the deadline watchdog can cut ---------------------------------------


class _Watched:
    """Tells the deadline watchdog which connection this thread's request goes over
    (``connect`` for a new one, ``request`` for a kept-alive one)."""

    def connect(self) -> None:
        deadlines.attach(self)
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadlines.attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class WatchedHTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def watched(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """``manager`` with pools whose connections the watchdog can cut (a SOCKS proxy
    manager keeps its own pools: only the per-read timeouts hold there)."""
    if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


# -- the adapter ---------------------------------------------------------------------


def _bounded(timeout: Any, left: float) -> Any:
    """requests' ``timeout`` (seconds, a (connect, read) pair or None) capped at ``left``."""
    if timeout is None:
        return left
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    if isinstance(timeout, int | float):
        return min(timeout, left)
    return timeout


def _read_capped(response: requests.Response, flight: deadlines.Flight) -> list[bytes]:
    """The decoded body of ``response``, read in chunks while the watchdog can cut the
    connection; more than the scope's cap is refused (an endless answer costs the cap)."""
    cap = flight.limits.max_bytes
    length = response.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > cap:
        raise deadlines.too_large(flight)
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.raw.stream(64 * 1024, decode_content=True):
            total += len(chunk)
            if total > cap:
                raise deadlines.too_large(flight)
            chunks.append(chunk)
    except urllib3.exceptions.ProtocolError as exc:  # as requests' iter_content maps them
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    return chunks


def _replay(chunks: list[bytes]) -> Any:
    """``HTTPResponse.stream`` for a body already read: requests takes it from here (each
    chunk handed over once, so the body is not held twice)."""
    left = collections.deque(chunks)
    chunks.clear()

    def stream(amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        while left:
            yield left.popleft()

    return stream


class WessAdapterMixin:
    """The three rules of this module on a ``requests`` adapter class (see the module)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[misc]
        watched(self.poolmanager)  # type: ignore[attr-defined]

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return watched(super().proxy_manager_for(proxy, **proxy_kwargs))  # type: ignore[misc]

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        guard_request(request.url, request.headers)
        flight = deadlines.arm(_host(request.url))
        try:
            response = super().send(  # type: ignore[misc]
                request,
                stream=stream,
                timeout=_bounded(timeout, deadlines.time_left(flight)),
                verify=verify,
                cert=cert,
                proxies=proxies,
            )
            if not stream:  # a streamed body is the caller's (only its headers are bounded)
                try:
                    response.raw.stream = _replay(_read_capped(response, flight))
                except Exception:
                    response.close()
                    raise
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

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """requests < 2.32.3 picks the trust store here."""
        ca = trusted_ca(url)
        super().cert_verify(conn=conn, url=url, verify=ca or verify, cert=cert)  # type: ignore[misc]

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        ca = trusted_ca(request.url)  # type: ignore[arg-type]
        return super().get_connection_with_tls_context(  # type: ignore[misc]
            request=request, verify=ca or verify, proxies=proxies, cert=cert
        )


@functools.cache
def adapter_class(base: type[requests.adapters.HTTPAdapter]) -> type[requests.adapters.HTTPAdapter]:
    """``base`` with the rules of this module (an adapter someone installed before, a proxy
    adapter or a test's, is kept as the base class: WESS adds to it). Cached per base, so
    the same class comes back (exchangelib compares adapters by class)."""
    if issubclass(base, WessAdapterMixin):
        return base
    return type("WessAdapter", (WessAdapterMixin, base), {"__module__": __name__})


TrustAdapter = adapter_class(requests.adapters.HTTPAdapter)


def session(timeout: float = 30) -> requests.Session:
    """A ``requests`` session that follows the rules of this module, for clients such as
    MSAL. (A session's own ``verify`` loses to ``REQUESTS_CA_BUNDLE`` in requests, so the
    CA is applied by the adapter.)"""
    s = requests.Session()
    s.mount("https://", TrustAdapter(max_retries=1))
    s.request = functools.partial(s.request, timeout=timeout)  # type: ignore[method-assign]
    return s
