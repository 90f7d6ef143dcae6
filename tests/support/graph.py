"""Helpers for tests of the emulator's Graph endpoint: the CRM id property and a whole delta
round read the way a Graph client reads it."""

from __future__ import annotations

CRM_ID = "String {00020329-0000-0000-C000-000000000046} Name WessCrmId"
PERCENT = "Double {00062003-0000-0000-C000-000000000046} Id 0x8102"
EXPAND_CRM = f"singleValueExtendedProperties($filter=id eq '{CRM_ID}')"


def crm_filter(value: str) -> str:
    return f"singleValueExtendedProperties/Any(ep: ep/id eq '{CRM_ID}' and ep/value eq '{value}')"


def crm_id_of(doc: dict) -> str | None:
    for prop in doc.get("singleValueExtendedProperties", ()):
        if prop["id"].lower() == CRM_ID.lower():
            return prop["value"]
    return None


def delta_round(http, start: str, page_size: int | None = None, **params) -> tuple[list, str, int]:
    """Follow nextLinks from ``start`` (a path or a deltaLink) to the deltaLink:
    ``(every value in order, the deltaLink, number of pages)``."""
    headers = (
        {"Prefer": f'IdType="ImmutableId", odata.maxpagesize={page_size}'} if page_size else {}
    )
    values, pages, url = [], 0, start
    while True:
        answer = http.get(url, headers=headers, params=params if pages == 0 else None)
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        pages += 1
        values.extend(doc["value"])
        if "@odata.deltaLink" in doc:
            assert "@odata.nextLink" not in doc
            return values, doc["@odata.deltaLink"], pages
        url = doc["@odata.nextLink"]


def latest(values: list) -> dict:
    """Changes by id, the last one kept (delta pages may replay an item)."""
    out: dict = {}
    for value in values:
        out[value["id"]] = value
    return out
