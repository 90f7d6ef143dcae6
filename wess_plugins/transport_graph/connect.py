"""Reaching one user's mailbox over Microsoft Graph: the client made from a connection,
and the credential check on save.

The mailbox is the user's Exchange e-mail as ``/users/{upn}``; the token comes from the
auth method's ``BearerToken`` provider (the ``oauth`` method: MSAL client credentials)
for the ``token_scope`` setting. ``graph_url`` is an admin's setting like the EWS URL:
HTTPS only, and the account's CA (``--ca-bundle``) is trusted for it only when an
admin set it (the emulator, a private gateway); Microsoft's own service keeps the
system's trust store.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from wess_core import http, plugins, validation
from wess_core.errors import CredentialsRejected, UsageError, ValidationError
from wess_core.library_logs import scrub_library_logs
from wess_core.strategies import BearerToken, MailboxUnavailable
from wess_plugins.transport_graph.client import GraphClient

__all__ = [
    "DEFAULT_GRAPH_URL",
    "GRAPH_SCOPE",
    "check_mailbox",
    "graph_url_of",
    "open_client",
    "valid_graph_url",
]

DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
#: The token scope of Microsoft Graph (``token_scope`` changes it: a national cloud).
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def valid_graph_url(value: str) -> str:
    """The ``graph_url`` setting: https://HOST[:PORT]/PATH, no query, no credentials."""
    hint = f"expected https://HOST[:PORT]/v1.0 (Microsoft's is {DEFAULT_GRAPH_URL})"
    value = validation.credential_url(value, "Graph URL", hint).rstrip("/")
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValidationError(f"Graph URL {value} must have no query or fragment; {hint}")
    return value


def graph_url_of(connection: Any) -> str:
    """The Graph service of a connection (its setting, else Microsoft's)."""
    configured = (connection.settings or {}).get("graph_url")
    return valid_graph_url(configured) if configured else DEFAULT_GRAPH_URL


def _auth_method(connection: Any) -> Any:
    return plugins.auth_methods().get(connection.auth)


def open_client(connection: Any) -> GraphClient:
    """The Graph client of the connection's mailbox (no request yet)."""
    method = _auth_method(connection)
    credential = method.credential(connection)
    if not isinstance(credential, BearerToken):
        raise UsageError(
            f"the graph transport needs an app-only token (auth method oauth); auth method "
            f"{connection.auth} gives a {type(credential).__name__}: wess connection set "
            "--auth oauth ..."
        )
    base = graph_url_of(connection)
    configured = bool((connection.settings or {}).get("graph_url"))
    scrub_library_logs()
    http.trust(base, connection.ca_bundle if configured else None)
    reason = getattr(method, "unauthorized_reason", None)
    return GraphClient(
        base,
        connection.exchange_email,
        credential.provider,
        (connection.settings or {}).get("token_scope") or GRAPH_SCOPE,
        unauthorized_reason=reason(connection) if reason else None,
    )


def check_mailbox(connection: Any) -> None:
    """Read the mailbox once (the user, then its contacts folder): the ``graph``
    transport's credential check. ``CredentialsRejected`` with a readable reason: a
    refused app or secret (401, after one fresh token), a mailbox outside the app's
    RBAC scope (403), no such user (404), Graph not answering."""
    _auth_method(connection).validate(connection)
    try:
        client = open_client(connection)
        client.get(client.user_path)
        client.get(f"{client.user_path}/contactFolders/contacts")
    except MailboxUnavailable as exc:
        raise CredentialsRejected(str(exc)) from None
    except (CredentialsRejected, UsageError):
        raise
    except Exception as exc:  # a folder's error code, an answer not understood
        raise CredentialsRejected(f"Microsoft Graph refused the check: {exc}") from None
