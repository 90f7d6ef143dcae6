"""Microsoft Graph v1.0 over the emulator's mailboxes (the subset WESS uses; see the wire
contract in issue 16): the same items the EWS endpoint serves, as JSON.

Importing the package registers every resource module's routes in ``router.ROUTES``.
"""

from __future__ import annotations

from . import (  # noqa: F401 - register their routes
    batch,
    contacts,
    event_routes,
    messages,
    tasks,
    translate,
    users,
)
from .controls import GraphControls
from .router import PREFIX, ROUTES, GraphError, GraphRequest, handle, route

__all__ = ["PREFIX", "ROUTES", "GraphControls", "GraphError", "GraphRequest", "handle", "route"]
