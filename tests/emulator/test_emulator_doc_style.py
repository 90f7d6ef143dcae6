"""Requests shaped like the examples of Microsoft's EWS operation reference, which differ
from what exchangelib sends: no SOAP header at all (no RequestServerVersion), the messages
namespace as the *default* namespace of the operation element, ``Default`` and
``AllProperties`` shapes. Java, C# and gateway clients send requests like these."""

from __future__ import annotations

import requests
from lxml import etree

from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
NS = {"m": M, "t": T}


def doc_request(server, operation_xml: str):
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:t="{T}"><soap:Body>{operation_xml}</soap:Body></soap:Envelope>'
    )
    r = requests.post(
        server.ews_url,
        data=envelope.encode(),
        auth=(EWS_USER, EWS_PASSWORD),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        verify=server.ca_cert,
        timeout=10,
    )
    assert r.status_code == 200, r.text[:500]
    root = etree.fromstring(r.content)
    codes = root.xpath("//m:ResponseCode/text()", namespaces=NS)
    return root, codes


def test_get_folder_with_default_shape_and_no_header(ews_server):
    root, codes = doc_request(
        ews_server,
        f"""
        <GetFolder xmlns="{M}"><FolderShape><t:BaseShape>Default</t:BaseShape></FolderShape>
        <FolderIds><t:DistinguishedFolderId Id="inbox"/></FolderIds></GetFolder>""",
    )
    assert codes == ["NoError"]
    assert root.xpath("//t:Folder/t:DisplayName/text()", namespaces=NS) == ["Inbox"]
    assert root.xpath("//t:Folder/t:TotalCount/text()", namespaces=NS) == ["0"]
    assert root.xpath("//t:Folder/t:FolderId/@Id", namespaces=NS)


def test_create_get_find_and_delete_a_contact_doc_style(ews_server):
    root, codes = doc_request(
        ews_server,
        f"""
        <CreateItem xmlns="{M}"><SavedItemFolderId>
          <t:DistinguishedFolderId Id="contacts"/></SavedItemFolderId><Items>
          <t:Contact><t:FileAs>Lee, Ann</t:FileAs><t:GivenName>Ann</t:GivenName>
            <t:CompanyName>Acme</t:CompanyName>
            <t:EmailAddresses><t:Entry Key="EmailAddress1">ann@acme.example</t:Entry>
            </t:EmailAddresses><t:Surname>Lee</t:Surname></t:Contact></Items></CreateItem>""",
    )
    assert codes == ["NoError"]
    (item_id,) = root.xpath("//t:Contact/t:ItemId/@Id", namespaces=NS)

    root, codes = doc_request(
        ews_server,
        f"""
        <GetItem xmlns="{M}"><ItemShape><t:BaseShape>AllProperties</t:BaseShape></ItemShape>
        <ItemIds><t:ItemId Id="{item_id}"/></ItemIds></GetItem>""",
    )
    assert codes == ["NoError"]
    assert root.xpath("//t:Contact/t:GivenName/text()", namespaces=NS) == ["Ann"]
    assert root.xpath("//t:Contact/t:CompanyName/text()", namespaces=NS) == ["Acme"]
    assert root.xpath("//t:Contact/t:EmailAddresses/t:Entry/text()", namespaces=NS) == [
        "ann@acme.example"
    ]

    root, codes = doc_request(
        ews_server,
        f"""
        <FindItem xmlns="{M}" Traversal="Shallow"><ItemShape>
          <t:BaseShape>IdOnly</t:BaseShape></ItemShape>
        <ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></ParentFolderIds>
        </FindItem>""",
    )
    assert codes == ["NoError"]
    assert root.xpath("//t:Contact/t:ItemId/@Id", namespaces=NS) == [item_id]
    assert root.xpath("//m:RootFolder/@TotalItemsInView", namespaces=NS) == ["1"]

    root, codes = doc_request(
        ews_server,
        f"""
        <DeleteItem xmlns="{M}" DeleteType="HardDelete"><ItemIds>
          <t:ItemId Id="{item_id}"/></ItemIds></DeleteItem>""",
    )
    assert codes == ["NoError"]
    root, codes = doc_request(
        ews_server,
        f"""
        <GetItem xmlns="{M}"><ItemShape><t:BaseShape>IdOnly</t:BaseShape></ItemShape>
        <ItemIds><t:ItemId Id="{item_id}"/></ItemIds></GetItem>""",
    )
    assert codes == ["ErrorItemNotFound"]


def test_sync_folder_hierarchy_doc_style(ews_server):
    root, codes = doc_request(
        ews_server,
        f"""
        <SyncFolderHierarchy xmlns="{M}"><FolderShape>
          <t:BaseShape>AllProperties</t:BaseShape></FolderShape></SyncFolderHierarchy>""",
    )
    assert codes == ["NoError"]
    names = set(root.xpath("//t:Create/*/t:DisplayName/text()", namespaces=NS))
    assert {"Inbox", "Contacts", "Calendar", "Tasks", "Sent Items"} <= names
    assert root.xpath("//m:SyncState/text()", namespaces=NS)
    assert root.xpath("//m:IncludesLastFolderInRange/text()", namespaces=NS) == ["true"]
