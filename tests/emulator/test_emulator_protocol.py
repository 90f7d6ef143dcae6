"""Protocol strictness with raw HTTP clients (requests, ssl sockets), no exchangelib involved.

The SOAP requests below are hand-written in the style of the examples in Microsoft's EWS
operation reference (GetFolder, FindItem, SyncFolderItems, CreateItem, ConvertId)."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
import requests
from lxml import etree

from tests.support import SOAP_ENVELOPE
from tests.support import SOAP_NS as NS
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER

ENVELOPE = SOAP_ENVELOPE.replace("{version}", "Exchange2013")

GET_FOLDER = """
    <m:GetFolder>
      <m:FolderShape>
        <t:BaseShape>IdOnly</t:BaseShape>
        <t:AdditionalProperties>
          <t:FieldURI FieldURI="folder:DisplayName" />
          <t:FieldURI FieldURI="folder:TotalCount" />
          <t:ExtendedFieldURI PropertyTag="0x3613" PropertyType="String" />
        </t:AdditionalProperties>
      </m:FolderShape>
      <m:FolderIds>
        <t:DistinguishedFolderId Id="inbox" />
      </m:FolderIds>
    </m:GetFolder>"""

CREATE_CONTACT = """
    <m:CreateItem>
      <m:SavedItemFolderId>
        <t:DistinguishedFolderId Id="contacts" />
      </m:SavedItemFolderId>
      <m:Items>
        <t:Contact>
          <t:FileAs>Hope, Brian</t:FileAs>
          <t:GivenName>Brian</t:GivenName>
          <t:CompanyName>Contoso</t:CompanyName>
          <t:EmailAddresses>
            <t:Entry Key="EmailAddress1">brian@contoso.com</t:Entry>
          </t:EmailAddresses>
          <t:Surname>Hope</t:Surname>
        </t:Contact>
      </m:Items>
    </m:CreateItem>"""

FIND_ITEM = """
    <m:FindItem Traversal="Shallow">
      <m:ItemShape>
        <t:BaseShape>IdOnly</t:BaseShape>
        <t:AdditionalProperties>
          <t:FieldURI FieldURI="contacts:GivenName" />
        </t:AdditionalProperties>
      </m:ItemShape>
      <m:IndexedPageItemView MaxEntriesReturned="2" Offset="0" BasePoint="Beginning" />
      <m:Restriction>
        <t:Contains ContainmentMode="Prefixed" ContainmentComparison="IgnoreCase">
          <t:FieldURI FieldURI="contacts:CompanyName" />
          <t:Constant Value="conto" />
        </t:Contains>
      </m:Restriction>
      <m:ParentFolderIds>
        <t:DistinguishedFolderId Id="contacts" />
      </m:ParentFolderIds>
    </m:FindItem>"""

SYNC_FOLDER_ITEMS = """
    <m:SyncFolderItems>
      <m:ItemShape>
        <t:BaseShape>IdOnly</t:BaseShape>
      </m:ItemShape>
      <m:SyncFolderId>
        <t:DistinguishedFolderId Id="contacts" />
      </m:SyncFolderId>{state}
      <m:MaxChangesReturned>2</m:MaxChangesReturned>
      <m:SyncScope>NormalItems</m:SyncScope>
    </m:SyncFolderItems>"""

CONVERT_ID = """
    <m:ConvertId DestinationFormat="HexEntryId">
      <m:SourceIds>
        <t:AlternateId Format="EwsId" Id="{id}" Mailbox="{mailbox}" />
      </m:SourceIds>
    </m:ConvertId>"""


def post(server, body: bytes | str, auth=(EWS_USER, EWS_PASSWORD), path=None, **kw):
    data = body.encode() if isinstance(body, str) else body
    return requests.post(
        server.base_url + (path or "/EWS/Exchange.asmx"),
        data=data,
        auth=auth,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        verify=server.ca_cert,
        timeout=10,
        **kw,
    )


def soap(server, body: str, **kw):
    r = post(server, ENVELOPE.format(body=body), **kw)
    return r, etree.fromstring(r.content)


def fault_code(root) -> str:
    return root.findtext(".//detail/e:ResponseCode", namespaces=NS)


def test_published_examples_roundtrip(ews_server):
    r, root = soap(ews_server, GET_FOLDER)
    assert r.status_code == 200
    assert root.find("s:Header/t:ServerVersionInfo", NS).get("MajorBuildNumber") == "2507"
    folder = root.find(".//m:Folders/t:Folder", NS)
    assert folder.findtext("t:DisplayName", namespaces=NS) == "Inbox"
    assert folder.findtext("t:ExtendedProperty/t:Value", namespaces=NS) == "IPF.Note"

    ids = []
    for _ in range(3):
        r, root = soap(ews_server, CREATE_CONTACT)
        assert root.findtext(".//m:ResponseCode", namespaces=NS) == "NoError"
        ids.append(root.find(".//t:Contact/t:ItemId", NS).get("Id"))

    r, root = soap(ews_server, FIND_ITEM)
    rf = root.find(".//m:RootFolder", NS)
    assert (rf.get("TotalItemsInView"), rf.get("IncludesLastItemInRange")) == ("3", "false")
    assert [g.text for g in rf.iterfind(".//t:GivenName", NS)] == ["Brian", "Brian"]

    r, root = soap(ews_server, SYNC_FOLDER_ITEMS.format(state=""))
    assert len(root.findall(".//m:Changes/t:Create", NS)) == 2
    assert root.findtext(".//m:IncludesLastItemInRange", namespaces=NS) == "false"
    state = root.findtext(".//m:SyncState", namespaces=NS)
    r, root = soap(
        ews_server, SYNC_FOLDER_ITEMS.format(state=f"<m:SyncState>{state}</m:SyncState>")
    )
    assert len(root.findall(".//m:Changes/t:Create", NS)) == 1
    assert root.findtext(".//m:IncludesLastItemInRange", namespaces=NS) == "true"

    r, root = soap(ews_server, CONVERT_ID.format(id=ids[0], mailbox=EWS_USER))
    alt = root.find(".//m:AlternateId", NS)
    assert alt.get("Format") == "HexEntryId" and alt.get("Mailbox") == EWS_USER
    assert ews_server.counts["CreateItem"] == 3


def test_path_is_case_insensitive_and_soapaction_optional(ews_server):
    r = post(ews_server, ENVELOPE.format(body=GET_FOLDER), path="/ews/exchange.asmx")
    assert r.status_code == 200
    assert "SOAPAction" not in r.request.headers


def test_no_credentials_and_wrong_password_get_401(ews_server):
    r = post(ews_server, ENVELOPE.format(body=GET_FOLDER), auth=None)
    assert r.status_code == 401
    assert 'Basic realm="' in r.headers["WWW-Authenticate"]
    r = post(ews_server, ENVELOPE.format(body=GET_FOLDER), auth=(EWS_USER, "nope"))
    assert r.status_code == 401


def test_malformed_xml_is_a_soap_fault(ews_server):
    r = post(ews_server, b"<soap:Envelope><unclosed>")
    assert r.status_code == 500
    root = etree.fromstring(r.content)
    assert root.find("s:Body/s:Fault", NS) is not None
    assert fault_code(root) == "ErrorSchemaValidation"
    assert b"Traceback" not in r.content


def test_unknown_operation_is_invalid_request(ews_server):
    r, root = soap(ews_server, "<m:FrobnicateItems/>")
    assert r.status_code == 500
    assert fault_code(root) == "ErrorInvalidRequest"


def test_schema_invalid_request_is_rejected(ews_server):
    bad = GET_FOLDER.replace(
        "<t:BaseShape>IdOnly</t:BaseShape>", "<t:BaseShape>Bogus</t:BaseShape>"
    )
    r, root = soap(ews_server, bad)
    assert fault_code(root) == "ErrorSchemaValidation"
    assert any("BaseShape" in e or "Bogus" in e for e in ews_server.schema_errors)
    ews_server.schema_errors.clear()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&lol9;</soap:Body>
</soap:Envelope>"""


def test_entity_attacks_are_refused(ews_server, tmp_path):
    r = post(ews_server, BILLION_LAUGHS)
    assert (
        r.status_code == 500 and fault_code(etree.fromstring(r.content)) == "ErrorSchemaValidation"
    )
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&xxe;</soap:Body>
</soap:Envelope>"""
    r = post(ews_server, xxe)
    assert r.status_code == 500
    assert b"TOP-SECRET" not in r.content


def test_oversized_body_is_refused(ews_server):
    big = b"<x>" + b"a" * (16 * 1024 * 1024 + 10) + b"</x>"
    try:
        r = post(ews_server, big)
    except requests.exceptions.ConnectionError:
        return  # server closed the connection before reading the whole body: also acceptable
    assert r.status_code == 413
    assert fault_code(etree.fromstring(r.content)) == "ErrorInvalidRequest"


def test_tls12_forced_client_side_and_keep_alive(ews_server):
    ctx = ssl.create_default_context(cafile=ews_server.ca_cert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    body = ENVELOPE.format(body=GET_FOLDER).encode()
    import base64

    cred = base64.b64encode(f"{EWS_USER}:{EWS_PASSWORD}".encode()).decode()
    request = (
        f"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {cred}\r\n"
        f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", ews_server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.2"
            f = tls.makefile("rb")
            for _ in range(3):  # three requests on one connection
                tls.sendall(request)
                status = f.readline()
                assert status.startswith(b"HTTP/1.1 200")
                length = 0
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                assert b"NoError" in f.read(length)
    ctx13 = ssl.create_default_context(cafile=ews_server.ca_cert)
    ctx13.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", ews_server.port), timeout=10) as raw:
        with ctx13.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.3"


def test_untrusted_client_is_rejected_by_tls(ews_server):
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(ews_server.ews_url, data=b"x", verify=True, timeout=10)


def test_small_requests_are_fast(ews_server):
    """Headers and body go out in one write with TCP_NODELAY: no 40 ms Nagle/delayed-ACK stall."""
    with requests.Session() as s:
        s.trust_env = False  # REQUESTS_CA_BUNDLE would override session.verify
        s.verify = ews_server.ca_cert
        s.auth = (EWS_USER, EWS_PASSWORD)
        body = ENVELOPE.format(body=GET_FOLDER).encode()
        s.post(ews_server.ews_url, data=body, timeout=10)
        ews_server.validate = False
        start = time.perf_counter()
        for _ in range(20):
            assert s.post(ews_server.ews_url, data=body, timeout=10).status_code == 200
        per_request = (time.perf_counter() - start) / 20
    assert per_request < 0.03, per_request


def test_tls_handshakes_are_counted_one_per_connection(ews_server):
    body = ENVELOPE.format(body=GET_FOLDER).encode()
    ews_server.reset_counts()
    assert ews_server.handshakes == 0
    for _ in range(2):  # two sessions, three requests each: two connections
        with requests.Session() as s:
            s.trust_env = False
            s.verify = ews_server.ca_cert
            s.auth = (EWS_USER, EWS_PASSWORD)
            for _ in range(3):
                assert s.post(ews_server.ews_url, data=body, timeout=10).status_code == 200
    assert ews_server.handshakes == 2
    assert ews_server.counts["GetFolder"] == 6
    ews_server.reset_counts()
    assert ews_server.handshakes == 0


def test_invalid_response_is_caught_and_recorded(ews_server, ews_mailbox, ews_account):
    """Validation covers what the emulator sends too: a bogus stored field surfaces as a fault
    and in server.schema_errors (which the ews_server fixture asserts empty at teardown)."""
    from exchangelib.errors import ErrorSchemaValidation

    [item_id] = ews_mailbox.add_items("contacts", [{"DisplayName": "ok", "Birthday": "not-a-date"}])
    with pytest.raises(ErrorSchemaValidation):
        ews_account.contacts.get(id=item_id)
    assert any(e.startswith("response GetItem") for e in ews_server.schema_errors)
    ews_server.schema_errors.clear()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(b"X: " + b"a" * 70000 + b"\r\n", id="line-too-long"),
        pytest.param(b"X: a\r\n" * 101, id="too-many-headers"),
    ],
)
def test_header_limits_are_http_clients(ews_server, headers):
    """http.client's limits (a 64 KiB line, 100 headers) answered with 431."""
    raw = socket.create_connection(("127.0.0.1", ews_server.port), timeout=10)
    ctx = ssl.create_default_context(cafile=ews_server.ca_cert)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /EWS/Exchange.asmx HTTP/1.1\r\n" + headers + b"\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"POST /EWS/Exchange.asmx HTTP/1.x", b"400"),
        (b"POST /EWS/Exchange.asmx HTTP/2.0", b"505"),
        (b"POST /EWS/Exchange.asmx", b"400"),  # HTTP/0.9 allows GET only
        (b"POST /EWS/Exchange.asmx HTTP/1.1 extra", b"400"),
        (b"GET //EWS/Exchange.asmx HTTP/1.1", b"405"),  # // folded to /: the EWS path
        (b"POST /EWS/Exchange.asmx HTTP/1.1", b"401"),  # well formed, no credentials
    ],
)
def test_request_lines_are_checked_as_the_stdlib_does(ews_server, line, status):
    raw = socket.create_connection(("127.0.0.1", ews_server.port), timeout=10)
    ctx = ssl.create_default_context(cafile=ews_server.ca_cert)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(line + b"\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
    if answer.startswith(b"HTTP/"):
        assert answer.split(b" ")[1] == status
    else:  # a request with no valid version is answered the HTTP/0.9 way: a page
        assert b"Error code: " + status in answer


def test_expect_100_continue_is_answered(ews_server):
    raw = socket.create_connection(("127.0.0.1", ews_server.port), timeout=10)
    ctx = ssl.create_default_context(cafile=ews_server.ca_cert)
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        head = b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        tls.sendall(head + b"Expect: 100-continue\r\n\r\n")
        assert tls.recv(100).startswith(b"HTTP/1.1 100")


def test_request_headers_snapshot_is_dict_of_the_message():
    import http.client
    import io

    from wess_emulator.emulator.ews_endpoint import header_dict

    for block in (b"Host: a\r\nX-A: 1\r\n\r\n", b"Host: a\r\nhost: b\r\nX-A: 1\r\nx-a: 2\r\n\r\n"):
        message = http.client.parse_headers(io.BytesIO(block))
        assert header_dict(message) == dict(message)
        assert list(header_dict(message)) == list(dict(message))
