"""Rules about neutral item fields that every transport applies the same way.

Exchange keeps these whatever the protocol: it cannot store XML's forbidden characters
(EWS sends XML, and Graph's store behind it is the same), and it requires a contact's
display name, derived as Outlook does when the CRM gives none.
"""

from __future__ import annotations

import re
from typing import Any

from wess_core.strategies import MailboxError

__all__ = ["CONTACT_NAME_FIELDS", "contact_display_name", "needs_display_name", "refuse_unstorable"]

# What exchangelib would silently turn into "?" (XML 1.0's forbidden and discouraged code
# points: its ``_ILLEGAL_XML_CHARS_RE``), plus lone surrogates.
_NOT_XML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufddf\ufffe\uffff]"
)

#: Contact fields a display name is derived from.
CONTACT_NAME_FIELDS = frozenset(
    {"given_name", "surname", "company_name", "email_addresses", "display_name"}
)


def refuse_unstorable(value: Any, name: str = "") -> None:
    """Refuse a value Exchange cannot store, rather than let it be altered on the way."""
    if isinstance(value, str):
        bad = _NOT_XML.search(value)
        if bad:
            raise MailboxError(
                f"field {name or 'value'} contains U+{ord(bad.group()):04X}, a character "
                "Exchange cannot store; remove it in the CRM"
            )
    elif isinstance(value, dict):
        for key, sub in value.items():
            refuse_unstorable(sub, f"{name}.{key}" if name else str(key))
    elif isinstance(value, list | tuple):
        for sub in value:
            refuse_unstorable(sub, name)


def contact_display_name(fields: dict[str, Any]) -> str | None:
    """Exchange requires a contact's display name; derive it as Outlook does."""
    name = " ".join(p for p in (fields.get("given_name"), fields.get("surname")) if p)
    if name:
        return name
    if fields.get("company_name"):
        return fields["company_name"]
    emails = fields.get("email_addresses") or []
    return emails[0].get("email") if emails else None


def needs_display_name(fields: dict[str, Any], creating: bool) -> bool:
    """Whether a contact write must carry a derived display name: a new contact, or an
    update of a field it is derived from, without one of its own."""
    if fields.get("display_name"):
        return False
    return creating or bool(CONTACT_NAME_FIELDS & set(fields))
