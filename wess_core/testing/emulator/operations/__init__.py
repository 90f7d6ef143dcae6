"""EWS operations, one handler class per operation (registered by ``NAME``)."""

from . import folders, items, misc, sync
from .base import REGISTRY, Context, Operation

__all__ = ["REGISTRY", "Context", "Operation", "folders", "items", "misc", "sync"]
