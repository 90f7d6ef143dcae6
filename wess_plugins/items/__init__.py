"""The built-in item types: contacts, calendar, tasks (two-way) and e-mail (one-way).

The mappings themselves live in ``wess_core.sync.itemtypes``; this plugin only
registers them, the way a third-party item type would be.
"""

from wess_core import hookimpl


@hookimpl
def wess_register_item_types(register):
    from wess_core.sync.itemtypes import builtin_item_types

    for item_type in builtin_item_types():
        register(item_type.name, item_type)
