"""Each item's own result in a batched answer: its new id and changekey, or its error,
never the whole batch's failure."""

from __future__ import annotations

from typing import Any

from exchangelib.errors import ErrorIrresolvableConflict, ErrorItemNotFound

from wess_core.strategies import ItemChanged, ItemNotFound, ItemRef, MailboxBusy, MailboxError
from wess_plugins.transport_ews.response_codes import Consequence, code_of, consequence

__all__ = ["PARSE_ERRORS", "item_error", "item_ref", "malformed", "refused"]

#: Exceptions of a non-conforming answer inside exchangelib's parser (a missing element,
#: an unexpected value): the folder's typed error, never a crash of the run.
PARSE_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError, LookupError)


def item_error(exc: Exception) -> Exception:
    """exchangelib's per-item errors -> the engine's transport-neutral ones; every one
    keeps its ResponseCode (``code``) and is that item's failure alone."""
    if isinstance(exc, ErrorItemNotFound):
        return ItemNotFound(str(exc), code="ErrorItemNotFound")
    if isinstance(exc, ErrorIrresolvableConflict):
        return ItemChanged(str(exc), code="ErrorIrresolvableConflict")
    if isinstance(exc, MailboxError):
        return exc
    code = code_of(exc) or type(exc).__name__
    text = str(exc) if code in str(exc)[: len(code) + 1] else f"{code}: {exc}"
    if consequence(code) is Consequence.THROTTLED:
        return MailboxBusy(text, code=code, retry_after=getattr(exc, "back_off", None))
    return MailboxError(text, code=code)


def malformed(exc: BaseException) -> MailboxError:
    """An answer for one item that exchangelib could not read: that item's error."""
    return MailboxError(
        f"Exchange's answer for this item was not understood ({type(exc).__name__}: "
        f"{str(exc)[:200]})",
        code="MalformedResponse",
    )


def item_ref(answer: Any, parts: Any) -> Any:
    """An ItemRef from one Create/UpdateItem answer, or that item's error."""
    try:
        item_id, changekey = parts(answer)
    except PARSE_ERRORS as exc:
        return malformed(exc)
    if not isinstance(item_id, str) or not item_id:
        return malformed(ValueError(f"no item id in {type(answer).__name__}"))
    return ItemRef(item_id, changekey)


def refused(exc: Exception) -> MailboxError:
    """A value refused before sending (exchangelib's checks; Exchange's schema would)."""
    return MailboxError(f"cannot convert item: {exc}", code="InvalidValue")
