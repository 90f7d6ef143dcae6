"""``EmulatorServer``: a fake Exchange 2016 EWS endpoint over real HTTPS on loopback.

Serves, on one port:

* ``POST /EWS/Exchange.asmx`` - SOAP EWS operations (``ews_endpoint``, ``operations/``),
  path case-insensitive;
* ``GET /EWS/Exchange.asmx/s/GetUserPhoto`` - the REST form of GetUserPhoto;
* ``POST /autodiscover/autodiscover.svc`` - SOAP Autodiscover ``GetUserSettings``;
* ``POST /{tenant}/oauth2/v2.0/token`` - OAuth2 client-credentials token endpoint (``oauth``);
* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` - OIDC metadata for MSAL;
* ``/graph/v1.0/...`` - Microsoft Graph over the same mailboxes (``graph``), any method.

Users, apps and tokens are the :class:`~.directory.Directory` this server extends.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import copy
import json
import logging
import secrets
import ssl
import threading
import time
import traceback
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from ..tls import CaBundle, session_ca
from . import autodiscover, ews_endpoint, graph, oauth
from .directory import App, Directory, Token, User
from .faults import Faults
from .httpd import ConnectionReset, Handler, HttpResponse, HttpServer, read_body
from .operations.get_user_photo import rest_user_photo
from .soap import XML_HEADERS, fault_bytes
from .store import Mailbox
from .subscriptions import Subscriptions
from .xmlutil import el, insert_ordered, sub, tq

__all__ = ["App", "EmulatorServer", "HttpResponse", "Token", "User"]

log = logging.getLogger(__name__)

_AUTODISCOVER_PATHS = (
    "/autodiscover/autodiscover.svc",
    "/autodiscover/autodiscover.svc/wssecurity",
)


class EmulatorServer(Directory):
    """A fake Exchange server. Start with :meth:`start` (or ``with EmulatorServer() as s:``)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        validate: bool = False,
        seed: str | Path | dict | None = None,
        ca: CaBundle | None = None,
        realm: str | None = None,
        min_tls: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    ):
        super().__init__(secrets.token_hex(3))
        self.host = host
        self.port = port
        self.validate = validate
        self.ca = ca or session_ca()
        self.realm = realm or host
        self.min_tls = min_tls
        self.secret = secrets.token_hex(8)
        self.faults = Faults()
        #: The Graph endpoint's test controls (``deny``/``allow``, ``translate_for_apps``).
        self.graph = graph.GraphControls(self)
        self.latency = self.faults.latency
        self.counts: collections.Counter = collections.Counter()
        #: The part of ``counts`` sent inside Graph ``$batch`` requests, by operation
        #: (the requests on the wire are ``counts`` minus these).
        self.batched: collections.Counter = collections.Counter()
        self._counts_lock = threading.Lock()
        #: TLS handshakes completed (new connections), since start or ``reset_counts``.
        self.handshakes = 0
        #: EWS requests being answered now, and the most at once since start or
        #: ``reset_counts``, by login (a user's e-mail, an app's client id).
        self._in_flight: collections.Counter = collections.Counter()
        self._peak_in_flight: collections.Counter = collections.Counter()
        self.schema_errors: list[str] = []
        # (operation, server-side seconds) per EWS request, newest last (bounded).
        self.timings: collections.deque = collections.deque(maxlen=100_000)
        self.errors: list[str] = []  # unexpected server-side exceptions (tracebacks, not sent)
        #: The EWS URL Autodiscover announces (``None``: this server's own ``ews_url``);
        #: tests set it to play a server that sends clients elsewhere.
        self.announced_ews_url: str | None = None
        #: The EWS operation the current request thread is answering (for ``timings``).
        self.last_operation: contextvars.ContextVar = contextvars.ContextVar("op", default=None)
        #: Pull and streaming subscriptions (Subscribe / GetEvents / GetStreamingEvents).
        self.subscriptions = Subscriptions(self.secret)
        #: A cap on GetStreamingEvents' ConnectionTimeout, in seconds (tests: short streams).
        self.streaming_timeout_seconds: float | None = None
        #: One record per GetStreamingEvents accepted: its subscription ids and the
        #: affinity headers it carried (``anchor``, ``affinity``, ``cookie``), in order.
        self.stream_requests: list[dict] = []
        #: GetStreamingEvents answers still streaming.
        self.streams_open = 0
        self._httpd: HttpServer | None = None
        self._thread: threading.Thread | None = None
        if seed is not None:
            self.load_seed(seed)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        names = dict.fromkeys([self.host, "localhost", "127.0.0.1", "::1"])
        leaf = self.ca.leaf(*names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = self.min_tls
        leaf.configure_cert(ctx)
        self._httpd = HttpServer((self.host, self.port), Handler, self, ctx)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ews-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_active()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def serving(self) -> bool:
        """Whether the server is started and not stopped (long answers end when not)."""
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        """Microsoft Graph v1.0 on this server (what ``https://graph.microsoft.com/v1.0`` is)."""
        return f"{self.base_url}{graph.PREFIX}"

    @property
    def autodiscover_url(self) -> str:
        return f"{self.base_url}/autodiscover/autodiscover.svc"

    @property
    def ca_cert(self) -> str:
        return self.ca.path

    def authority(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}"

    def token_url(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}/oauth2/v2.0/token"

    def unauthorized(self, bearer_error: bool = False) -> HttpResponse:
        """The 401 answer with this server's Basic and Bearer challenges."""
        challenges = [f'Basic realm="{self.realm}"']
        challenges.append(
            'Bearer error="invalid_token"' if bearer_error else f'Bearer realm="{self.realm}"'
        )
        return HttpResponse(401, b"", {"WWW-Authenticate": challenges})

    # ------------------------------------------------------------------ seeding & mail flow
    def load_seed(self, seed: str | Path | dict) -> None:
        """Load users, folders and items from a JSON file (or an equivalent dict)::

        {"users": [{"email": "a@x", "password": "pw", "impersonator": false,
                    "folders": [{"name": "CRM", "parent": "contacts", "class": "IPF.Contact",
                                 "kind": "ContactsFolder"}],
                    "items": {"contacts": [{"GivenName": "Ann", "Surname": "Lee"}],
                              "CRM": [...]}}],
         "apps": [{"client_id": "...", "client_secret": "...", "tenant": "..."}]}
        """
        data = seed if isinstance(seed, dict) else json.loads(Path(seed).read_text("utf-8"))
        for u in data.get("users", []):
            mbx = self.mailbox(u["email"]) or self.add_user(
                u["email"],
                u["password"],
                username=u.get("username"),
                impersonator=u.get("impersonator", False),
                display_name=u.get("display_name"),
                redirect_to=u.get("redirect_to"),
            )
            named = {}
            for f in u.get("folders", []):
                parent = named.get(f.get("parent")) or mbx.folder(f.get("parent", "msgfolderroot"))
                named[f["name"]] = mbx.create_folder(
                    parent, f["name"], f.get("class", "IPF.Note"), f.get("kind", "Folder")
                )
            for folder_ref, records in u.get("items", {}).items():
                mbx.add_items(named.get(folder_ref) or mbx.folder(folder_ref), records)
        for a in data.get("apps", []):
            self.add_app(a["client_id"], a["client_secret"], a.get("tenant", "common"))

    def deliver(self, sender: Mailbox, elem) -> None:
        """Deliver a sent message to recipients that are local users (into their inbox)."""
        recipients = set()
        for tag in ("ToRecipients", "CcRecipients", "BccRecipients"):
            node = elem.find(tq(tag))
            if node is not None:
                for addr in node.iter(tq("EmailAddress")):
                    if addr.text:
                        recipients.add(addr.text.lower())
        for rcpt in sorted(recipients):
            mbx = self.mailbox(rcpt)
            if mbx is None:
                continue
            msg = copy.deepcopy(elem)
            for name in ("IsRead", "IsDraft", "BccRecipients"):
                for node in msg.findall(tq(name)):
                    msg.remove(node)
            if msg.find(tq("From")) is None:
                frm = el("t:From")
                box = sub(frm, "t:Mailbox")
                sub(box, "t:EmailAddress", sender.email)
                insert_ordered(msg, frm, "MessageType")
            mbx.create_item(mbx.distinguished["inbox"], msg)

    # ------------------------------------------------------------------ faults & stats
    def inject(self, kind: str, operation: str | None = None, times: int | None = 1, **kw):
        """Inject a fault; see :class:`~.faults.Fault` (server_busy, http_503,
        connection_reset, slow, invalid_sync_state, soap_fault: a SOAP fault with
        ``code`` and ``text``, e.g. server-supplied text a client must print safely;
        response_code: the operation's answer with its ``index``-th response message
        turned into ``ResponseClass="Error"`` with ``code`` and ``text``, any code of the
        schema, with or without a Sync* message's empty sync elements (``sync_elements``))."""
        return self.faults.inject(kind, operation=operation, times=times, **kw)

    def set_latency(self, seconds: float, operation: str | None = None) -> None:
        self.faults.set_latency(seconds, operation)

    def expire_subscriptions(self, login: str | None = None) -> int:
        """Age every subscription (of the mailbox of ``login`` only, when given) past its
        timeout: its next use answers ErrorExpiredSubscription. Returns how many."""
        mailbox = None
        if login is not None:
            user = self.user_by_login(login)
            if user is None:
                raise KeyError(login)
            mailbox = user.mailbox
        return self.subscriptions.expire(mailbox)

    def reset_counts(self) -> None:
        with self._counts_lock:
            self.counts.clear()
            self.batched.clear()
            self.handshakes = 0
            self._peak_in_flight = collections.Counter(self._in_flight)

    @contextlib.contextmanager
    def in_flight(self, login: str) -> Iterator[None]:
        """Count one EWS request made with ``login`` while it is answered."""
        with self._counts_lock:
            self._in_flight[login] += 1
            now = self._in_flight[login]
            self._peak_in_flight[login] = max(self._peak_in_flight[login], now)
        try:
            yield
        finally:
            with self._counts_lock:
                self._in_flight[login] -= 1

    def peak_in_flight(self, login: str) -> int:
        """The most EWS requests made with ``login`` (an e-mail or a client id) that
        were answered at once, since start or ``reset_counts``: how many connections a
        client really keeps busy with one login."""
        with self._counts_lock:
            return self._peak_in_flight[login.lower()]

    def count_handshake(self) -> None:
        with self._counts_lock:
            self.handshakes += 1

    def count_request(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    def count_batched(self, name: str) -> None:
        """Mark one counted request as a sub-request of a Graph ``$batch``."""
        with self._counts_lock:
            self.batched[name] += 1

    def record_schema_errors(self, direction: str, op: str, errs: list[str]) -> None:
        with self._lock:
            self.schema_errors.extend(f"{direction} {op}: {e}" for e in errs)

    # ------------------------------------------------------------------ HTTP dispatch
    def dispatch(self, handler: Handler, method: str) -> None:
        """Answer one HTTP request by its path; never lets an exception reach the client."""
        path = urllib.parse.urlsplit(handler.path).path.lower().rstrip("/")
        try:
            body = read_body(handler) if method in ("POST", "PATCH", "PUT") else b""
            if path.startswith(graph.PREFIX.lower() + "/") or path == graph.PREFIX.lower():
                status, out, headers = graph.handle(self, handler, method, body)
            elif method in ("PATCH", "DELETE"):
                raise HttpResponse(405, b"", {"Allow": "GET, POST"})
            elif path == "/ews/exchange.asmx":
                if method != "POST":
                    raise HttpResponse(405, b"", {"Allow": "POST"})
                started = time.perf_counter()
                status, out, headers = ews_endpoint.handle(self, handler, body)
                self.timings.append((self.last_operation.get(), time.perf_counter() - started))
                if not isinstance(out, bytes):
                    handler.send_chunked(status, out, headers)
                    return
            elif path == "/ews/exchange.asmx/s/getuserphoto":
                if method == "POST":
                    raise HttpResponse(405, b"", {"Allow": "GET"})
                status, out, headers = rest_user_photo(self, handler)
            elif path in _AUTODISCOVER_PATHS:
                if method != "POST":
                    raise HttpResponse(200, b"", {"Content-Type": "text/html"})
                status, out, headers = autodiscover.get_user_settings(self, handler, body)
            elif path.endswith("/oauth2/v2.0/token") and method == "POST":
                status, out, headers = oauth.token(self, handler, body, path.split("/")[1])
            elif path.endswith("/v2.0/.well-known/openid-configuration"):
                status, out, headers = oauth.openid_configuration(self, path.split("/")[1])
            else:
                raise HttpResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        except HttpResponse as resp:
            if resp.close:
                handler.close_connection = True
            handler.send_raw(resp.status, resp.body, resp.headers, head_only=method == "HEAD")
            return
        except ConnectionReset:
            handler.close_connection = True
            return
        except Exception:  # never leak a traceback; record it so fixtures fail the test
            tb = traceback.format_exc()
            log.error("EWS emulator failure:\n%s", tb)
            self.errors.append(tb)
            status, out = 500, fault_bytes("ErrorInternalServerError", "Internal error.")
            headers = dict(XML_HEADERS)
        handler.send_raw(status, out, headers, head_only=method == "HEAD")
