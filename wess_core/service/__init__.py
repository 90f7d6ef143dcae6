"""The service API: plain functions that take a ``Context``, check the role, validate,
and call the stores and plugins. The CLI (and later a web page) is a thin shell over it.
"""

from wess_core.service.context import Context, default_home

__all__ = ["Context", "default_home"]
