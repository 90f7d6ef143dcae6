"""SOAP envelopes and faults as Exchange 2016 writes them, and their schema check."""

from __future__ import annotations

import functools

from lxml import etree

from .xmlutil import ERR, NSMAP, SOAP, T, el, local, mq, sub, tq

SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "1",
    "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6",
    "Version": "Exchange2016",
}
SUPPORTED_SCHEMAS = (
    "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, "
    "Exchange2013, Exchange2013_SP1, Exchange2016"
)
#: RequestServerVersion values, oldest first.
API_VERSIONS = (
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
)
KNOWN_API_VERSIONS = frozenset(API_VERSIONS)
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}


def envelope(response, header_extra=()):
    """The response envelope around one operation's response element."""
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap=NSMAP)
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    etree.SubElement(header, tq("ServerVersionInfo"), attrib=SERVER_VERSION)
    for h in header_extra:
        header.append(h)
    etree.SubElement(env, f"{{{SOAP}}}Body").append(response)
    etree.cleanup_namespaces(env, top_nsmap=NSMAP)
    return env


def fault(code: str, text: str, message_xml=None) -> tuple[int, bytes, dict[str, str]]:
    """A SOAP fault answer: ``(500, body, headers)``."""
    return 500, fault_bytes(code, text, message_xml), dict(XML_HEADERS)


def fault_bytes(code: str, text: str, message_xml=None) -> bytes:
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    etree.SubElement(header, tq("ServerVersionInfo"), attrib=SERVER_VERSION, nsmap={"h": T})
    body = etree.SubElement(env, f"{{{SOAP}}}Body")
    soap_fault = etree.SubElement(body, f"{{{SOAP}}}Fault")
    fc = etree.SubElement(soap_fault, "faultcode", nsmap={"a": T})
    fc.text = f"a:{code}"
    fs = etree.SubElement(soap_fault, "faultstring")
    fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    fs.text = text
    detail = etree.SubElement(soap_fault, "detail")
    rc = etree.SubElement(detail, f"{{{ERR}}}ResponseCode", nsmap={"e": ERR})
    rc.text = code
    msg = etree.SubElement(detail, f"{{{ERR}}}Message", nsmap={"e": ERR})
    msg.text = text
    if message_xml is not None:
        detail.append(message_xml)
    return serialize(env)


def serialize(root) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=True)


def validate(envelope_elem) -> list[str]:
    """Schema violations of an envelope, as it goes on the wire."""
    from .schema import envelope_errors

    # Re-parse from bytes so the validated tree is exactly what goes on the wire.
    return envelope_errors(etree.fromstring(serialize(envelope_elem)))


def answer_with_code(response, wanted) -> None:
    """Turn one response message of ``response`` into an error with ``wanted.code``, as
    Exchange writes one: MessageText, ResponseCode, DescriptiveLinkKey, then the
    operation's containers left empty (a Sync* message: an empty SyncState and
    IncludesLast...InRange true, or nothing when ``wanted.sync_elements`` is false)."""
    container = response.find(mq("ResponseMessages"))
    messages = list(container) if container is not None else []
    if not messages:
        return
    old = messages[min(wanted.index, len(messages) - 1)]
    msg = el(f"m:{local(old.tag)}", attrib={"ResponseClass": "Error"})
    sub(msg, "m:MessageText", wanted.text)
    sub(msg, "m:ResponseCode", wanted.code)
    sub(msg, "m:DescriptiveLinkKey", 0)
    standard = {"MessageText", "ResponseCode", "DescriptiveLinkKey", "MessageXml"}
    for child in old:
        name = local(child.tag)
        if name in standard:
            continue
        if name == "SyncState" or name.startswith("IncludesLast"):
            if wanted.sync_elements:
                sub(msg, f"m:{name}", "true" if name.startswith("IncludesLast") else None)
        elif name in ("Items", "Folders"):
            sub(msg, f"m:{name}")
    container.replace(old, msg)


def declared_operation(name: str) -> bool:
    """Whether messages.xsd declares ``name`` as a request element (read once)."""
    return name in _declared_operations()


@functools.cache
def _declared_operations() -> frozenset[str]:
    from .xmlutil import SCHEMA_DIR

    xs = "{http://www.w3.org/2001/XMLSchema}"
    root = etree.parse(str(SCHEMA_DIR / "messages.xsd")).getroot()
    names = set()
    for e in root.iterchildren(f"{xs}element"):
        name, type_name = e.get("name") or "", e.get("type") or ""
        if type_name.startswith("m:") and not name.endswith(("Response", "ResponseMessage")):
            names.add(name)
    return frozenset(names)
