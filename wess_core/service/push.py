"""``wess run --push``: streaming notifications put a user whose mailbox changed at the
front of the scheduler's queue, so their change reaches the CRM within seconds; the
normal passes every sync interval stay (CRM-side changes, and a safety net).

:func:`start_streams` starts one thread per transport factory offering
``watch_streams`` (``wess_core.strategies.StreamWatcher``) over the eligible users of
that transport; their ``on_change(login)`` goes to an :class:`Urgent` queue, which the
scheduler reads between and during passes (``wess_core.service.scheduler``). A
transport without streaming notifications is polled only (``Streams.polled_only``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wess_core import plugins
from wess_core.service.accounts import load_account
from wess_core.service.context import Context
from wess_core.service.users import list_profiles, scheduled

log = logging.getLogger(__name__)

#: How long :meth:`Streams.join` waits for each transport's streams to end.
JOIN_SECONDS = 8.0


class Urgent:
    """Users whose mailbox changed, oldest first, each once until taken."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._order: list[str] = []

    def push(self, login: str) -> None:
        with self._ready:
            if login not in self._order:
                self._order.append(login)
                self._ready.notify_all()

    def take(self) -> list[str]:
        """Every user pushed since the last take (none: an empty list, at once)."""
        with self._ready:
            taken, self._order = self._order, []
            return taken

    def wait(self, timeout: float) -> list[str]:
        """:meth:`take`, after waiting up to ``timeout`` seconds for a first push."""
        with self._ready:
            if not self._order:
                self._ready.wait(timeout)
        return self.take()


@dataclass
class Streams:
    """The streaming threads of one ``wess run --push``."""

    threads: list[threading.Thread] = field(default_factory=list)
    #: Transports with no streaming notifications: their users are polled only.
    polled_only: list[str] = field(default_factory=list)
    #: Users streamed, per transport.
    users: dict[str, list[str]] = field(default_factory=dict)

    def join(self, timeout: float = JOIN_SECONDS) -> None:
        for thread in self.threads:
            thread.join(timeout)


def start_streams(
    ctx: Context,
    on_change: Callable[[str], None],
    stop: threading.Event,
) -> Streams:
    """One thread per transport factory with ``watch_streams``, over its eligible users
    (not paused); a user whose connection cannot be resolved is logged and polled only."""
    from wess_core.service.sync import connection_for

    account = load_account(ctx)
    wanted: dict[str, tuple[Any, list[Any]]] = {}
    streams = Streams()
    for profile in list_profiles(ctx):
        if not scheduled(account, profile):
            continue
        name = profile.transport or account.transport
        factory = plugins.transports().get(name)
        if getattr(factory, "watch_streams", None) is None:
            if name not in streams.polled_only:
                streams.polled_only.append(name)
            continue
        needs_url = bool(getattr(factory, "needs_ews_url", False))
        try:
            connection = connection_for(ctx, profile.login, (account, profile), needs_url)
        except Exception as exc:  # noqa: BLE001 - that user is polled only
            log.warning("--push: %s is polled only: %s", profile.login, exc)
            continue
        wanted.setdefault(name, (factory, []))[1].append(connection)
    for name, (factory, connections) in sorted(wanted.items()):
        streams.users[name] = [c.login for c in connections]
        thread = threading.Thread(
            target=_watch,
            args=(name, factory, connections, on_change, stop),
            name=f"wess-push-{name}",
            daemon=True,
        )
        thread.start()
        streams.threads.append(thread)
    return streams


def _watch(name: str, factory: Any, connections: list[Any], on_change: Any, stop: Any) -> None:
    """A transport's ``watch_streams``; a bug in it ends its streams, not the scheduler
    (its users are still polled every interval)."""
    try:
        factory.watch_streams(connections, on_change, stop)
    except Exception:  # noqa: BLE001 - logged: polling goes on
        log.exception("--push: the %s transport's streaming notifications ended", name)
