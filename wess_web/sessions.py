"""Web sessions in signed cookies: who is logged in, their CSRF token, when they logged in.

The cookie is signed (itsdangerous) with keys derived from the home's secret keys, so
``wess keys rotate`` ends every session at its next request. Log-out revokes the
session's id in memory until the session would have expired anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from wess_core.secrets import load_keys
from wess_core.service.logins import Identity

COOKIE = "wess_session"
CSRF_HEADER = "X-CSRF-Token"
_PURPOSE = b"wess web session cookie"


@dataclass(frozen=True)
class Session:
    identity: Identity
    csrf_token: str
    session_id: str
    #: ``credential_stamp`` at log-in: a changed password ends the session
    stamp: str = ""

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(token.encode(), self.csrf_token.encode())


class Revoked:
    """Session ids logged out before their expiry; bounded: the oldest go first."""

    def __init__(self, max_ids: int = 100_000) -> None:
        self.max_ids = max_ids
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, session_id: str, until: float) -> None:
        with self._lock:
            now = time.time()
            for sid in [s for s, t in self._until.items() if t <= now]:
                del self._until[sid]
            while len(self._until) >= self.max_ids:
                del self._until[next(iter(self._until))]
            self._until[session_id] = until

    def __contains__(self, session_id: object) -> bool:
        with self._lock:
            return session_id in self._until


class SessionSigner:
    """Makes and reads session cookies for one home."""

    def __init__(self, home: Path, max_age: float) -> None:
        self.home = home
        self.max_age = max_age
        self.revoked = Revoked()

    def _serializer(self) -> URLSafeTimedSerializer:
        derived = [hmac.new(k, _PURPOSE, hashlib.sha256).digest() for k in load_keys(self.home)]
        # itsdangerous signs with the last key and accepts every one
        return URLSafeTimedSerializer(list(reversed(derived)), salt="wess-session")

    def new(self, identity: Identity, stamp: str) -> tuple[Session, str]:
        """A fresh session for ``identity`` and its cookie value."""
        session = Session(identity, secrets.token_urlsafe(32), secrets.token_urlsafe(16), stamp)
        payload = {
            "l": identity.login,
            "r": identity.role,
            "c": session.csrf_token,
            "s": session.session_id,
            "p": stamp,
        }
        return session, self._serializer().dumps(payload)

    def read(self, cookie: str | None) -> Session | None:
        """The session in ``cookie``; None if absent, forged, expired or logged out."""
        if not cookie:
            return None
        try:
            payload: Any = self._serializer().loads(cookie, max_age=self.max_age)
        except (SignatureExpired, BadSignature):
            return None
        try:
            identity = Identity(payload["l"], payload["r"])
            session = Session(identity, payload["c"], payload["s"], payload["p"])
        except (KeyError, TypeError):
            return None
        return None if session.session_id in self.revoked else session

    def revoke(self, session: Session) -> None:
        self.revoked.add(session.session_id, time.time() + self.max_age)
