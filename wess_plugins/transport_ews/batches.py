"""Batched EWS calls: one result or exception per input, in input order, and the options
every write uses, in one place (save only; never send invitations, cancellations or read
receipts; deletes go to Deleted Items)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchangelib.errors import ErrorSchemaValidation, ResponseMessageError
from exchangelib.items import (
    ALL_OCCURRENCES,
    MOVE_TO_DELETED_ITEMS,
    SAVE_ONLY,
    SEND_TO_NONE,
)

from wess_plugins.transport_ews.patches import WessCreateItem, WessDeleteItem, WessUpdateItem
from wess_plugins.transport_ews.results import item_error

__all__ = ["BatchedCalls"]


class BatchedCalls:
    """The batched calls of :class:`~wess_plugins.transport_ews.transport.EwsTransport`
    (which provides ``account``, ``max_batch``, ``throttle`` and ``_folder``)."""

    account: Any
    throttle: Any
    max_batch: int
    _folder: Callable[[str], Any]

    def _call(self, service_cls: type, **kwargs: Any) -> list[Any]:
        """One batched EWS call; one result or exception per input, in input order.

        A request Exchange refuses whole because one item in it is invalid (a schema
        violation: nothing was written) is sent again item by item, so only that item
        fails and never its batch.
        """
        try:
            results = list(
                service_cls(account=self.account, chunk_size=self.max_batch).call(**kwargs)
            )
        except ErrorSchemaValidation as exc:
            items = list(kwargs["items"])
            if len(items) <= 1:
                return [exc] * len(items)
            return [self._call(service_cls, **{**kwargs, "items": [i]})[0] for i in items]
        except ResponseMessageError as exc:  # the whole request refused: every item failed
            raise item_error(exc) from None
        if self.throttle:
            self.throttle.note_ok()
        return results

    # The EWS options every write uses, in one place: save only, never send invitations,
    # cancellations or read receipts, and deletes go to Deleted Items.

    def _create_items(self, folder: str, items: list[Any]) -> list[Any]:
        return self._call(
            WessCreateItem,
            items=items,
            folder=self._folder(folder),
            message_disposition=SAVE_ONLY,
            send_meeting_invitations=SEND_TO_NONE,
        )

    def _update_items(self, items: list[Any], conflict_resolution: str) -> list[Any]:
        return self._call(
            WessUpdateItem,
            items=items,
            conflict_resolution=conflict_resolution,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            suppress_read_receipts=True,
        )

    def _delete_items(self, items: list[Any]) -> list[Any]:
        return self._call(
            WessDeleteItem,
            items=items,
            delete_type=MOVE_TO_DELETED_ITEMS,
            send_meeting_cancellations=SEND_TO_NONE,
            affected_task_occurrences=ALL_OCCURRENCES,
            suppress_read_receipts=True,
        )
