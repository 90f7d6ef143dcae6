"""The account's settings (``wess config``): each one's default, parser and help, and
the value in force in an account already read. A leaf module, so that anything below
the service layer (deadlines, the scheduler's cap) reads a setting without importing
the service."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wess_core import endpoints
from wess_core.models import CONFLICT_POLICIES, DEFAULT_CONFLICT_POLICY, Account


@dataclass(frozen=True)
class Setting:
    key: str
    default: Any
    parse: Callable[[str], Any]
    help: str


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def _int_range(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return number

    return parse


def _switch(value: str) -> bool:
    text = value.strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise ValueError("expected on or off")


def _addresses(value: str) -> list[str]:
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            out.append(str(ipaddress.ip_network(part, strict=False)))
    return out


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in [
        Setting(
            "conflict_policy",
            DEFAULT_CONFLICT_POLICY,
            _choice(*CONFLICT_POLICIES),
            "who wins when both sides changed the same item",
        ),
        Setting(
            "deletion_guard_percent",
            20,
            _int_range(0, 100),
            "hold a run's deletes above this share of a folder",
        ),
        Setting(
            "deletion_guard_max", 50, _int_range(0, 10**9), "hold a run's deletes above this count"
        ),
        Setting(
            "deletion_guard_min",
            5,
            _int_range(0, 10**9),
            "never hold this many deletes or fewer by the percent rule",
        ),
        Setting(
            "ledger_retention_days", 90, _int_range(1, 3650), "days the per-item ledger is kept"
        ),
        Setting(
            "throttle_cap",
            32,
            _int_range(1, 1000),
            "users synced at once (and connections) per Exchange server / service account; "
            "32 keeps 10,000 users within a 5-minute interval at 100 ms latency, while "
            "Exchange counts impersonated requests against each mailbox (EWSMaxConcurrency "
            "27), not against the shared service account",
        ),
        Setting("sync_interval", 300, _int_range(10, 86400), "seconds between scheduled runs"),
        Setting(
            "pull_subscriptions",
            True,
            _switch,
            "on: a run asks the mailbox's subscription which folders changed and reads only "
            "those (one request for an idle user); off: every folder is read every run",
        ),
        Setting(
            "request_deadline_seconds",
            120,
            _int_range(1, 3600),
            "the longest one request to Exchange may take, answer included",
        ),
        Setting(
            "run_deadline_seconds",
            900,
            _int_range(5, 86400),
            "the longest one user's sync run may take; then it is cut off",
        ),
        Setting(
            "worker_lost_seconds",
            60,
            _int_range(3, 86400),
            "distributed (wess worker): a sync whose worker stopped answering (killed, cut "
            "off) is handed to another worker after this many seconds",
        ),
        Setting(
            "dead_letter_after",
            5,
            _int_range(1, 1000),
            "distributed (wess worker): a user whose syncs failed this many times in a row "
            "goes to the dead-letter list; the beat skips it until a sync succeeds",
        ),
        Setting(
            "max_response_mib",
            64,
            _int_range(1, 4096),
            "the largest answer (MiB) accepted from Exchange",
        ),
        Setting(
            "source_addresses",
            [],
            _addresses,
            "the sync service's outgoing addresses (comma-separated), for the IT checklist",
        ),
        Setting(
            endpoints.SETTING,
            [],
            endpoints.parse_domains,
            "domains (comma-separated) whose hosts may receive credentials through an "
            "Autodiscover redirect; empty: those of the configured URLs and the users' e-mail",
        ),
    ]
}


def setting_of(account: Account, key: str) -> Any:
    """One setting's value in force in an account already read (a sync reads it once)."""
    return account.settings.get(key, SETTINGS[key].default)
