"""Built-in plugin: the ``local`` CRM backend (an embedded CRM on TinyDB).

Registered through the ``wess`` entry point like any third-party connector.
"""

from __future__ import annotations

from wess_core import hookimpl


@hookimpl
def wess_register_crm_backends(register):
    """``local``: ``LocalCrm(home, database)``, one store file ``crm/<database>``."""
    from wess_core.crm.local import LocalCrm

    register("local", LocalCrm)
