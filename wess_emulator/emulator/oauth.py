"""The OAuth2 side of the emulated tenant: OIDC metadata for MSAL and the
client-credentials token endpoint."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from typing import TYPE_CHECKING

from .httpd import Handler

if TYPE_CHECKING:
    from .server import EmulatorServer

_JSON = {"Content-Type": "application/json"}


def openid_configuration(server: EmulatorServer, tenant: str):
    """``GET /{tenant}/v2.0/.well-known/openid-configuration``."""
    server.count_request("<openid-configuration>")
    base = server.authority(tenant)
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
    return 200, json.dumps(doc).encode(), dict(_JSON)


def _error(status: int, code: str, desc: str):
    doc = {"error": code, "error_description": desc}
    return status, json.dumps(doc).encode(), dict(_JSON)


def token(server: EmulatorServer, handler: Handler, body: bytes, tenant: str):
    """``POST /{tenant}/oauth2/v2.0/token`` (client credentials, in the form or Basic)."""
    server.count_request("<token>")
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))

    def get(key: str) -> str | None:
        return (form.get(key) or [None])[0]

    client_id, client_secret = get("client_id"), get("client_secret")
    auth = handler.headers.get("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            cid, _, csec = base64.b64decode(auth[6:]).decode().partition(":")
            client_id = urllib.parse.unquote_plus(cid)
            client_secret = urllib.parse.unquote_plus(csec)
        except (ValueError, UnicodeDecodeError):
            pass
    if get("grant_type") != "client_credentials":
        return _error(400, "unsupported_grant_type", "Only client_credentials is supported.")
    app = server.app(client_id or "")
    if app is None or not secrets.compare_digest(app.client_secret, client_secret or ""):
        return _error(401, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
    if app.tenant not in ("common", tenant):
        return _error(400, "invalid_request", "AADSTS90002: Tenant not found.")
    scopes = (get("scope") or "").split()
    issued = server.new_token(app, 3600, scopes)
    doc = {
        "token_type": "Bearer",
        "expires_in": 3600,
        "ext_expires_in": 3600,
        "access_token": issued.value,
    }
    return 200, json.dumps(doc).encode(), dict(_JSON)
