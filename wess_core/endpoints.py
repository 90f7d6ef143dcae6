"""Which URLs may receive a credential: the trust boundary of one user's connection.

A password or token goes only over HTTPS (:func:`wess_core.validation.credential_url`:
https, a valid host, no ``user:password@``, a valid port) and only to a host the account
trusts: a **configured host** (the host of the account's EWS or Autodiscover URL, or of
the user's own EWS URL), or a host in an **allowed domain** (the domain itself or a
subdomain). The allowed domains are the account setting ``autodiscover_allowed_domains``;
unset, they are the parent domains of the configured hosts (``mail.example.com`` ->
``example.com``), the domain of the user's Exchange e-mail and Exchange Online's own
(``outlook.com``, ``office365.com``). An IP address is allowed
only when it is a configured host: no domain covers it.

The rule is checked where a credential is about to be sent: the configured URL, every
Autodiscover endpoint and redirect (SOAP RedirectUrl, HTTP 302, RedirectAddress's
domain), the EWS URL discovery returns (before it is cached) and again when a cached URL
is used. :func:`guarding` makes the same check the last line of defence during
discovery: the HTTP adapter of every WESS client (``wess_core.http``) refuses to
send an ``Authorization`` header over plain HTTP at any time, and, inside ``guarding``,
to a host the boundary does not allow, whichever code path built the request
(exchangelib's own DNS search included).

The account's private CA (``--ca-bundle``) is applied only to hosts inside the boundary:
a redirect outside it is refused before any connection, so the CA never vouches for it.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from wess_core import validation
from wess_core.errors import ValidationError, WessError, quote

__all__ = [
    "SETTING",
    "Boundary",
    "CredentialRefused",
    "boundary",
    "guard_request",
    "guarding",
    "parent_domain",
    "parse_domains",
]

SETTING = "autodiscover_allowed_domains"

#: Microsoft's own Exchange Online hosts (autodiscover-s.outlook.com answers for every
#: tenant and redirects to outlook.office365.com): in the default list, so Autodiscover
#: for an Office 365 mailbox works without setting anything. Nobody else can hold a
#: certificate for these names.
EXCHANGE_ONLINE_DOMAINS = ("outlook.com", "office365.com")

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class CredentialRefused(WessError):
    """A credential was about to go to a URL outside the account's trust boundary."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def parse_domains(value: str) -> list[str]:
    """``a.com,b.example.org`` -> a list of domain names (``*.a.com`` and ``.a.com`` mean
    ``a.com``; empty: the default). IP addresses and bare top-level names are refused:
    an IP is trusted only as a configured host, and ``com`` would trust everyone."""
    out: list[str] = []
    for part in value.split(","):
        name = part.strip().lower().removeprefix("*.").strip(".")
        if not part.strip():
            continue
        if _is_ip(name):
            raise ValueError(
                f"{part.strip()} is an IP address; an IP receives credentials only as a "
                "configured host (wess connection set --autodiscover-url / --ews-url)"
            )
        labels = name.split(".")
        if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
            raise ValueError(f"{quote(part.strip())} is not a domain name such as example.com")
        if name not in out:
            out.append(name)
    return out


def parent_domain(host: str) -> str:
    """The domain a host belongs to, for the default allow-list: ``mail.example.com`` ->
    ``example.com``. Without a public-suffix list this errs on the narrow side: a parent
    that looks like a public suffix (``co.uk``, ``com.au``: a short label under a
    two-letter country code) or a top-level name is never returned; the host is."""
    host = host.lower().rstrip(".")
    if _is_ip(host):
        return host
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    parent = labels[1:]
    if len(parent) == 2 and len(parent[1]) == 2 and len(parent[0]) <= 3:
        return host  # example.co.uk: its parent co.uk is a public suffix
    return ".".join(parent)


@dataclass(frozen=True)
class Boundary:
    """The hosts a connection's credentials may go to (see the module docstring)."""

    hosts: frozenset[str]
    domains: tuple[str, ...]
    explicit: bool = False

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.hosts:
            return True
        if not host or _is_ip(host):
            return False
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def allows_email(self, email: str) -> bool:
        return self.allows_host(email.rpartition("@")[2])

    def refusal(self, url: str, what: str = "URL") -> str | None:
        """Why ``url`` may not receive a credential (one line), or ``None``."""
        try:
            validation.credential_url(url, what)
        except ValidationError as exc:
            return str(exc)
        host = _host(url)
        if self.allows_host(host):
            return None
        return self.outside(host, f"{what} {url}")

    def outside(self, host: str, subject: str) -> str:
        """The one line for a host outside the boundary, saying how to allow it."""
        allowed = ", ".join(self.domains) or "none"
        if _is_ip(host):
            return (
                f"{subject} is outside this account's trusted hosts: the IP address {host} "
                "receives credentials only when it is the configured host (wess connection "
                "set --autodiscover-url URL or --ews-url URL)"
            )
        wanted = ",".join([*self.domains, parent_domain(host)])
        return (
            f"{subject} is on {host}, outside the domains this account allows ({allowed}); "
            f"if {host} is yours, allow it: wess config set {SETTING} {wanted}"
        )

    def check(self, url: str, what: str = "URL") -> str:
        """``url`` unchanged, or ``CredentialRefused`` with the one line."""
        reason = self.refusal(url, what)
        if reason:
            raise CredentialRefused(reason)
        return url


def make_boundary(
    configured_urls: Iterable[str | None],
    emails: Iterable[str | None],
    allowed_domains: Iterable[str] | None = None,
) -> Boundary:
    """The boundary from the configured URLs, the e-mail addresses and the setting."""
    hosts = frozenset(h for h in (_host(u) for u in configured_urls if u) if h)
    if allowed_domains:
        return Boundary(hosts, tuple(allowed_domains), explicit=True)
    domains: list[str] = []
    for host in sorted(hosts):
        if not _is_ip(host):
            domains.append(parent_domain(host))
    for email in emails:
        if email and "@" in email:
            domains.append(email.rpartition("@")[2].lower().rstrip("."))
    domains.extend(EXCHANGE_ONLINE_DOMAINS)
    return Boundary(hosts, tuple(dict.fromkeys(d for d in domains if d)))


def boundary(connection) -> Boundary:
    """The boundary of a resolved ``wess_core.connection.Connection``."""
    return make_boundary(
        (
            connection.ews_url,
            connection.autodiscover_url,
            *getattr(connection, "configured_urls", ()),
        ),
        (connection.exchange_email,),
        getattr(connection, "allowed_domains", None),
    )


# -- the last line of defence: the HTTP adapter asks before sending a credential ---------

_active: contextvars.ContextVar[Boundary | None] = contextvars.ContextVar(
    "wess_credential_boundary", default=None
)


@contextmanager
def guarding(limits: Boundary) -> Iterator[Boundary]:
    """Within the block, no request of this thread sends an ``Authorization`` header to a
    host ``limits`` does not allow (whoever built the request)."""
    token = _active.set(limits)
    try:
        yield limits
    finally:
        _active.reset(token)


def guard_request(url: str, headers) -> None:
    """Called by the HTTP adapter before each request: a request carrying credentials
    goes only over HTTPS, and inside :func:`guarding` only to an allowed host."""
    if not headers or "Authorization" not in headers:
        return
    if not url.lower().startswith("https://"):
        raise CredentialRefused(f"refused to send credentials to {url}: it is not HTTPS")
    limits = _active.get()
    if limits is not None:
        reason = limits.refusal(url)
        if reason:
            raise CredentialRefused(reason)
