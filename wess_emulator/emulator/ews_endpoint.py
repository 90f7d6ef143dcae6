"""``POST /EWS/Exchange.asmx``: one SOAP request through authentication, injected faults,
version and schema checks, the mailbox it acts on, and the operation's handler."""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING

from . import operations, render
from .directory import App, User
from .httpd import Handler
from .operations.base import Context
from .soap import (
    API_VERSIONS,
    KNOWN_API_VERSIONS,
    XML_HEADERS,
    answer_with_code,
    declared_operation,
    envelope,
    fault,
    serialize,
    validate,
)
from .store import EwsError, Mailbox
from .transport_faults import apply_fault
from .xmlutil import SOAP, M, XmlError, local, parse_xml, tq

if TYPE_CHECKING:
    from .server import EmulatorServer

log = logging.getLogger(__name__)


def handle(server: EmulatorServer, handler: Handler, body: bytes):
    """Answer one EWS request: ``(status, body, headers)``."""
    auth_header = handler.headers.get("Authorization")
    principal = server.authenticate(auth_header)
    if principal is None:
        raise server.unauthorized(bearer_error=bool(auth_header and "earer" in auth_header[:7]))
    login = getattr(principal, "email", None) or getattr(principal, "client_id", "")
    with server.in_flight(login.lower()):
        return _answer(server, handler, principal, body)


def _answer(server: EmulatorServer, handler: Handler, principal, body: bytes):
    """``handle`` once the login is known."""
    try:
        root = parse_xml(body)
    except XmlError as e:
        server.count_request("<invalid>")
        return fault("ErrorSchemaValidation", f"The request failed schema validation: {e}")
    soap_body = root.find(f"{{{SOAP}}}Body") if root.tag == f"{{{SOAP}}}Envelope" else None
    if soap_body is None or len(soap_body) == 0:
        server.count_request("<invalid>")
        return fault("ErrorInvalidRequest", "The request is invalid: no SOAP body.")
    request = soap_body[0]
    op_name = local(request.tag)
    server.last_operation.set(op_name)
    server.count_request(op_name)
    delay = server.faults.latency_for(op_name)
    if delay:
        time.sleep(delay)
    injected = server.faults.take_transport(op_name)
    if injected is not None:
        result = apply_fault(handler, injected)
        if result is not None:
            return result
    op_cls = operations.REGISTRY.get(op_name) if request.tag == f"{{{M}}}{op_name}" else None
    if op_cls is None:
        return _unknown_operation(server, root, request, op_name)
    if server.validate and (invalid := _schema_fault(server, root, op_name)):
        return invalid
    header = root.find(f"{{{SOAP}}}Header")
    api_version = "Exchange2016"
    if header is not None:
        rsv = header.find(tq("RequestServerVersion"))
        if rsv is not None:
            api_version = rsv.get("Version", api_version)
    if api_version not in KNOWN_API_VERSIONS:
        return fault("ErrorInvalidServerVersion", "The specified server version is invalid.")
    if op_cls.MIN_VERSION and API_VERSIONS.index(api_version) < API_VERSIONS.index(
        op_cls.MIN_VERSION
    ):
        return fault(
            "ErrorInvalidServerVersion",
            "The request is valid but does not specify the correct server version in the "
            "RequestServerVersion SOAP header. Ensure that the RequestServerVersion SOAP "
            "header is set with the correct RequestServerVersionValue.",
        )
    wanted = newer = None
    deviations = render.collect_deviations()
    try:
        mailbox = _effective_mailbox(server, principal, header, handler)
        ctx = Context(server, principal, mailbox, header_dict(handler.headers), api_version)
        op = op_cls(ctx)
        response = op.handle(request)
        wanted = server.faults.take(op_name, "response_code")
        if wanted is not None:
            answer_with_code(response, wanted)
            from .schema import response_codes

            # a code this schema lacks (a newer server's) cannot validate against it
            newer = wanted.code not in response_codes()
    except EwsError as e:
        render.apply_deviations(deviations, apply=False)
        return fault(e.code, e.text, e.message_xml)
    except Exception:  # never leak a traceback to the client
        render.apply_deviations(deviations, apply=False)
        tb = traceback.format_exc()
        log.error("EWS emulator failure in %s:\n%s", op_name, tb)
        server.errors.append(f"{op_name}: {tb}")
        return fault("ErrorInternalServerError", "An internal server error occurred.")
    answer = envelope(response)
    if server.validate and not newer:
        errs = validate(answer)
        if errs:
            render.apply_deviations(deviations, apply=False)
            server.record_schema_errors("response", op_name, errs)
            return fault(
                "ErrorSchemaValidation",
                "The emulator produced an invalid response: " + "; ".join(errs[:3]),
            )
    # what real Exchange sends unlike its schema, for items seeded with quirks
    render.apply_deviations(deviations)
    headers = dict(XML_HEADERS)
    if op.http_headers:
        headers.update(op.http_headers)
    stream = getattr(op, "stream", None)
    if stream is not None:
        return op.http_status, _streamed(server, op_name, serialize(answer), stream), headers
    return op.http_status, serialize(answer), headers


def _streamed(server: EmulatorServer, op_name: str, first: bytes, responses):
    """A streaming answer's envelopes as bytes, each checked against the schema like any
    answer (a violation is recorded: the status line has already gone)."""
    yield first
    for response in responses:
        answer = envelope(response)
        if server.validate and (errs := validate(answer)):
            server.record_schema_errors("response", op_name, errs)
        yield serialize(answer)


def _unknown_operation(server: EmulatorServer, root, request, op_name: str):
    """Answer an operation the emulator does not implement as Exchange answers a request
    it cannot dispatch: a SOAP fault (HTTP 500) with ``ErrorInvalidRequest``. One that
    Microsoft's schema declares is schema-validated first, as on Exchange (a malformed
    request gets ``ErrorSchemaValidation``, not a misleading "unknown operation").
    ``SOAP fault`` rather than a response message: a response needs the operation's own
    message types, and a client sees the fault exactly as from a server without it."""
    declared = request.tag == f"{{{M}}}{op_name}" and declared_operation(op_name)
    if declared and server.validate and (invalid := _schema_fault(server, root, op_name)):
        return invalid
    what = "not supported by this server" if declared else "an unknown operation"
    return fault("ErrorInvalidRequest", f"The request is invalid: {op_name} is {what}.")


def _schema_fault(server: EmulatorServer, root, op_name: str):
    """The ErrorSchemaValidation answer for a request the schema refuses (its violations
    recorded on the server), or None for a valid one."""
    errs = validate(root)
    if not errs:
        return None
    server.record_schema_errors("request", op_name, errs)
    return fault(
        "ErrorSchemaValidation", "The request failed schema validation: " + "; ".join(errs[:3])
    )


def _effective_mailbox(server: EmulatorServer, principal, header, handler: Handler) -> Mailbox:
    """The mailbox a request acts on: the impersonated user's, the caller's own, or (an
    app without impersonation) the ``X-AnchorMailbox`` one."""
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
        user = server.user_by_login(target or "")
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
    mbx = server.mailbox(anchor or "")
    if mbx is None:
        raise EwsError(
            "ErrorMissingEmailAddress",
            "When making a request as an account that does not have a mailbox, you must "
            "specify the mailbox primary SMTP address for any distinguished folders.",
        )
    return mbx


def header_dict(message) -> dict[str, str]:
    """``dict(message)`` (every name; each the value of its first occurrence, names
    compared case-insensitively) in one pass: ``dict()`` looks each name up again."""
    items = message.items()
    first: dict[str, str] = {}
    for name, value in items:
        first.setdefault(name.lower(), value)
    return {name: first[name.lower()] for name, _ in items}
