"""``EmulatorServer``: a fake Exchange 2016 EWS endpoint over real HTTPS on loopback.

Serves, on one port:

* ``POST /EWS/Exchange.asmx`` - SOAP EWS operations (see ``operations/``), path case-insensitive;
* ``POST /autodiscover/autodiscover.svc`` - SOAP Autodiscover ``GetUserSettings``;
* ``POST /{tenant}/oauth2/v2.0/token`` - OAuth2 client-credentials token endpoint;
* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` - OIDC metadata for MSAL.
"""

from __future__ import annotations

import base64
import collections
import contextvars
import functools
import json
import logging
import secrets
import socket
import ssl
import struct
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lxml import etree

from ..tls import CaBundle, session_ca
from . import operations, render
from .faults import Faults
from .operations.base import Context
from .store import EwsError, Mailbox
from .xmlutil import (
    AUTOD,
    ERR,
    MAX_BODY_BYTES,
    NSMAP,
    SOAP,
    M,
    T,
    XmlError,
    el,
    local,
    mq,
    parse_xml,
    sub,
    tq,
)

log = logging.getLogger(__name__)

SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "1",
    "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6",
    "Version": "Exchange2016",
}
SUPPORTED_SCHEMAS = (
    "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
    "Exchange2013, Exchange2013_SP1, Exchange2016"
)
#: RequestServerVersion values, oldest first.
API_VERSIONS = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
)
KNOWN_API_VERSIONS = frozenset(API_VERSIONS)


@dataclass
class User:
    email: str
    password: str
    username: str
    display_name: str
    mailbox: Mailbox
    impersonator: bool = False
    redirect_to: str | None = None
    #: Autodiscover answers this user with ErrorCode RedirectUrl to this URL.
    redirect_url: str | None = None
    #: GetUserPhoto's picture (None: no photo, answered with HTTP 404).
    photo: bytes | None = None


@dataclass
class App:
    client_id: str
    client_secret: str
    tenant: str


@dataclass
class Token:
    value: str
    principal: object  # User or App
    expires_at: float
    scopes: list[str] = field(default_factory=list)
    revoked: bool = False


class HttpResponse(Exception):
    """Raised inside request handling to answer with a given HTTP response."""

    def __init__(self, status: int, body: bytes = b"", headers=None, close=False):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}
        self.close = close


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = 30

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def do_POST(self):
        self.server.emulator._dispatch(self, "POST")

    def do_GET(self):
        self.server.emulator._dispatch(self, "GET")

    def do_HEAD(self):
        self.server.emulator._dispatch(self, "HEAD")

    def send_raw(self, status: int, body: bytes, headers: dict, head_only=False) -> None:
        """Write status line, headers and body in one buffered write (no Nagle stalls)."""
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", "Server: Microsoft-IIS/10.0"]
        lines.append(f"Date: {self.date_time_string()}")
        for k, v in headers.items():
            if isinstance(v, list | tuple):
                lines.extend(f"{k}: {x}" for x in v)
            else:
                lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if head_only else head + body)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, emulator, ssl_context):
        self.emulator = emulator
        self.ssl_context = ssl_context
        self.active: set = set()
        self.active_lock = threading.Lock()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request.settimeout(10)
        try:
            conn = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            request.close()
            return
        self.emulator._count_handshake()
        with self.active_lock:
            self.active.add(conn)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self.active_lock:
                self.active.discard(conn)
            try:
                conn.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log.debug("Connection error from %s", client_address, exc_info=True)

    def close_active(self):
        with self.active_lock:
            conns = list(self.active)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EmulatorServer:
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
        self.host = host
        self.port = port
        self.validate = validate
        self.ca = ca or session_ca()
        self.realm = realm or host
        self.min_tls = min_tls
        self.secret = secrets.token_hex(8)
        self._key = secrets.token_hex(3)
        self.faults = Faults()
        self.latency = self.faults.latency
        self.counts: collections.Counter = collections.Counter()
        self._counts_lock = threading.Lock()
        #: TLS handshakes completed (new connections), since start or ``reset_counts``.
        self.handshakes = 0
        self.schema_errors: list[str] = []
        # (operation, server-side seconds) per EWS request, newest last (bounded).
        self.timings: collections.deque = collections.deque(maxlen=100_000)
        self.errors: list[str] = []  # unexpected server-side exceptions (tracebacks, not sent)
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._logins: dict[str, User] = {}
        self._apps: dict[str, App] = {}
        self._tokens: dict[str, Token] = {}
        self._full_access: set[tuple[str, str]] = set()
        #: The EWS URL Autodiscover announces (``None``: this server's own ``ews_url``);
        #: tests set it to play a server that sends clients elsewhere.
        self.announced_ews_url: str | None = None
        self._httpd: _HttpServer | None = None
        self._last_op: contextvars.ContextVar = contextvars.ContextVar("op", default=None)
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
        self._httpd = _HttpServer((self.host, self.port), _Handler, self, ctx)
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
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    @property
    def ews_url(self) -> str:
        return f"{self.base_url}/EWS/Exchange.asmx"

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

    # ------------------------------------------------------------------ users & auth
    def add_user(
        self,
        email: str,
        password: str,
        username: str | None = None,
        impersonator: bool = False,
        display_name: str | None = None,
        redirect_to: str | None = None,
        redirect_url: str | None = None,
    ) -> Mailbox:
        """Create a user and mailbox. ``username`` is an extra login (UPN or ``DOMAIN\\user``);
        the e-mail address always works as login too. Returns the user's mailbox.
        ``redirect_to`` / ``redirect_url``: Autodiscover answers RedirectAddress /
        RedirectUrl for this user."""
        email = email.lower()
        with self._lock:
            if email in self._users:
                raise ValueError(f"User {email} already exists")
            mailbox = Mailbox(self._key, len(self._users) + 1, email, display_name)
            user = User(
                email=email,
                password=password,
                username=username or email,
                display_name=mailbox.display_name,
                mailbox=mailbox,
                impersonator=impersonator,
                redirect_to=redirect_to,
                redirect_url=redirect_url,
            )
            self._users[email] = user
            self._logins[email] = user
            self._logins[user.username.lower()] = user
            return mailbox

    def user(self, email: str) -> User | None:
        return self._users.get(email.lower())

    def users_snapshot(self) -> list[User]:
        with self._lock:
            return list(self._users.values())

    def mailbox(self, email: str) -> Mailbox | None:
        user = self._users.get((email or "").lower())
        return user.mailbox if user else None

    def set_photo(self, email: str, data: bytes | None) -> None:
        """Give a user the photo GetUserPhoto returns (None: no photo, HTTP 404)."""
        self._users[email.lower()].photo = data

    def owner_of_id(self, ews_id: str) -> Mailbox | None:
        """The mailbox an EWS item/folder/occurrence id of this server belongs to (ids name
        their mailbox, as Exchange's name the mailbox GUID), or None for a foreign id."""
        try:
            text = base64.b64decode(ews_id, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        parts = text.split(":")
        if len(parts) < 4 or parts[1] != self._key or not parts[2].isdigit():
            return None
        number = int(parts[2])
        return next((u.mailbox for u in self.users_snapshot() if u.mailbox.number == number), None)

    def set_impersonator(self, email: str, allowed: bool = True) -> None:
        self._users[email.lower()].impersonator = allowed

    def grant_full_access(self, owner: str, delegate: str) -> None:
        """Let ``delegate`` open ``owner``'s mailbox (delegate access, no impersonation)."""
        with self._lock:
            self._full_access.add((owner.lower(), delegate.lower()))

    def has_full_access(self, principal, mailbox: Mailbox) -> bool:
        if isinstance(principal, App):
            return True
        if isinstance(principal, User):
            return (
                principal.mailbox is mailbox
                or (mailbox.email, principal.email) in self._full_access
            )
        return False

    def mailboxes_accessible(self, principal) -> list[Mailbox]:
        return [
            u.mailbox for u in self.users_snapshot() if self.has_full_access(principal, u.mailbox)
        ]

    def add_app(self, client_id: str, client_secret: str, tenant: str = "common") -> App:
        """Register an OAuth2 app; its client-credentials tokens act as full_access_as_app."""
        app = App(client_id, client_secret, tenant)
        with self._lock:
            self._apps[client_id] = app
        return app

    def issue_token(self, principal: str, expires_in: int = 3600) -> str:
        """Issue a Bearer token for a user e-mail or app client id (for tests)."""
        target = self._users.get(principal.lower()) or self._apps.get(principal)
        if target is None:
            raise KeyError(principal)
        return self._new_token(target, expires_in).value

    def _new_token(self, principal, expires_in: int, scopes=()) -> Token:
        token = Token(secrets.token_urlsafe(32), principal, time.time() + expires_in, list(scopes))
        with self._lock:
            self._tokens[token.value] = token
        return token

    def revoke_token(self, value: str) -> None:
        with self._lock:
            if value in self._tokens:
                self._tokens[value].revoked = True

    def expire_tokens(self) -> None:
        """Make every issued token expired."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0

    def _authenticate(self, header: str | None):
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                login, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            user = self._logins.get(login.lower())
            if user is None and "\\" in login:
                user = self._logins.get(login.split("\\", 1)[1].lower())
            if user is not None and secrets.compare_digest(user.password, password):
                return user
            return None
        if scheme.lower() == "bearer":
            token = self._tokens.get(value.strip())
            if token is None or token.revoked or token.expires_at < time.time():
                return None
            return token.principal
        return None

    def _unauthorized(self, bearer_error: bool = False) -> HttpResponse:
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
        import copy

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
                from .xmlutil import insert_ordered

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

    def reset_counts(self) -> None:
        with self._counts_lock:
            self.counts.clear()
            self.handshakes = 0

    def _count_handshake(self) -> None:
        with self._counts_lock:
            self.handshakes += 1

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self.counts[name] += 1

    # ------------------------------------------------------------------ HTTP dispatch
    def _dispatch(self, handler: _Handler, method: str) -> None:
        path = urllib.parse.urlsplit(handler.path).path.lower().rstrip("/")
        try:
            if method == "POST":
                body = self._read_body(handler)
            else:
                body = b""
            if path == "/ews/exchange.asmx":
                if method != "POST":
                    raise HttpResponse(405, b"", {"Allow": "POST"})
                started = time.perf_counter()
                status, out, headers = self._ews(handler, body)
                self.timings.append((self._last_op.get(), time.perf_counter() - started))
            elif path == "/ews/exchange.asmx/s/getuserphoto":
                if method == "POST":
                    raise HttpResponse(405, b"", {"Allow": "GET"})
                status, out, headers = self._rest_user_photo(handler)
            elif path in (
                "/autodiscover/autodiscover.svc",
                "/autodiscover/autodiscover.svc/wssecurity",
            ):
                if method != "POST":
                    raise HttpResponse(200, b"", {"Content-Type": "text/html"})
                status, out, headers = self._autodiscover(handler, body)
            elif path.endswith("/oauth2/v2.0/token") and method == "POST":
                status, out, headers = self._token(handler, body, path.split("/")[1])
            elif path.endswith("/v2.0/.well-known/openid-configuration"):
                status, out, headers = self._openid(path.split("/")[1])
            else:
                raise HttpResponse(404, b"Not Found", {"Content-Type": "text/plain"})
        except HttpResponse as resp:
            if resp.close:
                handler.close_connection = True
            handler.send_raw(resp.status, resp.body, resp.headers, head_only=method == "HEAD")
            return
        except _ConnectionReset:
            handler.close_connection = True
            return
        except Exception:  # never leak a traceback; record it so fixtures fail the test
            tb = traceback.format_exc()
            log.error("EWS emulator failure:\n%s", tb)
            self.errors.append(tb)
            status, out = 500, self._fault_bytes("ErrorInternalServerError", "Internal error.")
            headers = {"Content-Type": "text/xml; charset=utf-8"}
        handler.send_raw(status, out, headers, head_only=method == "HEAD")

    def _rest_user_photo(self, handler: _Handler):
        """GetUserPhoto's REST form (Exchange 2013+), ``GET /EWS/Exchange.asmx/s/
        GetUserPhoto?email=...&size=HR48x48``: the image itself, 304 when ``If-None-Match``
        still matches, 404 when the user has no photo or does not exist."""
        from .operations.get_user_photo import photo_etag, photo_type

        auth_header = handler.headers.get("Authorization")
        if self._authenticate(auth_header) is None:
            raise self._unauthorized(bearer_error=bool(auth_header and "earer" in auth_header[:7]))
        self._count("GetUserPhoto")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(handler.path).query)
        email = (query.get("email") or [""])[0]
        user = self.user(email) if email else None
        photo = user.photo if user is not None else None
        if not photo:
            return 404, b"", {}
        etag = photo_etag(photo)
        if handler.headers.get("If-None-Match") == etag:
            return 304, b"", {"ETag": etag}
        return 200, photo, {"Content-Type": photo_type(photo), "ETag": etag}

    def _read_body(self, handler: _Handler) -> bytes:
        te = (handler.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            for _ in range(100000):
                line = handler.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline(1024)
                    break
                total += size
                if total > MAX_BODY_BYTES:
                    raise self._too_large()
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline(1024)
            return b"".join(chunks)
        try:
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpResponse(400, b"Bad Content-Length", close=True) from None
        if length > MAX_BODY_BYTES:
            raise self._too_large()
        return handler.rfile.read(length) if length else b""

    def _too_large(self) -> HttpResponse:
        body = self._fault_bytes(
            "ErrorInvalidRequest",
            f"The request body exceeds the {MAX_BODY_BYTES} byte limit.",
        )
        return HttpResponse(413, body, {"Content-Type": "text/xml; charset=utf-8"}, close=True)

    # ------------------------------------------------------------------ EWS
    def _ews(self, handler: _Handler, body: bytes):
        auth_header = handler.headers.get("Authorization")
        principal = self._authenticate(auth_header)
        if principal is None:
            raise self._unauthorized(bearer_error=bool(auth_header and "earer" in auth_header[:7]))
        try:
            root = parse_xml(body)
        except XmlError as e:
            self._count("<invalid>")
            return self._fault(
                "ErrorSchemaValidation", f"The request failed schema validation: {e}"
            )
        soap_body = root.find(f"{{{SOAP}}}Body") if root.tag == f"{{{SOAP}}}Envelope" else None
        if soap_body is None or len(soap_body) == 0:
            self._count("<invalid>")
            return self._fault("ErrorInvalidRequest", "The request is invalid: no SOAP body.")
        request = soap_body[0]
        op_name = local(request.tag)
        self._last_op.set(op_name)
        self._count(op_name)
        delay = self.faults.latency_for(op_name)
        if delay:
            time.sleep(delay)
        fault = self.faults.take_transport(op_name)
        if fault is not None:
            result = self._apply_fault(handler, fault)
            if result is not None:
                return result
        op_cls = operations.REGISTRY.get(op_name) if request.tag == f"{{{M}}}{op_name}" else None
        if op_cls is None:
            return self._unknown_operation(root, request, op_name)
        if self.validate:
            errs = _validate(root)
            if errs:
                self._record_schema_errors("request", op_name, errs)
                return self._fault(
                    "ErrorSchemaValidation",
                    "The request failed schema validation: " + "; ".join(errs[:3]),
                )
        header = root.find(f"{{{SOAP}}}Header")
        api_version = "Exchange2016"
        if header is not None:
            rsv = header.find(tq("RequestServerVersion"))
            if rsv is not None:
                api_version = rsv.get("Version", api_version)
        if api_version not in KNOWN_API_VERSIONS:
            return self._fault(
                "ErrorInvalidServerVersion", "The specified server version is invalid."
            )
        if op_cls.MIN_VERSION and API_VERSIONS.index(api_version) < API_VERSIONS.index(
            op_cls.MIN_VERSION
        ):
            return self._fault(
                "ErrorInvalidServerVersion",
                "The request is valid but does not specify the correct server version in the "
                "RequestServerVersion SOAP header. Ensure that the RequestServerVersion SOAP "
                "header is set with the correct RequestServerVersionValue.",
            )
        wanted = newer = None
        deviations = render.collect_deviations()
        try:
            mailbox = self._effective_mailbox(principal, header, handler)
            ctx = Context(self, principal, mailbox, _header_dict(handler.headers), api_version)
            op = op_cls(ctx)
            response = op.handle(request)
            wanted = self.faults.take(op_name, "response_code")
            if wanted is not None:
                _answer_with_code(op, response, wanted)
                from .schema import response_codes

                # a code this schema lacks (a newer server's) cannot validate against it
                newer = wanted.code not in response_codes()
        except EwsError as e:
            render.apply_deviations(deviations, apply=False)
            return self._fault(e.code, e.text, e.message_xml)
        except Exception:  # never leak a traceback to the client
            render.apply_deviations(deviations, apply=False)
            tb = traceback.format_exc()
            log.error("EWS emulator failure in %s:\n%s", op_name, tb)
            self.errors.append(f"{op_name}: {tb}")
            return self._fault("ErrorInternalServerError", "An internal server error occurred.")
        envelope = self._envelope(response)
        if self.validate and not newer:
            errs = _validate(envelope)
            if errs:
                render.apply_deviations(deviations, apply=False)
                self._record_schema_errors("response", op_name, errs)
                return self._fault(
                    "ErrorSchemaValidation",
                    "The emulator produced an invalid response: " + "; ".join(errs[:3]),
                )
        # what real Exchange sends unlike its schema, for items seeded with quirks
        render.apply_deviations(deviations)
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        if op.http_headers:
            headers.update(op.http_headers)
        return op.http_status, _serialize(envelope), headers

    def _unknown_operation(self, root, request, op_name: str):
        """Answer an operation the emulator does not implement as Exchange answers a request
        it cannot dispatch: a SOAP fault (HTTP 500) with ``ErrorInvalidRequest``. One that
        Microsoft's schema declares is schema-validated first, as on Exchange (a malformed
        request gets ``ErrorSchemaValidation``, not a misleading "unknown operation").
        ``SOAP fault`` rather than a response message: a response needs the operation's own
        message types, and a client sees the fault exactly as from a server without it."""
        declared = request.tag == f"{{{M}}}{op_name}" and _declared_operation(op_name)
        if declared and self.validate:
            errs = _validate(root)
            if errs:
                self._record_schema_errors("request", op_name, errs)
                return self._fault(
                    "ErrorSchemaValidation",
                    "The request failed schema validation: " + "; ".join(errs[:3]),
                )
        what = "not supported by this server" if declared else "an unknown operation"
        return self._fault("ErrorInvalidRequest", f"The request is invalid: {op_name} is {what}.")

    def _record_schema_errors(self, direction: str, op: str, errs: list[str]) -> None:
        with self._lock:
            self.schema_errors.extend(f"{direction} {op}: {e}" for e in errs)

    def _effective_mailbox(self, principal, header, handler) -> Mailbox:
        imp = header.find(tq("ExchangeImpersonation")) if header is not None else None
        if imp is not None:
            sid = imp.find(tq("ConnectingSID"))
            target = None
            for tag in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID"):
                target = sid.findtext(tq(tag)) if sid is not None else None
                if target:
                    break
            allowed = isinstance(principal, App) or (
                isinstance(principal, User) and principal.impersonator
            )
            user = self._logins.get((target or "").lower())
            if not allowed:
                raise EwsError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            if user is None:
                raise EwsError(
                    "ErrorNonExistentMailbox",
                    f"The SMTP address has no mailbox associated with it: {target}",
                )
            return user.mailbox
        if isinstance(principal, User):
            return principal.mailbox
        anchor = handler.headers.get("X-AnchorMailbox")
        mbx = self.mailbox(anchor or "")
        if mbx is None:
            raise EwsError(
                "ErrorMissingEmailAddress",
                "When making a request as an account that does not have a mailbox, you must "
                "specify the mailbox primary SMTP address for any distinguished folders.",
            )
        return mbx

    def _apply_fault(self, handler: _Handler, fault):
        if fault.kind == "slow":
            time.sleep(fault.delay)
            return None
        if fault.kind == "server_busy":
            xml = el("t:MessageXml")
            sub(xml, "t:Value", fault.back_off_ms, {"Name": "BackOffMilliseconds"})
            return self._fault(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                xml,
            )
        if fault.kind == "soap_fault":
            return self._fault(fault.code, fault.text)
        if fault.kind == "http_503":
            headers = {"Content-Type": "text/html"}
            if fault.retry_after:
                headers["Retry-After"] = str(fault.retry_after)
            return 503, b"Service Unavailable", headers
        if fault.kind == "connection_reset":
            handler.close_connection = True
            partial = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 5000\r\n\r\n<?xml"
            )
            try:
                handler.wfile.write(partial)
                handler.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                handler.connection.close()
            except OSError:
                pass
            raise _ConnectionReset()
        return None

    def _envelope(self, response, header_extra=()):
        env = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
        header = etree.SubElement(env, f"{{{SOAP}}}Header")
        etree.SubElement(header, tq("ServerVersionInfo"), attrib=SERVER_VERSION)
        for h in header_extra:
            header.append(h)
        etree.SubElement(env, f"{{{SOAP}}}Body").append(response)
        etree.cleanup_namespaces(env, top_nsmap=NSMAP)
        return env

    def _fault(self, code: str, text: str, message_xml=None):
        return (
            500,
            self._fault_bytes(code, text, message_xml),
            {"Content-Type": "text/xml; charset=utf-8"},
        )

    def _fault_bytes(self, code: str, text: str, message_xml=None) -> bytes:
        env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
        header = etree.SubElement(env, f"{{{SOAP}}}Header")
        etree.SubElement(header, tq("ServerVersionInfo"), attrib=SERVER_VERSION, nsmap={"h": T})
        body = etree.SubElement(env, f"{{{SOAP}}}Body")
        fault = etree.SubElement(body, f"{{{SOAP}}}Fault")
        fc = etree.SubElement(fault, "faultcode", nsmap={"a": T})
        fc.text = f"a:{code}"
        fs = etree.SubElement(fault, "faultstring")
        fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
        fs.text = text
        detail = etree.SubElement(fault, "detail")
        rc = etree.SubElement(detail, f"{{{ERR}}}ResponseCode", nsmap={"e": ERR})
        rc.text = code
        msg = etree.SubElement(detail, f"{{{ERR}}}Message", nsmap={"e": ERR})
        msg.text = text
        if message_xml is not None:
            detail.append(message_xml)
        return _serialize(env)

    # ------------------------------------------------------------------ Autodiscover
    def _autodiscover(self, handler: _Handler, body: bytes):
        principal = self._authenticate(handler.headers.get("Authorization"))
        if principal is None:
            raise self._unauthorized()
        self._count("GetUserSettings")
        try:
            root = parse_xml(body)
        except XmlError as e:
            return self._fault("ErrorSchemaValidation", str(e))
        req = root.find(
            f"{{{SOAP}}}Body/{{{AUTOD}}}GetUserSettingsRequestMessage/{{{AUTOD}}}Request"
        )
        if req is None:
            return self._fault("ErrorInvalidRequest", "Expected GetUserSettingsRequestMessage")
        fault = self.faults.take_transport("GetUserSettings")
        if fault is not None:
            result = self._apply_fault(handler, fault)
            if result is not None:
                return result
        wanted = [s.text for s in req.iter(f"{{{AUTOD}}}Setting") if s.text]
        a = lambda name: f"{{{AUTOD}}}{name}"  # noqa: E731
        env = etree.Element(
            f"{{{SOAP}}}Envelope",
            nsmap={
                "s": SOAP,
                "a": "http://www.w3.org/2005/08/addressing",
                "i": "http://www.w3.org/2001/XMLSchema-instance",
            },
        )
        header = etree.SubElement(env, f"{{{SOAP}}}Header")
        action = etree.SubElement(header, "{http://www.w3.org/2005/08/addressing}Action")
        action.text = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
        svi = etree.SubElement(header, a("ServerVersionInfo"), nsmap={"h": AUTOD})
        for k in (
            "MajorVersion",
            "MinorVersion",
            "MajorBuildNumber",
            "MinorBuildNumber",
            "Version",
        ):
            etree.SubElement(svi, a(k)).text = SERVER_VERSION[k]
        sbody = etree.SubElement(env, f"{{{SOAP}}}Body")
        msg = etree.SubElement(sbody, a("GetUserSettingsResponseMessage"), nsmap={None: AUTOD})
        resp = etree.SubElement(msg, a("Response"))
        etree.SubElement(resp, a("ErrorCode")).text = "NoError"
        etree.SubElement(resp, a("ErrorMessage"))
        responses = etree.SubElement(resp, a("UserResponses"))
        for mbx_elem in req.iter(f"{{{AUTOD}}}Mailbox"):
            email = (mbx_elem.text or "").strip().lower()
            ur = etree.SubElement(responses, a("UserResponse"))
            user = self._users.get(email)
            if user is None:
                etree.SubElement(ur, a("ErrorCode")).text = "InvalidUser"
                etree.SubElement(ur, a("ErrorMessage")).text = f"Invalid user: '{email}'"
                continue
            if user.redirect_to:
                etree.SubElement(ur, a("ErrorCode")).text = "RedirectAddress"
                etree.SubElement(ur, a("ErrorMessage")).text = "Redirection address."
                etree.SubElement(ur, a("RedirectTarget")).text = user.redirect_to
                continue
            if user.redirect_url:
                etree.SubElement(ur, a("ErrorCode")).text = "RedirectUrl"
                etree.SubElement(ur, a("ErrorMessage")).text = "Redirection URL."
                etree.SubElement(ur, a("RedirectTarget")).text = user.redirect_url
                continue
            etree.SubElement(ur, a("ErrorCode")).text = "NoError"
            etree.SubElement(ur, a("ErrorMessage")).text = "No error."
            values = {
                "UserDisplayName": user.display_name,
                "UserDN": f"/o=WESS/ou=Emulator/cn=Recipients/cn={user.email}",
                "AutoDiscoverSMTPAddress": user.email,
                "ExternalEwsUrl": self.announced_ews_url or self.ews_url,
                "InternalEwsUrl": self.announced_ews_url or self.ews_url,
                "EwsSupportedSchemas": SUPPORTED_SCHEMAS,
                "CasVersion": "15.01.2507.006",
                "ExternalEwsVersion": "15.01.2507.006",
            }
            errors = etree.SubElement(ur, a("UserSettingErrors"))
            settings = etree.SubElement(ur, a("UserSettings"))
            for name in wanted:
                if name in values:
                    s = etree.SubElement(settings, a("UserSetting"))
                    s.set("{http://www.w3.org/2001/XMLSchema-instance}type", "StringSetting")
                    etree.SubElement(s, a("Name")).text = name
                    etree.SubElement(s, a("Value")).text = values[name]
                else:
                    e = etree.SubElement(errors, a("UserSettingError"))
                    etree.SubElement(e, a("ErrorCode")).text = "SettingIsNotAvailable"
                    etree.SubElement(e, a("ErrorMessage")).text = "Setting is not available."
                    etree.SubElement(e, a("SettingName")).text = name
        return 200, _serialize(env), {"Content-Type": "text/xml; charset=utf-8"}

    # ------------------------------------------------------------------ OAuth2 / OIDC
    def _openid(self, tenant: str):
        base = self.authority(tenant)
        doc = {
            "issuer": f"{base}/v2.0",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["code", "token"],
            "scopes_supported": ["openid", "offline_access"],
            "tenant_region_scope": "EU",
        }
        return 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}

    def _token(self, handler: _Handler, body: bytes, tenant: str):
        self._count("<token>")
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        get = lambda k: (form.get(k) or [None])[0]  # noqa: E731
        client_id, client_secret = get("client_id"), get("client_secret")
        auth = handler.headers.get("Authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                cid, _, csec = base64.b64decode(auth[6:]).decode().partition(":")
                client_id = urllib.parse.unquote_plus(cid)
                client_secret = urllib.parse.unquote_plus(csec)
            except (ValueError, UnicodeDecodeError):
                pass

        def error(status, code, desc):
            doc = {"error": code, "error_description": desc}
            return status, json.dumps(doc).encode(), {"Content-Type": "application/json"}

        if get("grant_type") != "client_credentials":
            return error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        app = self._apps.get(client_id or "")
        if app is None or not secrets.compare_digest(app.client_secret, client_secret or ""):
            return error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
        if app.tenant not in ("common", tenant):
            return error(400, "invalid_request", "AADSTS90002: Tenant not found.")
        scopes = (get("scope") or "").split()
        token = self._new_token(app, 3600, scopes)
        doc = {
            "token_type": "Bearer",
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": token.value,
        }
        return 200, json.dumps(doc).encode(), {"Content-Type": "application/json"}


def _answer_with_code(op, response, fault) -> None:
    """Turn one response message of ``response`` into an error with ``fault.code``, as
    Exchange writes one: MessageText, ResponseCode, DescriptiveLinkKey, then the
    operation's containers left empty (a Sync* message: an empty SyncState and
    IncludesLast...InRange true, or nothing when ``fault.sync_elements`` is false)."""
    container = response.find(mq("ResponseMessages"))
    messages = list(container) if container is not None else []
    if not messages:
        return
    old = messages[min(fault.index, len(messages) - 1)]
    msg = el(f"m:{local(old.tag)}", attrib={"ResponseClass": "Error"})
    sub(msg, "m:MessageText", fault.text)
    sub(msg, "m:ResponseCode", fault.code)
    sub(msg, "m:DescriptiveLinkKey", 0)
    standard = {"MessageText", "ResponseCode", "DescriptiveLinkKey", "MessageXml"}
    for child in old:
        name = local(child.tag)
        if name in standard:
            continue
        if name == "SyncState" or name.startswith("IncludesLast"):
            if fault.sync_elements:
                sub(msg, f"m:{name}", "true" if name.startswith("IncludesLast") else None)
        elif name in ("Items", "Folders"):
            sub(msg, f"m:{name}")
    container.replace(old, msg)


def _header_dict(message) -> dict[str, str]:
    """``dict(message)`` (every name; each the value of its first occurrence, names
    compared case-insensitively) in one pass: ``dict()`` looks each name up again."""
    items = message.items()
    first: dict[str, str] = {}
    for name, value in items:
        first.setdefault(name.lower(), value)
    return {name: first[name.lower()] for name, _ in items}


class _ConnectionReset(Exception):
    pass


def _declared_operation(name: str) -> bool:
    """Whether messages.xsd declares ``name`` as a request element (read once)."""
    return name in _declared_operations()


@functools.cache
def _declared_operations() -> frozenset[str]:
    from .xmlutil import SCHEMA_DIR

    xs = "{http://www.w3.org/2001/XMLSchema}"
    root = etree.parse(str(SCHEMA_DIR / "messages.xsd")).getroot()
    names = set()
    for e in root.iterchildren(f"{xs}element"):
        name, type_name = e.get("name") or "", e.get("type") or ""
        if type_name.startswith("m:") and not name.endswith(("Response", "ResponseMessage")):
            names.add(name)
    return frozenset(names)


def _serialize(root) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=True)


def _validate(envelope) -> list[str]:
    from .schema import envelope_errors

    # Re-parse from bytes so the validated tree is exactly what goes on the wire.
    return envelope_errors(etree.fromstring(_serialize(envelope)))
