"""What workers learn and every worker must respect: a server that asked to back off
(ErrorServerBusy, Graph 429) and a user whose syncs keep failing (back-off, then the
dead-letter list, which the beat skips until a sync of the user succeeds)."""

from __future__ import annotations

import json
import time
from typing import Any

from wess_core.distributed import keys

#: A failing user's next scheduled try waits ``sync_interval * 2**(failures - 1)``, at
#: most this long.
RETRY_MAX_SECONDS = 6 * 3600
#: A server busy without saying for how long is left alone this long.
BUSY_DEFAULT_SECONDS = 10.0


def busy_for(r: Any, server: str) -> float:
    """Seconds ``server`` is still to be left alone (0: go)."""
    until = r.get(keys.busy(server))
    return max(0.0, float(until) - time.time()) if until else 0.0


def hold_server(r: Any, server: str, seconds: float | None) -> float:
    """``server`` asked to back off ``seconds`` (None: unknown): every worker holds its
    users until then. Never shortens a longer hold already set."""
    wait = max(1.0, seconds if seconds else BUSY_DEFAULT_SECONDS)
    until = time.time() + wait
    current = r.get(keys.busy(server))
    if current is None or float(current) < until:
        r.set(keys.busy(server), f"{until:.3f}", px=int(wait * 1000) + 1000)
    return wait


def record(r: Any, login: str, status: str, message: str, *, interval: float, limit: int) -> None:
    """Count a user's sync: success clears the failures (and the dead letter), a failure
    adds one and holds the user back (exponentially), ``limit`` in a row dead-letter it."""
    if status == "synced":
        _clear(r, login)
        return
    if status != "failed":
        return
    failures = int(r.hincrby(keys.FAILURES, login, 1))
    wait = min(interval * 2 ** (failures - 1), RETRY_MAX_SECONDS)
    r.hset(keys.RETRY_AT, login, f"{time.time() + wait:.3f}")
    if failures >= limit:
        entry = {"failures": failures, "error": message, "time": _now_iso()}
        r.hset(keys.DEAD, login, json.dumps(entry, sort_keys=True))


def held_until(r: Any) -> dict[str, float]:
    """Users the beat holds back after failures: login -> epoch seconds."""
    now = time.time()
    return {k: float(v) for k, v in r.hgetall(keys.RETRY_AT).items() if float(v) > now}


def dead_letters(r: Any) -> dict[str, dict[str, Any]]:
    """The dead-letter list: login -> {failures, error, time}."""
    return {k: json.loads(v) for k, v in sorted(r.hgetall(keys.DEAD).items())}


def release(r: Any, login: str) -> bool:
    """Take ``login`` off the dead-letter list (an admin's decision); True if it was on."""
    return bool(_clear(r, login)[0])


def _clear(r: Any, login: str) -> list[Any]:
    """Forget a user's dead letter, failures and hold in one step (what each ``hdel``
    removed, dead letter first)."""
    return (
        r.pipeline()
        .hdel(keys.DEAD, login)
        .hdel(keys.FAILURES, login)
        .hdel(keys.RETRY_AT, login)
        .execute()
    )


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
