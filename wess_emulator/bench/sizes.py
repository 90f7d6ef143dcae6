"""The cases' names and sizes: the full run and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass

CASES = (
    "import",
    "export",
    "idle",
    "incremental",
    "graph_import",
    "graph_export",
    "graph_idle",
    "graph_incremental",
    "scheduler",
    "store",
    "memory",
    "web",
    "scale",
    "distributed",
)
#: Cases a run without ``--case`` leaves out: they take long at full size (and
#: ``distributed`` needs redis-server).
OPT_IN = ("scale", "distributed")
DEFAULT_CASES = tuple(c for c in CASES if c not in OPT_IN)
PASSWORD = "Bench-Pass-1"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    items: int = 10_000
    idle_users: int = 100
    changed_percent: float = 1.0
    scheduler_users: int = 500
    scheduler_workers: int = 16
    scheduler_passes: int = 3
    latency_s: float = 0.020
    store_users: int = 10_000
    store_few_states: int = 100
    memory_sizes: tuple[int, ...] = (10_000, 100_000)
    seed_per_user: int = 10
    web_users: int = 500
    web_clients: int = 100
    web_reads: int = 1_000
    scale_users: tuple[int, ...] = (500, 2_000, 10_000)
    scale_latency_s: float = 0.100
    #: None: no ``--workers``, so ``wess run`` runs the account's ``throttle_cap``
    scale_workers: int | None = None
    #: None: the account's default ``throttle_cap``
    scale_throttle_cap: int | None = None
    scale_seed_per_user: int = 3
    #: push mode: changes made in Exchange (each in another mailbox), and the seconds
    #: watched idle users are counted for
    scale_push_changes: int = 100
    scale_push_idle_s: float = 10.0
    distributed_users: int = 2_000
    distributed_latency_s: float = 0.100
    #: the ``wess worker`` processes of each distributed pass, one pass per entry
    distributed_workers: tuple[int, ...] = (1, 2, 4)
    #: each worker's ``--concurrency``: 8 (``wess worker``'s default), so 4 workers sync
    #: 32 users at once, the account's default ``throttle_cap`` the embedded pass runs
    distributed_concurrency: int = 8
    distributed_seed_per_user: int = 3


FULL = Sizes()
QUICK = Sizes(
    items=1_000,
    idle_users=20,
    scheduler_users=20,
    scheduler_workers=4,
    store_users=1_000,
    store_few_states=100,
    memory_sizes=(1_000, 5_000),
    seed_per_user=3,
    web_users=50,
    web_clients=20,
    web_reads=100,
    scale_users=(50, 200),
    scale_latency_s=0.020,
    scale_seed_per_user=2,
    scale_push_changes=10,
    scale_push_idle_s=2.0,
    distributed_users=60,
    distributed_latency_s=0.020,
    distributed_seed_per_user=2,
)
