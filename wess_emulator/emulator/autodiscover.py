"""SOAP Autodiscover ``GetUserSettings``: the EWS URL and server version per mailbox,
or a redirect, as Exchange 2016 answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from .httpd import Handler
from .soap import SERVER_VERSION, SUPPORTED_SCHEMAS, XML_HEADERS, fault, serialize
from .transport_faults import apply_fault
from .xmlutil import AUTOD, SOAP, XmlError, parse_xml

if TYPE_CHECKING:
    from .server import EmulatorServer

_ADDRESSING = "http://www.w3.org/2005/08/addressing"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_ACTION = (
    "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettingsResponse"
)


def _a(name: str) -> str:
    return f"{{{AUTOD}}}{name}"


def get_user_settings(server: EmulatorServer, handler: Handler, body: bytes):
    """Answer ``POST /autodiscover/autodiscover.svc``: ``(status, body, headers)``."""
    principal = server.authenticate(handler.headers.get("Authorization"))
    if principal is None:
        raise server.unauthorized()
    server.count_request("GetUserSettings")
    try:
        root = parse_xml(body)
    except XmlError as e:
        return fault("ErrorSchemaValidation", str(e))
    req = root.find(f"{{{SOAP}}}Body/{_a('GetUserSettingsRequestMessage')}/{_a('Request')}")
    if req is None:
        return fault("ErrorInvalidRequest", "Expected GetUserSettingsRequestMessage")
    injected = server.faults.take_transport("GetUserSettings")
    if injected is not None:
        result = apply_fault(handler, injected)
        if result is not None:
            return result
    wanted = [s.text for s in req.iter(_a("Setting")) if s.text]
    env = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"s": SOAP, "a": _ADDRESSING, "i": _XSI})
    header = etree.SubElement(env, f"{{{SOAP}}}Header")
    action = etree.SubElement(header, f"{{{_ADDRESSING}}}Action")
    action.text = _ACTION
    svi = etree.SubElement(header, _a("ServerVersionInfo"), nsmap={"h": AUTOD})
    for k in ("MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber", "Version"):
        etree.SubElement(svi, _a(k)).text = SERVER_VERSION[k]
    sbody = etree.SubElement(env, f"{{{SOAP}}}Body")
    msg = etree.SubElement(sbody, _a("GetUserSettingsResponseMessage"), nsmap={None: AUTOD})
    resp = etree.SubElement(msg, _a("Response"))
    etree.SubElement(resp, _a("ErrorCode")).text = "NoError"
    etree.SubElement(resp, _a("ErrorMessage"))
    responses = etree.SubElement(resp, _a("UserResponses"))
    for mbx_elem in req.iter(_a("Mailbox")):
        _user_response(server, responses, (mbx_elem.text or "").strip().lower(), wanted)
    return 200, serialize(env), dict(XML_HEADERS)


def _user_response(server: EmulatorServer, responses, email: str, wanted: list[str]) -> None:
    ur = etree.SubElement(responses, _a("UserResponse"))
    user = server.user(email)
    if user is None:
        etree.SubElement(ur, _a("ErrorCode")).text = "InvalidUser"
        etree.SubElement(ur, _a("ErrorMessage")).text = f"Invalid user: '{email}'"
        return
    if user.redirect_to:
        etree.SubElement(ur, _a("ErrorCode")).text = "RedirectAddress"
        etree.SubElement(ur, _a("ErrorMessage")).text = "Redirection address."
        etree.SubElement(ur, _a("RedirectTarget")).text = user.redirect_to
        return
    if user.redirect_url:
        etree.SubElement(ur, _a("ErrorCode")).text = "RedirectUrl"
        etree.SubElement(ur, _a("ErrorMessage")).text = "Redirection URL."
        etree.SubElement(ur, _a("RedirectTarget")).text = user.redirect_url
        return
    etree.SubElement(ur, _a("ErrorCode")).text = "NoError"
    etree.SubElement(ur, _a("ErrorMessage")).text = "No error."
    values = {
        "UserDisplayName": user.display_name,
        "UserDN": f"/o=WESS/ou=Emulator/cn=Recipients/cn={user.email}",
        "AutoDiscoverSMTPAddress": user.email,
        "ExternalEwsUrl": server.announced_ews_url or server.ews_url,
        "InternalEwsUrl": server.announced_ews_url or server.ews_url,
        "EwsSupportedSchemas": SUPPORTED_SCHEMAS,
        "CasVersion": "15.01.2507.006",
        "ExternalEwsVersion": "15.01.2507.006",
    }
    errors = etree.SubElement(ur, _a("UserSettingErrors"))
    settings = etree.SubElement(ur, _a("UserSettings"))
    for name in wanted:
        if name in values:
            s = etree.SubElement(settings, _a("UserSetting"))
            s.set(f"{{{_XSI}}}type", "StringSetting")
            etree.SubElement(s, _a("Name")).text = name
            etree.SubElement(s, _a("Value")).text = values[name]
        else:
            e = etree.SubElement(errors, _a("UserSettingError"))
            etree.SubElement(e, _a("ErrorCode")).text = "SettingIsNotAvailable"
            etree.SubElement(e, _a("ErrorMessage")).text = "Setting is not available."
            etree.SubElement(e, _a("SettingName")).text = name
