"""Microsoft Graph v1.0 at ``/graph/v1.0/...``: authentication, the route table, the
mailbox a request acts on (with its RBAC scope and concurrency limit), ``Prefer`` headers,
injected faults, request counting and JSON errors.

A resource module registers its handlers in :data:`ROUTES` with :func:`route`; a handler is
``handler(ctx: GraphRequest, match) -> (status, body dict or None, headers)``, and raises
:class:`GraphError` to answer with a Graph error.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..directory import App
from ..model import Folder, Item
from ..store import Mailbox
from . import ids

if TYPE_CHECKING:
    from ..server import EmulatorServer

log = logging.getLogger(__name__)

PREFIX = "/graph/v1.0"
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
GRAPH_SCOPE = "https://graph.microsoft.com"
DEFAULT_PAGE = 100
MAX_PAGE = 1000

Answer = tuple[int, dict | None, dict[str, str]]
Handler = Callable[["GraphRequest", re.Match], Answer]

#: (method, pattern over the path after ``/graph/v1.0``, handler), tried in order.
ROUTES: list[tuple[str, re.Pattern, Handler]] = []

#: The ``{u}`` segment of a mailbox path; a pattern naming it resolves ``ctx.mailbox``.
USER = r"/users/(?P<user>[^/]+)"


class GraphError(Exception):
    """An error answer: ``{"error": {"code", "message"}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str = "", headers=None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message or code
        self.headers: dict[str, str] = dict(headers or {})

    def answer(self) -> Answer:
        return self.status, {"error": {"code": self.code, "message": self.message}}, self.headers


def not_found(what: str = "The specified object was not found in the store.") -> GraphError:
    return GraphError(404, "ErrorItemNotFound", what)


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    return GraphError(400, code, message)


def route(method: str, pattern: str, operation: str) -> Callable[[Handler], Handler]:
    """Register a handler for ``method`` on ``pattern`` (a regex over the path after
    ``/graph/v1.0``, anchored at both ends) counted and faulted as ``graph:<operation>``."""

    def register(handler: Handler) -> Handler:
        handler.graph_operation = operation  # type: ignore[attr-defined]
        ROUTES.append((method, re.compile(pattern + r"/?\Z"), handler))
        return handler

    return register


def operation_of(handler: Handler) -> str:
    return getattr(handler, "graph_operation", None) or handler.__name__


@dataclass
class GraphRequest:
    """One Graph request (or one sub-request of a ``$batch``) as a handler sees it."""

    server: EmulatorServer
    method: str
    path: str
    query: dict[str, str]
    body: dict | None
    headers: dict[str, str]
    principal: object = None
    immutable: bool = False
    page_size: int = DEFAULT_PAGE
    mailbox: Mailbox | None = None
    #: The ``{u}`` of the request path, unquoted.
    user: str = ""
    operation: str = ""
    #: every ``Prefer`` value sent (a ``$batch`` passes its own on to sub-requests)
    prefer: list[str] = field(default_factory=list)

    @property
    def graph_url(self) -> str:
        return self.server.graph_url

    def link(self, query: dict[str, str]) -> str:
        """An absolute URL to this request's path with ``query`` (nextLink, deltaLink)."""
        path = urllib.parse.quote(self.path, safe="/@$:%")
        text = urllib.parse.urlencode(query, safe="$:'()", quote_via=urllib.parse.quote)
        return f"{self.graph_url}{path}?{text}" if text else f"{self.graph_url}{path}"

    def item_id_out(self, item: Item) -> str:
        """``item``'s id in the space the request's ``Prefer: IdType`` asks for."""
        return ids.item_id_out(self.require_mailbox(), item.id, self.immutable)

    def removed_id_out(self, item_id: str) -> str:
        """The id of a deleted store item ``item_id`` in the wanted space."""
        return ids.item_id_out(self.require_mailbox(), item_id, self.immutable)

    def resolve_item(self, graph_id: str) -> Item:
        """The live item a Graph id of either space names, else 404 ErrorItemNotFound."""
        item = ids.resolve_item(self.require_mailbox(), graph_id)
        if item is None:
            raise not_found()
        return item

    def folder_id_out(self, folder: Folder) -> str:
        return ids.folder_id_out(folder)

    def resolve_folder(self, ref: str, well_known: dict[str, str]) -> Folder:
        folder = ids.resolve_folder(self.require_mailbox(), ref, well_known)
        if folder is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified folder was not found.")
        return folder

    def require_mailbox(self) -> Mailbox:
        if self.mailbox is None:
            raise bad_request("This request names no mailbox.")
        return self.mailbox


# ------------------------------------------------------------------ request parsing


def parse_prefer(values: list[str]) -> tuple[bool, int]:
    """``(immutable ids wanted, page size)`` from every ``Prefer`` header value (several
    values per header, comma-separated, or several headers)."""
    immutable, page = False, DEFAULT_PAGE
    for value in values:
        for part in value.split(","):
            name, _, arg = part.strip().partition("=")
            name, arg = name.strip().lower(), arg.strip().strip('"').strip()
            if name == "idtype":
                immutable = arg.lower() == "immutableid"
            elif name == "odata.maxpagesize" and arg.isdigit():
                page = max(1, min(MAX_PAGE, int(arg)))
    return immutable, page


def parse_query(raw: str) -> dict[str, str]:
    return {k: v for k, v in urllib.parse.parse_qsl(raw, keep_blank_values=True)}


def parse_json(body: bytes) -> dict | None:
    if not body.strip():
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The request body is not valid JSON.") from None
    if not isinstance(doc, dict):
        raise bad_request("The request body must be a JSON object.")
    return doc


def find_route(method: str, path: str) -> tuple[Handler, re.Match]:
    allowed = False
    for want, pattern, handler in ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        if want == method:
            return handler, match
        allowed = True
    if allowed:
        raise GraphError(405, "BadRequest", f"The method {method} is not allowed here.")
    raise bad_request(f"Resource not found for the segment '{path}'.")


# ------------------------------------------------------------------ the pipeline


def authenticate(server: EmulatorServer, header: str | None):
    """The App behind a Graph Bearer token; 401 InvalidAuthenticationToken otherwise."""
    scheme, _, value = (header or "").partition(" ")
    token = server.valid_token(value) if scheme.lower() == "bearer" and value else None
    ok = token is not None and isinstance(token.principal, App)
    if ok and token.scopes and not any(s.startswith(GRAPH_SCOPE) for s in token.scopes):
        ok = False  # a token for another audience (EWS)
    if not ok:
        raise GraphError(
            401,
            "InvalidAuthenticationToken",
            "Access token is empty, expired or not valid for this audience.",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return token.principal


def resolve_mailbox(ctx: GraphRequest, user: str) -> None:
    """Set ``ctx.mailbox`` from ``/users/{user}``: 404 for an unknown user, 403 outside the
    app's RBAC scope."""
    user = urllib.parse.unquote(user)
    mailbox = ctx.server.graph.mailbox_for(user)
    if mailbox is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{user}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    if ctx.server.graph.denied(mailbox.email):
        raise GraphError(
            403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    ctx.mailbox = mailbox
    ctx.user = user


FAULT_ANSWERS = {
    "graph_gone": (410, "syncStateNotFound", "The sync state is not found or has expired."),
    "graph_throttle": (429, "ApplicationThrottled", "Application is over its request limit."),
    "graph_unavailable": (503, "ServiceUnavailable", "The service is temporarily unavailable."),
    "graph_denied": (
        403,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    ),
    "graph_timeout": (504, "GatewayTimeout", "The gateway did not receive a timely response."),
}


def injected_fault(ctx: GraphRequest) -> None:
    """Raise the answer of a Graph fault injected for this operation and mailbox, if any."""
    server = ctx.server
    email = ctx.mailbox.email if ctx.mailbox is not None else None
    fault = server.faults.take_graph(ctx.operation, email)
    if fault is None:
        return
    status, code, message = FAULT_ANSWERS[fault.kind]
    headers = {}
    if status in (429, 503, 504):
        headers["Retry-After"] = str(fault.retry_after)
    raise GraphError(status, code, message, headers)


def run(ctx: GraphRequest, *, limit_concurrency: bool = True) -> Answer:
    """Route, count, resolve the mailbox, apply latency and faults, run the handler."""
    try:
        handler, match = find_route(ctx.method, ctx.path)
        ctx.operation = "graph:" + operation_of(handler)
        ctx.server.count_request(ctx.operation)
        user = match.groupdict().get("user")
        if user is not None:
            resolve_mailbox(ctx, user)
        entered = None
        if limit_concurrency and ctx.mailbox is not None:
            if not ctx.server.graph.enter(ctx.mailbox.email):
                raise GraphError(
                    429,
                    "MailboxConcurrency",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            entered = ctx.mailbox.email
        try:
            delay = ctx.server.faults.latency_for(ctx.operation)
            if delay:
                time.sleep(delay)
            injected_fault(ctx)
            return handler(ctx, match)
        except GraphError:
            raise
        except Exception:  # never leak a traceback; recorded so fixtures fail the test
            tb = traceback.format_exc()
            log.error("Graph emulator failure in %s:\n%s", ctx.operation, tb)
            ctx.server.errors.append(f"{ctx.operation}: {tb}")
            raise GraphError(
                500, "InternalServerError", "An internal server error occurred."
            ) from None
        finally:
            if entered is not None:
                ctx.server.graph.leave(entered)
    except GraphError as e:
        return e.answer()


def new_request(
    server: EmulatorServer,
    method: str,
    target: str,
    *,
    headers: dict[str, str],
    prefer: list[str],
    body: dict | None,
) -> GraphRequest:
    """A request for ``target`` (a path relative to ``graph_url`` with its query);
    ``headers`` with lower-case names, ``prefer`` every ``Prefer`` value sent."""
    split = urllib.parse.urlsplit(target)
    immutable, page = parse_prefer(prefer)
    return GraphRequest(
        server=server,
        method=method.upper(),
        path=split.path,
        query=parse_query(split.query),
        body=body,
        headers=headers,
        immutable=immutable,
        page_size=page,
        prefer=list(prefer),
    )


def handle(server: EmulatorServer, handler, method: str, raw_body: bytes):
    """Answer one HTTP request under ``/graph/v1.0``: ``(status, bytes, headers)``."""
    try:
        principal = authenticate(server, handler.headers.get("Authorization"))
        target = handler.path
        if target.lower().startswith(PREFIX.lower()):
            target = target[len(PREFIX) :]
        ctx = new_request(
            server,
            method,
            target,
            headers={k.lower(): v for k, v in handler.headers.items()},
            prefer=handler.headers.get_all("Prefer") or [],
            body=parse_json(raw_body) if method in ("POST", "PATCH", "PUT") else None,
        )
        ctx.principal = principal
        status, doc, out_headers = run(ctx)
    except GraphError as e:
        status, doc, out_headers = e.answer()
    return encode(status, doc, out_headers)


def encode(status: int, doc: dict | None, headers: dict[str, str]):
    out = dict(headers)
    if doc is None:
        return status, b"", out
    out.update(JSON_HEADERS)
    return status, json.dumps(doc, separators=(",", ":")).encode(), out
