"""Who may sync now, shared by every worker through Redis: one worker per user, at most
``throttle_cap`` users per Exchange server. Both expire (a worker killed mid-sync gives
its user and its slot back when they expire) and a sync under way keeps them with a
:class:`Heartbeat`. Neither ever waits: a task that cannot have them is retried later,
so a worker's thread is never spent waiting for another worker."""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Any

from wess_core.distributed import keys

#: How long a lock or slot outlives the last heartbeat of its holder.
HOLD_SECONDS = 20.0
#: How often a sync under way extends what it holds.
HEARTBEAT_SECONDS = HOLD_SECONDS / 4

# compare-and-extend / compare-and-delete: only the holder may extend or release
_EXTEND = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"  # noqa: E501
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"  # noqa: E501
)
# the server's semaphore: drop expired holders, then take a slot when one is free
_ACQUIRE_SLOT = """
local now = redis.call('time')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('zremrangebyscore', KEYS[1], '-inf', t)
if redis.call('zcard', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('zadd', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
  redis.call('expire', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
  return 1
end
return 0
"""
_EXTEND_SLOT = """
local now = redis.call('time')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
if redis.call('zscore', KEYS[1], ARGV[1]) then
  redis.call('zadd', KEYS[1], t + tonumber(ARGV[2]), ARGV[1])
  redis.call('expire', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return 1
end
return 0
"""


def token() -> str:
    return secrets.token_hex(8)


def take_user(r: Any, login: str, holder: str) -> bool:
    """Lock ``login`` for ``holder``; False when another worker holds it."""
    return bool(r.set(keys.lock(login), holder, nx=True, px=int(HOLD_SECONDS * 1000)))


def release_user(r: Any, login: str, holder: str) -> None:
    r.eval(_RELEASE, 1, keys.lock(login), holder)


def take_slot(r: Any, server: str, holder: str, cap: int) -> bool:
    """One of ``server``'s ``cap`` slots for ``holder``; False when all are held."""
    return bool(r.eval(_ACQUIRE_SLOT, 1, keys.slots(server), holder, cap, HOLD_SECONDS))


def release_slot(r: Any, server: str, holder: str) -> None:
    r.zrem(keys.slots(server), holder)


def slots_in_use(r: Any, server: str) -> int:
    """Holders of ``server``'s slots not expired."""
    now = r.time()
    return int(r.zcount(keys.slots(server), now[0] + now[1] / 1e6, "+inf"))


class Heartbeat:
    """While a sync runs: extend its user's lock, its server slot and its queued
    marker every ``HEARTBEAT_SECONDS``. A failed extension (Redis restarting) is tried
    again at the next beat; the sync is never cut for it."""

    def __init__(self, r: Any, login: str, server: str, holder: str, marker: str | None):
        self.r = r
        self.login = login
        self.server = server
        self.holder = holder
        self.marker = marker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="wess-heartbeat")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=HOLD_SECONDS)

    def beat(self) -> None:
        """Extend what this sync holds; after a Redis restart (the keys are gone) hold
        them again."""
        hold = int(HOLD_SECONDS * 1000)
        if not self.r.eval(_EXTEND, 1, keys.lock(self.login), self.holder, hold):
            self.r.set(keys.lock(self.login), self.holder, nx=True, px=hold)
        if not self.r.eval(_EXTEND_SLOT, 1, keys.slots(self.server), self.holder, HOLD_SECONDS):
            now = self.r.time()
            expiry = now[0] + now[1] / 1e6 + HOLD_SECONDS
            self.r.zadd(keys.slots(self.server), {self.holder: expiry})
        if self.marker is not None:
            hold_marker = keys.MARKER_SECONDS * 1000
            self.r.eval(_EXTEND, 1, keys.queued(self.login), self.marker, hold_marker)

    def _run(self) -> None:
        import redis

        while not self._stop.wait(HEARTBEAT_SECONDS):
            with contextlib.suppress(redis.RedisError):
                self.beat()
