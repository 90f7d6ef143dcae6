"""The broker URL: ``--broker URL`` or ``WESS_BROKER_URL``, a Redis URL. A password is
never taken from the command line (argv is visible to every user of the machine) and
never shown: errors, logs and ``--json`` carry the URL with its password as ``***``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from wess_core.errors import UsageError, WessError

ENV = "WESS_BROKER_URL"
_SCHEMES = {"redis", "rediss"}


def masked(url: str) -> str:
    """The URL as shown to people: the password as ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(a URL that could not be read)"
    if password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{user}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _checked(url: str, where: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"{where} is not a Redis URL; expected redis://HOST:PORT/N") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise UsageError(
            f"{where} ({masked(url)}) is not a Redis URL; expected redis://HOST:PORT/N"
        )
    return url


def configured(option: str | None) -> str | None:
    """The broker URL in force: ``--broker`` (refused with a password in it), else
    ``WESS_BROKER_URL``, else None (the embedded default)."""
    if option:
        if _has_password(option):
            raise UsageError(
                "--broker must not contain a password (the command line is visible to other "
                f"users); put it in {ENV}"
            )
        return _checked(option, "--broker")
    raw = os.environ.get(ENV, "").strip()
    return _checked(raw, ENV) if raw else None


def required(option: str | None, command: str) -> str:
    """The broker URL, or a usage error naming both ways to give it."""
    url = configured(option)
    if url is None:
        raise UsageError(f"{command} needs a broker: --broker redis://HOST:PORT/N or {ENV}")
    return url


def _has_password(url: str) -> bool:
    try:
        return urlsplit(url).password is not None
    except ValueError:
        return False


#: Seconds a Redis command (or a connection attempt) may take before it fails.
REDIS_TIMEOUT_SECONDS = 5.0


def redis_client(url: str, timeout: float = REDIS_TIMEOUT_SECONDS):  # -> redis.Redis
    """A Redis client for WESS's own keys on the broker's server (redis is imported here:
    the embedded default lacks it); commands that fail raise ``redis.RedisError`` within
    ``timeout`` seconds."""
    import redis

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=10,
        decode_responses=True,
    )


class BrokerUnavailable(WessError):
    """The broker's Redis did not answer (the URL shown masked)."""


def unavailable(url: str, exc: BaseException) -> BrokerUnavailable:
    """The one line for a broker that did not answer: the URL masked, the error's kind
    (its text may repeat the URL)."""
    return BrokerUnavailable(
        f"the broker {masked(url)} did not answer ({type(exc).__name__}); is redis-server "
        "running there?"
    )
