"""EWS operations, one handler class per operation (registered by ``NAME``)."""

from . import folders, get_user_photo, items, misc, subscriptions, sync
from .base import REGISTRY, Context, Operation

__all__ = [
    "REGISTRY",
    "Context",
    "Operation",
    "folders",
    "get_user_photo",
    "items",
    "misc",
    "subscriptions",
    "sync",
]
