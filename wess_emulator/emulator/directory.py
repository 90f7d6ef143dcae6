"""Who exists on the emulated server and how they log in: users with their mailboxes,
OAuth apps, Bearer tokens, full-access grants, and the check of an Authorization
header."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field

from .store import Mailbox


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


class Directory:
    """Users, apps and tokens of one server. ``key`` names the server in its ids."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._logins: dict[str, User] = {}
        self._apps: dict[str, App] = {}
        self._tokens: dict[str, Token] = {}
        self._full_access: set[tuple[str, str]] = set()

    # ------------------------------------------------------------------ users
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

    def user_by_login(self, login: str) -> User | None:
        """The user with this login (e-mail address or extra username), any case."""
        return self._logins.get(login.lower())

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

    # ------------------------------------------------------------------ access
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

    # ------------------------------------------------------------------ apps & tokens
    def add_app(self, client_id: str, client_secret: str, tenant: str = "common") -> App:
        """Register an OAuth2 app; its client-credentials tokens act as full_access_as_app."""
        app = App(client_id, client_secret, tenant)
        with self._lock:
            self._apps[client_id] = app
        return app

    def app(self, client_id: str) -> App | None:
        return self._apps.get(client_id)

    def issue_token(self, principal: str, expires_in: int = 3600) -> str:
        """Issue a Bearer token for a user e-mail or app client id (for tests)."""
        target = self._users.get(principal.lower()) or self._apps.get(principal)
        if target is None:
            raise KeyError(principal)
        return self.new_token(target, expires_in).value

    def new_token(self, principal, expires_in: int, scopes=()) -> Token:
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

    def valid_token(self, value: str) -> Token | None:
        """The issued Bearer token ``value`` while it is neither expired nor revoked."""
        token = self._tokens.get(value.strip())
        if token is None or token.revoked or token.expires_at < time.time():
            return None
        return token

    def authenticate(self, header: str | None):
        """The User or App an ``Authorization`` header (Basic or Bearer) proves, or None."""
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
            token = self.valid_token(value)
            return None if token is None else token.principal
        return None
