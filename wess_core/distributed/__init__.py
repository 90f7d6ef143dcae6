"""Beyond one machine (issue 18): Celery workers sync the users, Redis is the broker and
holds what every worker must share — per-user locks, the per-server cap, back-off
budgets, the dead-letter list.

- :mod:`.broker`: the broker URL (``--broker`` / ``WESS_BROKER_URL``), masked when shown.
- :mod:`.keys`: the Redis key layout, in one place.
- :mod:`.locks`: the per-user lock and the per-server counting semaphore, both expiring
  (a dead worker's lock and slot come back) and extended by a heartbeat.
- :mod:`.budgets`: a server's "busy until", a user's consecutive failures, back-off and
  the dead-letter list.
- :mod:`.tasks`: the Celery app and its one task, a user's sync.
- :mod:`.beat`: ``wess run --executor celery``: enqueue a pass, wait for it (``--once``).
- :mod:`.now`: ``wess sync`` with a broker: Sync Now ahead of the beat's tasks.
- :mod:`.status`: queue depth, workers alive, budgets, dead letters for ``wess status``.

Everything here imports celery / redis lazily through these modules: the embedded
default never needs them.
"""
