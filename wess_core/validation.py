"""Input checks with one-line errors that say what to do instead."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from wess_core.errors import ValidationError, quote
from wess_core.store import check_name_part

O365_EWS_URL = "https://outlook.office365.com/EWS/Exchange.asmx"
#: EWS hosts of Exchange Online (worldwide, US government, 21Vianet): EWS is blocked there
#: from October 2026, so an account pointing at one should use Microsoft Graph.
EXCHANGE_ONLINE_HOSTS = frozenset(
    {"outlook.office365.com", "outlook.office.com", "outlook.office365.us", "partner.outlook.cn"}
)
MAX_FIELD = 256
#: Longest password or client secret accepted (bytes, UTF-8): real ones are far shorter,
#: and every command reads the whole users file, so one huge secret would slow them all.
MAX_SECRET = 1024

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def _no_control(value: str, what: str) -> None:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValidationError(f"{what} contains control or invisible characters; retype it")
    if len(value) > MAX_FIELD:
        raise ValidationError(f"{what} is longer than {MAX_FIELD} characters")


def login(value: str) -> str:
    """A CRM login: also a file name, so letters, digits and . _ @ + - only."""
    return check_name_part(value, "login")


def email(value: str, what: str = "e-mail address") -> str:
    value = value.strip()
    _no_control(value, what)
    local, _, domain = value.rpartition("@")
    if not _EMAIL_RE.fullmatch(value) or len(local) > 64 or ".." in value:
        raise ValidationError(
            f"{what} {quote(value)} is not valid; expected the form name@example.com"
        )
    return value


def exchange_username(value: str) -> str:
    """``user@domain`` (UPN) or ``DOMAIN\\user``; ``DOMAIN/user`` is a common mistake."""
    value = value.strip()
    _no_control(value, "Exchange username")
    if not value:
        raise ValidationError("Exchange username is empty")
    if "/" in value:
        fixed = value.replace("/", "\\")
        raise ValidationError(
            f"Exchange username {quote(value)} uses a forward slash; use a back-slash: "
            f"{quote(fixed).replace(chr(92) * 2, chr(92))} "
            "(DOMAIN\\user) or the user@domain form"
        )
    if "\\" in value:
        domain, _, user = value.partition("\\")
        if not domain or not user or "\\" in user:
            raise ValidationError(
                f"Exchange username {quote(value)} is not valid; "
                "expected DOMAIN\\user or user@domain"
            )
    elif "@" in value:
        email(value, "Exchange username")
    return value


def secret(value: str, what: str = "password") -> str:
    """A password or client secret: not empty, at most ``MAX_SECRET`` bytes."""
    if not value:
        raise ValidationError(f"the {what} is empty; nothing was changed")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_SECRET:
        raise ValidationError(
            f"the {what} is longer than {MAX_SECRET} bytes (1 KiB); nothing was changed"
        )
    return value


#: Link-local networks: no Exchange server lives there, cloud metadata services do.
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))
#: A host label that is a number: decimal, octal (leading 0) or hex (0x...).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def _check_host(host: str, what: str, value: str) -> None:
    """Refuse link-local / metadata addresses and numbers posing as hosts (``2130706433``,
    ``0x7f.1``, ``127.1``, ``017700000001``), which resolvers read as IP addresses that a
    plain check would not recognise. Loopback and private addresses stay allowed."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        address = None
    if address is not None:
        mapped = getattr(address, "ipv4_mapped", None)
        for candidate in (address, mapped):
            if candidate is not None and any(candidate in net for net in _LINK_LOCAL):
                raise ValidationError(
                    f"{what} {quote(value)} points at a link-local address (cloud metadata "
                    "services live there, Exchange does not); use the server's host name"
                )
        return
    if all(_NUMERIC_LABEL.fullmatch(label) for label in host.split(".")):
        raise ValidationError(
            f"{what} {quote(value)} has a number for a host; write an IP address in dotted "
            "form (e.g. 192.0.2.10) or use the server's host name"
        )


def credential_url(value: str, what: str = "URL", hint: str = "") -> str:
    """A URL that may receive a credential: https, a valid host, no user:password part, a
    valid port. The one rule for every such URL (configured, discovered, redirected), so a
    password or token never travels in clear text nor to a URL that hides its host."""
    value = value.strip()
    _no_control(value, what)
    hint = f"; {hint}" if hint else ""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValidationError(f"{what} {quote(value)} is not a URL{hint}") from None
    if parts.scheme != "https":
        raise ValidationError(f"{what} {quote(value)} must use https{hint}")
    host = parts.hostname or ""
    if not (_HOST_RE.fullmatch(host) or _is_ipv6(host)):
        raise ValidationError(f"{what} {quote(value)} has no valid host{hint}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValidationError(f"{what} {quote(value)} must not contain credentials{hint}")
    if port is not None and not 0 < port < 65536:
        raise ValidationError(f"{what} {quote(value)} has an invalid port{hint}")
    _check_host(host, what, value)
    return value


def ews_url(value: str) -> str:
    """https://host[:port]/EWS/Exchange.asmx (path case-insensitive, as IIS treats it)."""
    hint = f"expected https://HOST[:PORT]/EWS/Exchange.asmx (Office 365 uses {O365_EWS_URL})"
    value = credential_url(value, "EWS URL", hint)
    parts = urlsplit(value)
    if parts.path.lower() != "/ews/exchange.asmx" or parts.query or parts.fragment:
        raise ValidationError(f"EWS URL {quote(value)} has the wrong path; {hint}")
    return value


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def autodiscover_url(value: str) -> str:
    """https://host[:port]/autodiscover/autodiscover.svc: it receives the credentials too."""
    return credential_url(
        value, "Autodiscover URL", "expected https://HOST[:PORT]/autodiscover/autodiscover.svc"
    )


def plain_text(value: str, what: str) -> str:
    _no_control(value, what)
    return value


def token_scope(value: str) -> str:
    """An OAuth token scope is a resource URL: HTTPS, ending in ``/.default`` (a
    transport's ``token_scope`` setting; ``ValueError`` for the setting's message)."""
    if not value.startswith("https://") or not value.endswith("/.default"):
        raise ValueError("expected https://RESOURCE/.default")
    return value


def is_exchange_online(url: str | None) -> bool:
    """Whether an EWS URL is Exchange Online's (where EWS is being switched off)."""
    host = (urlsplit(url).hostname or "").lower() if url else ""
    return host in EXCHANGE_ONLINE_HOSTS
