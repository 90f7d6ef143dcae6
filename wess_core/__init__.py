"""WESS: keep a CRM and Microsoft Exchange in step, per user, through plugins."""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("wess")

__all__ = ["hookimpl", "__version__"]
