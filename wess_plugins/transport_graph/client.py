"""One mailbox's Microsoft Graph client: WESS's HTTP rules, tokens, limits and back-off.

Every request goes through a ``requests`` session with ``wess_core.http``'s adapter
(per-origin CA, no credential over plain HTTP, deadlines, size cap), carries ``Prefer:
IdType="ImmutableId"`` (ids never change when an item moves) and a bearer token from
the auth method's provider for the transport's scope. A refused token (401) is
replaced once by one fetched past the provider's cache. At most four requests are in
flight per mailbox in this process, whoever sends them (Exchange Online answers a
fifth with 429 MailboxConcurrency). 429, 503 and 504 wait the ``Retry-After`` the
server asked for (``wess_core.deadlines.pause``: a stop or the run's deadline ends the
wait), a bounded number of times, then the caller gets ``MailboxBusy``.

The calendar (``calendar.py``) codes against :class:`GraphClient` too: ``get``,
``batch``, ``error_for`` and ``user_path`` are its interface.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from wess_core import deadlines, http
from wess_core.errors import CredentialsRejected, WessError
from wess_core.library_logs import TLS_HINT, is_tls_failure
from wess_core.strategies import (
    AccessToken,
    FolderUnavailable,
    MailboxUnavailable,
    TokenProvider,
)
from wess_plugins.transport_graph import batch as batching
from wess_plugins.transport_graph.errors import BUSY_STATUSES, error_for, retry_after

__all__ = ["MAX_CONCURRENT", "GraphClient", "Response", "is_under", "query_string"]

#: Requests in flight per mailbox (Outlook's limit for one app and one mailbox).
MAX_CONCURRENT = 4
#: Attempts of one request while Graph answers busy (the first one included).
MAX_ATTEMPTS = 5
#: A longer ``Retry-After`` is not waited for within the run: the next run tries again.
MAX_WAIT_SECONDS = 120.0
#: Seconds one socket read may block (the run's deadlines bound the whole request).
READ_TIMEOUT = 60

#: Characters left as they are in a query value ($filter and $expand stay readable).
_ODATA_SAFE = "$'(),:/="

_slots: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_slots_guard = threading.Lock()


def mailbox_slots(base_url: str, mailbox: str) -> threading.BoundedSemaphore:
    """The one semaphore of a mailbox on a Graph service in this process."""
    parts = urlsplit(base_url)
    key = (f"{parts.scheme}://{(parts.netloc or '').lower()}", mailbox.lower())
    with _slots_guard:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(MAX_CONCURRENT)
        return _slots[key]


_sessions: dict[str, requests.Session] = {}


def shared_session(base_url: str) -> requests.Session:
    """One HTTPS session per Graph service in this process: the mailboxes of a run (and
    every round of a scheduler) reuse its connections instead of a TLS handshake each.
    It keeps no cookies: nothing one mailbox's answer sets may ride along to another's."""
    parts = urlsplit(base_url)
    key = f"{parts.scheme}://{(parts.netloc or '').lower()}"
    with _slots_guard:
        if key not in _sessions:
            session = http.session(timeout=READ_TIMEOUT)
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            _sessions[key] = session
        return _sessions[key]


def query_string(params: Mapping[str, Any] | None) -> str:
    """``?$expand=...`` for OData parameters, ``$`` and OData's punctuation kept readable,
    spaces and the rest percent-encoded ("" without parameters)."""
    if not params:
        return ""
    pairs = (
        f"{quote(str(k), safe='$')}={quote(str(v), safe=_ODATA_SAFE)}" for k, v in params.items()
    )
    return "?" + "&".join(pairs)


def is_under(base_url: str, url: str) -> bool:
    """Whether ``url`` is on the same origin as ``base_url`` and below its path (a
    nextLink, a stored deltaLink): anything else never gets a request, nor a token."""
    base, got = urlsplit(base_url), urlsplit(url)
    if got.scheme != base.scheme or got.netloc.lower() != base.netloc.lower():
        return False
    if got.username is not None or got.password is not None:
        return False
    return got.path.startswith(base.path.rstrip("/") + "/")


class Response:
    """One Graph answer: its status, headers and JSON body (``None`` without one)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class GraphClient:
    """Requests to one mailbox (``/users/{mailbox}``) of one Graph service."""

    def __init__(
        self,
        base_url: str,
        mailbox: str,
        provider: TokenProvider,
        scope: str,
        *,
        unauthorized_reason: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.mailbox = mailbox
        self.provider = provider
        self.scope = scope
        self.unauthorized_reason = unauthorized_reason
        self.session = shared_session(self.base_url)
        self._slots = mailbox_slots(self.base_url, mailbox)
        self._token: AccessToken | None = None
        #: The token in use came past the provider's cache and nothing accepted it yet:
        #: a 401 now is final.
        self._untried_fresh = False
        self._token_lock = threading.Lock()

    @property
    def user_path(self) -> str:
        """``/users/<upn>``: the mailbox's path below ``base_url``."""
        return "/users/" + quote(self.mailbox, safe="@")

    # -- the interface the transport and the calendar use -----------------------------

    def get(
        self, path_or_url: str, params: dict[str, Any] | None = None, *, prefer: str = ""
    ) -> dict[str, Any]:
        """GET a path below ``base_url`` (or an absolute link under it): the JSON answer,
        or the mapped WESS error raised (``error_for``)."""
        return self.call("GET", path_or_url, params=params, prefer=prefer)

    def call(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        prefer: str = "",
    ) -> dict[str, Any]:
        """One request; its JSON answer (``{}`` when none) or the mapped error raised."""
        answer = self.send(method, path_or_url, params, body, headers, prefer)
        if not answer.ok:
            raise self.error_for(answer.status, answer.body, answer.headers)
        return answer.body if isinstance(answer.body, dict) else {}

    def batch(self, requests_: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Sub-requests (``{"id", "method", "url", "headers"?, "body"?, "dependsOn"?}``,
        any number) sent as ``$batch`` requests of at most 20; the answers by id
        (``{"status", "headers", "body"}``), sub-requests answered 429 already retried."""
        return batching.run(self, requests_)

    def error_for(self, status: int, body: Any, headers: Any = None) -> Exception:
        """The WESS error for a failed answer (a request's or one batch answer's)."""
        return error_for(
            status,
            body,
            mailbox=self.mailbox,
            headers=headers,
            unauthorized_reason=self.unauthorized_reason,
        )

    # -- sending --------------------------------------------------------------------------

    def url(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of a path below ``base_url``; a link must already be under it."""
        if "://" in path_or_url:
            if not is_under(self.base_url, path_or_url):
                raise FolderUnavailable(
                    f"Microsoft Graph sent a link outside {self.base_url}; not followed",
                    code="ForeignLink",
                )
            url = path_or_url
        else:
            url = self.base_url + "/" + path_or_url.lstrip("/")
        query = query_string(params)
        if query and "?" in url:  # a link that has its own query already
            query = "&" + query[1:]
        return url + query

    def send(
        self,
        method: str,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        prefer: str = "",
    ) -> Response:
        """One request with its retries (a fresh token once, busy answers with back-off);
        the last answer, whatever its status. Raises ``MailboxUnavailable`` when no
        answer came (refused, timed out, TLS, cut) or no token could be had."""
        url = self.url(path_or_url, params)
        attempt = 0
        while True:
            attempt += 1
            token = self._current_token()
            answer = self._once(method, url, body, headers, prefer, token)
            if answer.status == 401:
                if self._refresh(token):
                    continue
                raise self.error_for(401, answer.body, answer.headers)
            self._untried_fresh = False
            if answer.status in BUSY_STATUSES and attempt < MAX_ATTEMPTS:
                wait = retry_after(answer.headers)
                if wait <= MAX_WAIT_SECONDS:
                    deadlines.pause(wait)
                    continue
            return answer

    def _once(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str] | None,
        prefer: str,
        token: AccessToken,
    ) -> Response:
        sent = {
            "Authorization": f"{token.token_type or 'Bearer'} {token.value}",
            "Prefer": ", ".join(p for p in ('IdType="ImmutableId"', prefer) if p),
            "Accept": "application/json",
            **(headers or {}),
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["Content-Type"] = "application/json"
        with self._slots:
            try:
                response = self.session.request(method, url, data=data, headers=sent)
            except requests.exceptions.RequestException as exc:
                raise self._no_answer(exc) from None
            except WessError as exc:  # the credential boundary refused the URL
                raise MailboxUnavailable(str(exc), credentials=True, rediscover=False) from None
        return Response(response.status_code, response.headers, _json(response))

    def _no_answer(self, exc: Exception) -> MailboxUnavailable:
        """No answer at all, as the whole mailbox's failure (nobody is paused for it)."""
        cut = deadlines.cut_in(exc)
        if cut is not None:
            return MailboxUnavailable(str(cut), credentials=False, rediscover=False)
        host = urlsplit(self.base_url).netloc
        if is_tls_failure(exc):
            reason = TLS_HINT.replace("Exchange server", f"Graph server {host}")
        elif isinstance(exc, requests.exceptions.Timeout):
            reason = f"cannot reach Microsoft Graph at {host} (timed out)"
        else:
            reason = f"cannot reach Microsoft Graph at {host} ({type(exc).__name__})"
        return MailboxUnavailable(reason, credentials=False, rediscover=False, endpoint=True)

    # -- tokens ---------------------------------------------------------------------------

    def _current_token(self) -> AccessToken:
        with self._token_lock:
            if self._token is None:
                self._token = self._fetch(fresh=False)
            return self._token

    def _refresh(self, refused: AccessToken) -> bool:
        """After a 401: a token fetched past the cache, once (``False``: that one was
        refused too, or another thread already replaced it with one that was)."""
        with self._token_lock:
            if self._token is not refused:
                return True  # another request replaced it meanwhile: try that one
            if self._untried_fresh:
                return False
            self._token = self._fetch(fresh=True)
            self._untried_fresh = True
            return True

    def _fetch(self, *, fresh: bool) -> AccessToken:
        try:
            return self.provider.token(self.scope, fresh=fresh)
        except CredentialsRejected as exc:
            # the authority refused the app or did not answer: this run ends, the next
            # one asks again (as the EWS transport does); the reason is the method's
            raise MailboxUnavailable(
                str(exc), credentials=False, rediscover=False, code="NoToken"
            ) from None


def _json(response: requests.Response) -> Any:
    """The JSON body of an answer (``None``: empty or not JSON)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
