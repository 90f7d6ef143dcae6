"""What ``wess status`` (and the web's status) shows of a distributed deployment: queue
depth, workers alive with their heartbeats, each server's budget (slots in use / cap,
busy until), users held back after failures and the dead-letter list."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from wess_core.distributed import budgets, keys


def configured_overview(ctx: Any) -> dict[str, Any] | None:
    """For front ends without a ``--broker`` (the web): :func:`overview` of the broker
    ``WESS_BROKER_URL`` names, for an admin; None on the embedded default or for a user."""
    from wess_core.distributed.broker import configured

    url = configured(None)
    if url is None or not ctx.is_admin:
        return None
    return overview(ctx, url)


def overview(ctx: Any, broker_url: str) -> dict[str, Any]:
    """The distributed part of ``wess status --json`` (``broker``: the masked URL)."""
    import redis

    from wess_core.account_settings import setting_of
    from wess_core.distributed.broker import redis_client, unavailable
    from wess_core.service.accounts import load_account

    cap = int(setting_of(load_account(ctx), "throttle_cap"))
    r = redis_client(broker_url)
    try:
        return _overview(r, broker_url, cap)
    except redis.RedisError as exc:
        raise unavailable(broker_url, exc) from None
    finally:
        r.close()


def _overview(r: Any, broker_url: str, cap: int) -> dict[str, Any]:
    from wess_core.distributed.broker import masked

    held = {login: _iso(until) for login, until in budgets.held_until(r).items()}
    return {
        "broker": masked(broker_url),
        "queue": queue_depth(r),
        "workers": workers_alive(r),
        "servers": server_budgets(r, cap),
        "held_after_failures": held,
        "dead_letter": budgets.dead_letters(r),
    }


def queue_depth(r: Any) -> dict[str, int]:
    """Tasks waiting (all, and of them Sync Now's priority) and held by workers."""
    now_list, beat_list = keys.queue_lists()
    sync_now = int(r.llen(now_list))
    return {
        "waiting": sync_now + int(r.llen(beat_list)),
        "sync_now": sync_now,
        "held_by_workers": int(r.hlen(keys.UNACKED)),
    }


def workers_alive(r: Any) -> list[dict[str, Any]]:
    """The heartbeats of the workers alive, by name."""
    workers = []
    for name in r.scan_iter(match=keys.worker("*"), count=500):
        doc = r.get(name)
        if doc:
            workers.append(json.loads(doc))
    return sorted(workers, key=lambda w: w["name"])


def server_budgets(r: Any, cap: int) -> dict[str, dict[str, Any]]:
    """Each server's budget (the key ``server_of`` gives): ``in_use`` of ``cap`` slots,
    ``busy_seconds`` still to leave it alone, ``busy_until`` (ISO time, or None)."""
    from wess_core.distributed import locks

    servers: dict[str, dict[str, Any]] = {}
    for name in r.scan_iter(match=keys.slots("*"), count=500):
        server = name[len(keys.slots("")) :]
        servers[server] = {"in_use": locks.slots_in_use(r, server), "cap": cap}
    for name in r.scan_iter(match=keys.busy("*"), count=500):
        server = name[len(keys.busy("")) :]
        wait = budgets.busy_for(r, server)
        entry = servers.setdefault(server, {"in_use": 0, "cap": cap})
        entry["busy_until"] = _iso(time.time() + wait) if wait > 0 else None
        entry["busy_seconds"] = wait
    for entry in servers.values():
        entry.setdefault("busy_until", None)
        entry.setdefault("busy_seconds", 0.0)
    return dict(sorted(servers.items()))


def lines(view: dict[str, Any]) -> list[str]:
    """The text form of :func:`overview`."""
    queue = view["queue"]
    out = [
        f"Broker {view['broker']}: {queue['waiting']} task(s) waiting "
        f"({queue['sync_now']} Sync Now), {queue['held_by_workers']} held by workers",
        f"Workers alive: {len(view['workers'])}",
    ]
    for w in view["workers"]:
        out.append(
            f"  {w['name']}: {w['active']} sync(s) running of {w['concurrency']} "
            f"({w['pool']}), heartbeat {w['heartbeat']}"
        )
    for server, b in view["servers"].items():
        busy = f", busy until {b['busy_until']}" if b.get("busy_until") else ""
        out.append(f"Server {server}: {b['in_use']}/{b['cap']} slot(s) in use{busy}")
    for login, entry in view["dead_letter"].items():
        out.append(
            f"Dead letter {login}: {entry['failures']} failed syncs, last: {entry['error']} "
            f"('wess sync {login}' or 'wess dead-letter release {login}')"
        )
    return out


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")
