"""Built-in plugin: the item types contacts, calendar, tasks, email-inbox, email-sent.

The mappings live in ``wess_core.sync.itemtypes``; this module only registers them,
through the ``wess`` entry point like any third-party item type.
"""

from __future__ import annotations

from wess_core import hookimpl


@hookimpl
def wess_register_item_types(register):
    """One strategy per built-in item type (see ``wess_core.sync.itemtypes``)."""
    from wess_core.sync.itemtypes import builtin_item_types

    for item_type in builtin_item_types():
        register(item_type.name, item_type)
