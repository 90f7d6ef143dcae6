"""Benchmarks: WESS's cost against bare exchangelib (or a bare Graph client) and the
round-trip floor.

``wess bench`` (or ``python -m benchmarks`` in a checkout) runs each case against the
emulator on 127.0.0.1 (EWS, and Microsoft Graph for the ``graph_*`` cases) and prints one
JSON object per case: sizes, wall time, requests by operation, peak memory and the ratio
against a baseline measured in the same run.

The emulator runs in its own process (a ``multiprocessing`` child driven over a pipe), so its
CPU and its in-memory mailboxes are not counted as WESS's: the benchmark process holds only the
client side. Requests are counted by the emulator, per operation. Peak memory is the benchmark
process's peak resident set size during the measured step (Linux: ``VmHWM``, reset before each
step through ``/proc/self/clear_refs``; elsewhere the process's lifetime ``ru_maxrss``).

Cases (``--case NAME``, repeatable; default all but ``scale``):

``import``       10,000 contacts Exchange → local CRM; baseline: exchangelib ``sync_items``.
``export``       10,000 CRM people → Exchange; baseline: exchangelib ``bulk_create`` (100).
``idle``         100 users, nothing changed: one GetEvents per user (the pull
                 subscription), nothing else; then polling (``pull_subscriptions
                 off``): one SyncFolderItems per folder (``polling``).
``incremental``  1% of 10,000 items changed (half in Exchange, half in the CRM).
``graph_import``  the import over Graph; baseline: a bare Graph client's delta round.
``graph_export``  the export over Graph; baseline: bare ``$batch`` requests of 20 creates.
``graph_idle``    the idle pass over Graph: one delta request per synced folder.
``graph_incremental``  the 1% incremental sync over Graph (PATCHes in ``$batch``).
                 Graph requests are those on the wire by operation (``graph:batch``
                 once per ``$batch``), the sub-requests apart (``batch_subrequests``);
                 each graph case also measures WESS over EWS doing the same work
                 (``ews``, ``vs_ews``), except the incremental one.
``scheduler``    500 users, 20 ms emulator latency, 16 workers; users/s against the ideal
                 (the median of 3 passes; CPU and requests are over all of them).
``store``        10,000 profiles; list, read, write; a state write with 100 vs 10,000
                 other users' state files present.
``memory``       peak memory of importing a 10,000- and a 100,000-item folder, each in a
                 fresh process.
``web``          ``wess serve`` answering concurrent API reads.
``scale``        opt-in (only with ``--case scale``): the real ``wess run --once``, in its
                 own process, over 500, 2,000 and 10,000 idle users at 100 ms emulator
                 latency, impersonation through one service account (home made with
                 ``wess users import``): users/s, requests, CPU (user + sys of the process
                 and its workers) and files per user, peak memory; per-user CPU and files
                 at 10,000 against 500. Modes, on one home per size: ``pull`` (pull
                 subscriptions on, the default: one GetEvents per idle user) and ``poll``
                 (``pull_subscriptions off``: every folder's SyncFolderItems), with
                 pull/poll ratios of users/s and requests/user; ``push`` (``wess run
                 --push`` watching every user: 100 contacts created in 100 mailboxes,
                 each timed until it is in the user's CRM, p50/p95/max; requests of
                 watched idle users; SIGTERM must end it with exit 0 within 10 s).
                 ``--scale-workers``
                 (default none: ``wess run`` runs ``throttle_cap`` users at once) and
                 ``--scale-throttle-cap`` (the account's default) are its options.

``--quick`` scales every size down (1,000 items, 20 users; scale: 50 and 200 users at
20 ms) so a test can run it in seconds.

Modules: ``sizes`` (case names and sizes), ``measure`` (time, memory, CPU),
``processes`` (the emulator process), ``wess_side`` (homes and clients), ``graph_side``
(the Graph account, bare client and request counts),
``scale_home`` (the scale case's home, made and measured through the ``wess`` command),
one module per group of cases, ``runner`` and ``command`` (``wess bench``).
"""

from .command import bench_command
from .runner import run, summary
from .sizes import CASES, DEFAULT_CASES, FULL, MIB, QUICK, Sizes

__all__ = [
    "CASES",
    "DEFAULT_CASES",
    "FULL",
    "MIB",
    "QUICK",
    "Sizes",
    "bench_command",
    "run",
    "summary",
]
