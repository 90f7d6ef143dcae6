"""Validation of requests and responses against Microsoft's EWS schemas (compiled once)."""

from __future__ import annotations

import functools
import threading

from .xmlutil import SCHEMA_DIR, SOAP, M, T, local

_LOCK = threading.Lock()
_NS = {"s": SOAP, "m": M, "t": T}


@functools.lru_cache(maxsize=1)
def ews_schema():
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_DIR / "ews-envelope.xsd"))


@functools.lru_cache(maxsize=1)
def response_codes() -> frozenset[str]:
    """The ``ResponseCodeType`` enumeration of the shipped schema (every ResponseCode)."""
    from lxml import etree

    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    tree = etree.parse(str(SCHEMA_DIR / "messages.xsd"))
    for simple in tree.iterfind(".//xs:simpleType", ns):
        if simple.get("name") == "ResponseCodeType":
            return frozenset(e.get("value") for e in simple.iterfind(".//xs:enumeration", ns))
    return frozenset()


def envelope_errors(root) -> list[str]:
    """Return schema violations of a SOAP envelope (Header and Body children checked strictly)."""
    schema = ews_schema()
    errors: list[str] = []
    if root.tag != f"{{{SOAP}}}Envelope":
        return [f"Root element is {root.tag}, expected soap:Envelope"]
    for part in root:
        if part.tag not in (f"{{{SOAP}}}Header", f"{{{SOAP}}}Body"):
            errors.append(f"Unexpected envelope child {part.tag}")
            continue
        for child in part:
            if local(part.tag) == "Body" and child.tag == f"{{{SOAP}}}Fault":
                continue
            if child.tag not in schema.maps.elements:
                errors.append(f"Undeclared element {child.tag}")
                continue
            with _LOCK:  # xmlschema validation is not documented as thread-safe
                for err in schema.iter_errors(child, namespaces=_NS):
                    errors.append(f"{local(child.tag)}: {err.reason} (path {err.path})")
                    if len(errors) > 20:
                        return errors
    return errors
