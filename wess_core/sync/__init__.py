"""The sync engine: a CRM and one user's mailbox kept in step, transport-neutral.

* ``engine``    ``sync_folder`` / ``sync_all``: read changes, plan, act in batches.
* ``plan``      the truth tables (create / update / delete / conflict / echo) and policies.
* ``status``    the status table and per-user state (``StoreSyncState``: ``state/<login>``;
                ``state_tables.DatabaseSyncState``: a shared database's tables).
* ``review``    matching keys, the deletion guard, entries held for review.
* ``ledger``    the per-item ledger (``StoreLedger``: the home's ``ledger`` table).
* ``result``    ``SyncResult`` / ``FolderResult``: counts, conflicts, errors (``to_dict``).
* ``itemtypes`` the built-in field mappings (contacts, calendar, tasks, e-mail).
* ``memory``    in-memory mailbox and CRM with fault rules (tests, plugin authors).
* ``contract``  the tests every CRM connector and transport must pass.

The interfaces themselves are in ``wess_core.strategies``.
"""
