"""The distributed deployment's gauges, read from the broker's Redis at scrape time:
queue depth, workers alive, each server's slots and back-off, dead letters.

Read at scrape time (not recorded by the workers) so every ``/metrics`` that knows the
broker (``wess serve``, ``wess worker``, the beat) shows the same whole-deployment
numbers. A Redis that does not answer costs the scrape at most ``SCRAPE_TIMEOUT_SECONDS``
and ``wess_broker_up 0``; the other metrics are still served.

Privacy and cardinality: no login is a label (dead letters and held users are counts).
A server's budget key (``server_of``) may name the service account a server is reached
as (``HOST:PORT as LOGIN``): the ``server`` label is the ``HOST:PORT`` part only (budgets
of one host under several service accounts are added up), so there is one series per
Exchange server, a handful. The broker URL (it may hold a password) appears nowhere.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: A scrape waits at most this long for Redis (Prometheus' default scrape timeout: 10 s).
SCRAPE_TIMEOUT_SECONDS = 2.0
#: A server label: host:port (or ``autodiscover:DOMAIN``); anything else is "other".
_SERVER = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")


def server_label(budget_key: str) -> str:
    """The ``server`` label of a budget key: its host:port, without a service account."""
    host = budget_key.partition(" as ")[0]
    return host if _SERVER.fullmatch(host) else "other"


class BrokerCollector:
    """A prometheus-client collector of the broker's gauges (``metrics.serve_metrics``'
    and ``metrics.exposition``'s ``more``)."""

    def __init__(self, broker_url: str, home: Path | None) -> None:
        self.broker_url = broker_url
        self.home = home

    def collect(self) -> Iterator[Any]:
        return broker_metrics(self.broker_url, self.home)


def broker_metrics(broker_url: str, home: Path | None) -> Iterator[Any]:
    """The broker's gauges and ``wess_broker_up``; never raises (a scrape must answer)."""
    from prometheus_client.core import GaugeMetricFamily

    try:
        families = _read(broker_url, _cap(home))
        up = 1
    except Exception as exc:  # redis.RedisError, a broken key: the scrape still answers
        log.debug("broker metrics not read: %s", type(exc).__name__)
        families, up = [], 0
    yield GaugeMetricFamily(
        "wess_broker_up", "1 when the broker's Redis answered this scrape.", value=up
    )
    yield from families


def _cap(home: Path | None) -> int | None:
    """The account's ``throttle_cap`` (slots per server), or None when unknown."""
    if home is None:
        return None
    try:
        from wess_core.account_settings import setting_of
        from wess_core.service.accounts import load_account
        from wess_core.service.context import Context

        return int(setting_of(load_account(Context(home=home)), "throttle_cap"))
    except Exception:  # a home without an account yet
        return None


def _read(broker_url: str, cap: int | None) -> list[Any]:
    from prometheus_client.core import GaugeMetricFamily

    from wess_core.distributed import keys, status
    from wess_core.distributed.broker import redis_client

    r = redis_client(broker_url, timeout=SCRAPE_TIMEOUT_SECONDS)
    try:
        queue = status.queue_depth(r)
        workers = status.workers_alive(r)
        servers = status.server_budgets(r, cap or 0)
        dead = int(r.hlen(keys.DEAD))
    finally:
        r.close()
    waiting = GaugeMetricFamily(
        "wess_broker_queue_waiting",
        "Sync tasks waiting in the broker's queue, by priority (sync_now, scheduled).",
        labels=["priority"],
    )
    waiting.add_metric(["sync_now"], queue["sync_now"])
    waiting.add_metric(["scheduled"], queue["waiting"] - queue["sync_now"])
    families = [
        waiting,
        GaugeMetricFamily(
            "wess_broker_queue_held",
            "Sync tasks workers have taken and not yet finished (running or prefetched).",
            value=queue["held_by_workers"],
        ),
        GaugeMetricFamily(
            "wess_broker_workers_alive",
            "wess worker processes with a fresh heartbeat.",
            value=len(workers),
        ),
        GaugeMetricFamily(
            "wess_broker_worker_syncs_running",
            "Syncs the live workers run now (their heartbeats' sum).",
            value=sum(int(w.get("active") or 0) for w in workers),
        ),
        GaugeMetricFamily(
            "wess_broker_dead_letters",
            "Users on the dead-letter list (the beat skips them).",
            value=dead,
        ),
    ]
    return families + _server_families(servers, cap)


def _server_families(servers: dict[str, dict[str, Any]], cap: int | None) -> list[Any]:
    from prometheus_client.core import GaugeMetricFamily

    by_host: dict[str, dict[str, float]] = {}
    for key, budget in servers.items():
        entry = by_host.setdefault(server_label(key), {"in_use": 0, "budgets": 0, "busy": 0.0})
        entry["in_use"] += budget["in_use"]
        entry["budgets"] += 1
        entry["busy"] = max(entry["busy"], float(budget["busy_seconds"]))
    in_use = GaugeMetricFamily(
        "wess_broker_server_slots_in_use",
        "Connections (slots) workers hold on an Exchange server now.",
        labels=["server"],
    )
    slots_cap = GaugeMetricFamily(
        "wess_broker_server_slots_cap",
        "Slots an Exchange server allows (throttle_cap per service account).",
        labels=["server"],
    )
    busy = GaugeMetricFamily(
        "wess_broker_server_busy_seconds",
        "Seconds every worker still leaves an Exchange server alone (it asked to back off).",
        labels=["server"],
    )
    for host, entry in sorted(by_host.items()):
        in_use.add_metric([host], entry["in_use"])
        busy.add_metric([host], round(entry["busy"], 3))
        if cap is not None:
            slots_cap.add_metric([host], cap * entry["budgets"])
    return [in_use, slots_cap, busy] if cap is not None else [in_use, busy]
