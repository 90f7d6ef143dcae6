"""Built-in plugin: the ``local`` CRM backend (an embedded CRM in the home's SQL tables).

Registered through the ``wess`` entry point like any third-party connector.
"""

from __future__ import annotations

from wess_core import hookimpl


@hookimpl
def wess_register_crm_backends(register):
    """``local``: ``LocalCrm(home, database)``, a database in the home's tables."""
    from wess_plugins.crm_local.local import LocalCrm

    register("local", LocalCrm)


@hookimpl
def wess_register_commands(cli):
    """``wess crm``: list, add, update, delete and import records of the built-in CRM."""
    from wess_plugins.crm_local.commands import crm_group

    cli.add_command(crm_group)


@hookimpl
def wess_home_initialised(home):
    """``wess init`` creates the default database, ``main``."""
    from wess_plugins.crm_local.local import create_database

    create_database(home, "main")


@hookimpl
def wess_register_tables(register):
    """The CRM's databases and records (``wess migrate`` copies them)."""
    from wess_plugins.crm_local.tables import STEPS, metadata

    register("crm_local", metadata, STEPS)
