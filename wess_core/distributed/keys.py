"""The Redis key layout: every key WESS keeps on the broker's server, named here once.

========================  ======  ====================================================
key                       type    what
========================  ======  ====================================================
wess:queued:LOGIN         string  a task of LOGIN is queued or running (the beat's
                                  marker: its task id; set NX, expires)
wess:lock:LOGIN           string  the worker syncing LOGIN (token; expires, extended
                                  by the sync's heartbeat)
wess:slots:SERVER         zset    holders of SERVER's ``throttle_cap`` slots (token ->
                                  expiry time; an expired holder's slot comes back)
wess:busy:SERVER          string  SERVER asked to back off until this time (epoch s)
wess:failures             hash    LOGIN -> consecutive failed syncs
wess:retry_at             hash    LOGIN -> the beat holds LOGIN until (epoch s)
wess:dead                 hash    LOGIN -> JSON {failures, error, time}: dead-lettered
wess:pass:ID              hash    LOGIN -> JSON {status, message}: a beat pass's outcome
wess:reply:TASK           list    Sync Now's answer (JSON), pushed once
wess:worker:NAME          string  a worker's heartbeat (JSON; expires)
wess.sync, wess.sync:9    list    Celery's queue (Sync Now's priority 0, the beat's 9)
unacked, unacked_index    hash    kombu: messages a worker holds (acknowledged late)
========================  ======  ====================================================
"""

from __future__ import annotations

PREFIX = "wess:"
#: The Celery queue every task goes to; kombu keeps one list per priority step.
QUEUE = "wess.sync"
#: Priorities (kombu's Redis transport: lower is first): Sync Now, then the beat.
NOW_PRIORITY = 0
BEAT_PRIORITY = 9
PRIORITY_STEPS = [NOW_PRIORITY, BEAT_PRIORITY]
#: kombu's separator between a queue's name and its priority step.
PRIORITY_SEP = ":"

#: How long a queued marker lives without its task's heartbeat: a queue that takes
#: longer than this to reach a user lets the beat queue the user again.
MARKER_SECONDS = 6 * 3600

FAILURES = PREFIX + "failures"
RETRY_AT = PREFIX + "retry_at"
DEAD = PREFIX + "dead"
#: kombu's hash of the messages workers hold (acknowledged late).
UNACKED = "unacked"
#: kombu's sorted set of those messages by delivery time (older than the visibility
#: timeout: handed to another worker).
UNACKED_INDEX = "unacked_index"


def queued(login: str) -> str:
    return f"{PREFIX}queued:{login}"


def lock(login: str) -> str:
    return f"{PREFIX}lock:{login}"


def slots(server: str) -> str:
    return f"{PREFIX}slots:{server}"


def busy(server: str) -> str:
    return f"{PREFIX}busy:{server}"


def pass_outcome(pass_id: str) -> str:
    return f"{PREFIX}pass:{pass_id}"


def reply(task_id: str) -> str:
    return f"{PREFIX}reply:{task_id}"


def worker(name: str) -> str:
    return f"{PREFIX}worker:{name}"


def queue_lists() -> list[str]:
    """The Redis lists holding the queue's waiting messages, one per priority step."""
    return [QUEUE if p == 0 else f"{QUEUE}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]
