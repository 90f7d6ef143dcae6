"""XML plumbing for the emulator: namespaces, a safe parser, element builders and the element
order of EWS complex types (read from the bundled ``types.xsd``)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
ERR = "http://schemas.microsoft.com/exchange/services/2006/errors"
AUTOD = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS = "http://www.w3.org/2001/XMLSchema"

NSMAP = {"s": SOAP, "m": M, "t": T}
_PREFIXES = {"t": T, "m": M, "s": SOAP, "a": AUTOD, "e": ERR}
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

MAX_BODY_BYTES = 16 * 1024 * 1024


class XmlError(Exception):
    """The request body is not acceptable XML (malformed, DTD, too large...)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=True,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted request bytes. DTDs (and with them every entity trick) are refused."""
    if len(data) > MAX_BODY_BYTES:
        raise XmlError("Request body too large")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data or b"<!doctype" in data:
        raise XmlError("DTDs are not allowed in SOAP messages")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as e:
        raise XmlError(f"Malformed XML: {e}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise XmlError("DTDs are not allowed in SOAP messages")
    return root


def tq(name: str) -> str:
    return f"{{{T}}}{name}"


def mq(name: str) -> str:
    return f"{{{M}}}{name}"


def local(tag) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def el(tag: str, text=None, attrib=None, children=()) -> etree._Element:
    """Build an element. ``tag`` may be 't:Name' / 'm:Name' / 's:Name' or a Clark name."""
    if ":" in tag and not tag.startswith("{"):
        prefix, name = tag.split(":", 1)
        tag = f"{{{_PREFIXES[prefix]}}}{name}"
    e = etree.Element(tag, attrib={k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        e.text = bool_text(text) if isinstance(text, bool) else str(text)
    for c in children:
        if c is not None:
            e.append(c)
    return e


def sub(parent, tag: str, text=None, attrib=None) -> etree._Element:
    child = el(tag, text, attrib)
    parent.append(child)
    return child


def bool_text(v: bool) -> str:
    return "true" if v else "false"


def text_of(elem, path: str, default=None):
    if elem is None:
        return default
    found = elem.find(path, NSMAP)
    if found is None or found.text is None:
        return default
    return found.text


def clone(elem):
    return copy.deepcopy(elem)


def to_bytes(elem) -> bytes:
    return etree.tostring(elem, encoding="utf-8", xml_declaration=True)


# --------------------------------------------------------------------------- schema order


def _flatten(node, out: list[str], types: dict) -> None:
    for child in node:
        name = local(child.tag)
        if name == "element":
            ename = child.get("name") or (child.get("ref") or "").split(":")[-1]
            if ename and ename not in out:
                out.append(ename)
        elif name in ("sequence", "choice", "all"):
            _flatten(child, out, types)
        elif name == "group":
            ref = (child.get("ref") or "").split(":")[-1]
            grp = types["groups"].get(ref)
            if grp is not None:
                _flatten(grp, out, types)
        elif name in ("complexContent", "simpleContent"):
            _flatten(child, out, types)
        elif name in ("extension", "restriction"):
            base = (child.get("base") or "").split(":")[-1]
            if name == "extension" and base in types["complex"]:
                out.extend(x for x in element_order(base) if x not in out)
            _flatten(child, out, types)


@functools.lru_cache(maxsize=1)
def _types_index() -> dict:
    tree = etree.parse(str(SCHEMA_DIR / "types.xsd"), parser=_parser())
    root = tree.getroot()
    complex_types = {}
    groups = {}
    elements = {}
    for node in root:
        tag = local(node.tag)
        if tag == "complexType" and node.get("name"):
            complex_types[node.get("name")] = node
        elif tag == "group" and node.get("name"):
            groups[node.get("name")] = node
        elif tag == "element" and node.get("name"):
            elements[node.get("name")] = node
    return {"complex": complex_types, "groups": groups, "elements": elements}


@functools.cache
def element_order(type_name: str) -> tuple[str, ...]:
    """Child element local names of complex type ``type_name`` in schema order (base first)."""
    types = _types_index()
    node = types["complex"].get(type_name)
    if node is None:
        return ()
    out: list[str] = []
    _flatten(node, out, types)
    return tuple(out)


@functools.cache
def order_index(type_name: str) -> dict[str, int]:
    return {name: i for i, name in enumerate(element_order(type_name))}


def insert_ordered(parent, child, type_name: str) -> None:
    """Insert ``child`` into ``parent`` at its schema position, replacing a same-named child."""
    idx = order_index(type_name)
    name = local(child.tag)
    pos = idx.get(name, len(idx))
    for i, existing in enumerate(parent):
        ename = local(existing.tag)
        if ename == name and name != "ExtendedProperty":
            parent.replace(existing, child)
            return
        if idx.get(ename, len(idx)) > pos:
            parent.insert(i, child)
            return
    parent.append(child)


@functools.lru_cache(maxsize=1)
def boolean_elements() -> frozenset[str]:
    """Local names of schema elements typed xs:boolean (clients may send 1/0 for them)."""
    root = _types_index()["complex"]
    names = set()
    for node in root.values():
        for e in node.iter(f"{{{XS}}}element"):
            if e.get("type") == "xs:boolean" and e.get("name"):
                names.add(e.get("name"))
    return frozenset(names)


def normalize_booleans(elem) -> None:
    """Rewrite 1/0 in boolean elements to true/false, as Exchange echoes them."""
    names = boolean_elements()
    for node in elem.iter():
        if node.text in ("1", "0") and len(node) == 0 and local(node.tag) in names:
            node.text = "true" if node.text == "1" else "false"


def sort_children(parent, type_name: str) -> None:
    idx = order_index(type_name)
    children = list(parent)
    children.sort(key=lambda c: idx.get(local(c.tag), len(idx)))
    parent[:] = children
