"""Clients other than exchangelib: raw SOAP over HTTPS with Basic auth, shaped like the request
examples of Microsoft's EWS reference (ConvertId, FindItem with ``ExtendedFieldURI
PropertyTag``, CreateItem with ``ExtendedProperty``, GetUserPhoto), as a Java EWS gateway
sends them: it learns the current user from ConvertId, lists items by MAPI property tags and
creates contacts purely through extended properties. What it writes must be what exchangelib
reads as first-class fields, and the other way round."""

from __future__ import annotations

import base64

import pytest
import requests
from exchangelib import CalendarItem, Contact, Message, Task
from exchangelib.ewsdatetime import UTC, EWSDateTime
from lxml import etree

from tests.support import SOAP_ENVELOPE, SOAP_NS
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER


def post(server, body: str, version="Exchange2013", headers=None):
    envelope = SOAP_ENVELOPE.format(body=body, version=version).encode()
    return requests.post(
        server.ews_url,
        data=envelope,
        auth=(EWS_USER, EWS_PASSWORD),
        headers={"Content-Type": "text/xml; charset=utf-8", **(headers or {})},
        verify=server.ca_cert,
        timeout=10,
    )


def call(server, body: str, **kw):
    r = post(server, body, **kw)
    assert r.status_code == 200, r.text[:800]
    root = etree.fromstring(r.content)
    codes = root.xpath("//m:ResponseCode/text()", namespaces=SOAP_NS)
    assert codes and set(codes) == {"NoError"}, codes
    return root


def fault_code(response) -> str:
    return etree.fromstring(response.content).findtext(
        ".//detail/e:ResponseCode", namespaces=SOAP_NS
    )


def tag_uri(tag: str, kind="String") -> str:
    return f'<t:ExtendedFieldURI PropertyTag="{tag}" PropertyType="{kind}" />'


def ext_prop(tag: str, value: str, kind="String") -> str:
    value_xml = f"<t:Value>{value}</t:Value>"
    return f"<t:ExtendedProperty>{tag_uri(tag, kind)}{value_xml}</t:ExtendedProperty>"


def ext_values(node) -> dict[str, str]:
    """PropertyTag (as sent) -> Value of a rendered item's extended properties."""
    out = {}
    for ep in node.iterfind("t:ExtendedProperty", SOAP_NS):
        out[ep.find("t:ExtendedFieldURI", SOAP_NS).get("PropertyTag")] = ep.findtext(
            "t:Value", None, SOAP_NS
        )
    return out


def find_items(server, folder: str, tags, restriction="", kinds=None):
    props = "".join(tag_uri(t, (kinds or {}).get(t, "String")) for t in tags)
    if props:
        props = f"<t:AdditionalProperties>{props}</t:AdditionalProperties>"
    root = call(
        server,
        f"""
    <m:FindItem Traversal="Shallow">
      <m:ItemShape>
        <t:BaseShape>IdOnly</t:BaseShape>
        {props}
      </m:ItemShape>
      <m:IndexedPageItemView MaxEntriesReturned="50" Offset="0" BasePoint="Beginning" />
      {restriction}
      <m:ParentFolderIds><t:DistinguishedFolderId Id="{folder}" /></m:ParentFolderIds>
    </m:FindItem>""",
    )
    items = root.find(".//m:RootFolder/t:Items", SOAP_NS)
    return [(node.find("t:ItemId", SOAP_NS).get("Id"), ext_values(node)) for node in items]


def is_equal_to(tag: str, value: str) -> str:
    return f"""<m:Restriction><t:IsEqualTo>{tag_uri(tag)}
        <t:FieldURIOrConstant><t:Constant Value="{value}" /></t:FieldURIOrConstant>
        </t:IsEqualTo></m:Restriction>"""


CONTACT_BY_EXTENDED_PROPERTIES = """
    <m:CreateItem>
      <m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts" /></m:SavedItemFolderId>
      <m:Items>
        <t:Contact>{props}</t:Contact>
      </m:Items>
    </m:CreateItem>"""


def test_third_party_client_flow(ews_server, ews_account):
    # 1. Who am I? Convert the root folder's id, with a placeholder mailbox.
    root = call(
        ews_server,
        """<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
        <m:FolderIds><t:DistinguishedFolderId Id="msgfolderroot" /></m:FolderIds></m:GetFolder>""",
    )
    folder_id = root.find(".//t:FolderId", SOAP_NS).get("Id")
    root = call(
        ews_server,
        f"""<m:ConvertId DestinationFormat="EwsId"><m:SourceIds>
          <t:AlternateId Format="EwsId" Id="{folder_id}" Mailbox="blah@blah.com" />
        </m:SourceIds></m:ConvertId>""",
    )
    alt = root.find(".//m:AlternateId", SOAP_NS)
    assert alt.get("Mailbox") == EWS_USER
    assert (alt.get("Format"), alt.get("Id")) == ("EwsId", folder_id)

    # 2. List the contacts folder by MAPI tags: no item has the URL name it will create.
    tags = ["0x3001", "0x3A06", "0x3A11", "0x0E23", "0x10F3", "0x3008", "0x001A"]
    assert find_items(ews_server, "contacts", tags, is_equal_to("0x10F3", "ann-lee-1.EML")) == []

    # 3. Create a contact through extended properties only.
    props = "".join(
        [
            ext_prop("0x001A", "IPM.Contact"),
            ext_prop("0x3001", "Ann Lee"),
            ext_prop("0x3A06", "Ann"),
            ext_prop("0x3A11", "Lee"),
            ext_prop("0x3A16", "Acme"),
            ext_prop("0x3A1C", "+1 555 0100"),
            ext_prop("0x10F3", "ann-lee-1.EML"),
        ]
    )
    root = call(ews_server, CONTACT_BY_EXTENDED_PROPERTIES.format(props=props))
    item_id = root.find(".//t:Contact/t:ItemId", SOAP_NS).get("Id")

    # 4. List by MAPI tags again, finding the item by its URL name.
    found = find_items(
        ews_server,
        "contacts",
        tags,
        is_equal_to("0x10F3", "ann-lee-1.EML"),
        kinds={"0x0E23": "Integer", "0x3008": "SystemTime"},
    )
    assert [i for i, _ in found] == [item_id]
    values = found[0][1]
    assert (values["0x3001"], values["0x3A06"], values["0x3A11"]) == ("Ann Lee", "Ann", "Lee")
    assert values["0x001A"] == "IPM.Contact" and values["0x10F3"] == "ann-lee-1.EML"
    assert int(values["0x0E23"]) > 0 and values["0x3008"].endswith("Z")
    assert find_items(ews_server, "contacts", tags, is_equal_to("0x10F3", "nope.EML")) == []

    # 5. exchangelib sees first-class fields.
    contact = ews_account.contacts.get(id=item_id)
    assert isinstance(contact, Contact)
    assert (contact.display_name, contact.given_name, contact.surname) == ("Ann Lee", "Ann", "Lee")
    assert contact.company_name == "Acme"
    assert [(p.label, p.phone_number) for p in contact.phone_numbers] == [
        ("MobilePhone", "+1 555 0100")
    ]
    assert contact.item_class == "IPM.Contact"
    assert ews_server.counts["CreateItem"] == 1


def test_exchangelib_contacts_are_listed_by_tag_and_filtered(ews_server, ews_account):
    for given, surname in [("Ann", "Lee"), ("Bob", "Ray"), ("Ann", "Kim")]:
        Contact(
            folder=ews_account.contacts,
            display_name=f"{given} {surname}",
            given_name=given,
            surname=surname,
        ).save()
    listed = find_items(ews_server, "contacts", ["0x3001", "0x3A06", "0x3A11"])
    assert sorted(tuple(v.values()) for _, v in listed) == [
        ("Ann Kim", "Ann", "Kim"),
        ("Ann Lee", "Ann", "Lee"),
        ("Bob Ray", "Bob", "Ray"),
    ]
    anns = find_items(ews_server, "contacts", ["0x3001"], is_equal_to("0x3A06", "Ann"))
    assert sorted(v["0x3001"] for _, v in anns) == ["Ann Kim", "Ann Lee"]
    # The same tag in decimal (0x3A11 == 14865), for the path and the restriction.
    kims = find_items(ews_server, "contacts", ["14865"], is_equal_to("14865", "Kim"))
    assert [v for _, v in kims] == [{"14865": "Kim"}]
    # A restriction on a tag nobody set matches nothing; Exists on a set tag matches all.
    assert find_items(ews_server, "contacts", [], is_equal_to("0x3A44", "x")) == []
    exists = f"<m:Restriction><t:Exists>{tag_uri('0x3A06')}</t:Exists></m:Restriction>"
    assert len(find_items(ews_server, "contacts", [], exists)) == 3


def test_computed_tags_article_number_url_name_class_and_mtime(ews_server, ews_account):
    start = EWSDateTime(2030, 1, 7, 10, tzinfo=UTC)
    made = [
        Contact(folder=ews_account.contacts, display_name="Cy Doe").save(),
        CalendarItem(
            folder=ews_account.calendar, subject="Kick-off", start=start, end=start
        ).save(),
        Task(folder=ews_account.tasks, subject="Call back").save(),
        Message(folder=ews_account.drafts, subject="Hello").save(),
        Contact(folder=ews_account.contacts, display_name="Di Roe").save(),
    ]
    tags = "".join(
        tag_uri(t, k)
        for t, k in [
            ("0x0E23", "Integer"),
            ("0x10F3", "String"),
            ("0x001A", "String"),
            ("0x3008", "SystemTime"),
            ("0x0037", "String"),
        ]
    )
    ids = "".join(f'<t:ItemId Id="{i.id}" />' for i in made)
    root = call(
        ews_server,
        f"""<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>
          <t:AdditionalProperties><t:FieldURI FieldURI="item:LastModifiedTime" />{tags}
          </t:AdditionalProperties></m:ItemShape><m:ItemIds>{ids}</m:ItemIds></m:GetItem>""",
    )
    nodes = [
        msg.find("m:Items", SOAP_NS)[0]
        for msg in root.iterfind(".//m:GetItemResponseMessage", SOAP_NS)
    ]
    values = [ext_values(n) for n in nodes]
    numbers = [int(v["0x0E23"]) for v in values]
    assert numbers[0] > 0 and numbers == sorted(set(numbers))
    assert [v["0x001A"] for v in values] == [
        "IPM.Contact",
        "IPM.Appointment",
        "IPM.Task",
        "IPM.Note",
        "IPM.Contact",
    ]
    assert [v["0x10F3"] for v in values] == [
        "Cy Doe.EML",
        "Kick-off.EML",
        "Call back.EML",
        "Hello.EML",
        "Di Roe.EML",
    ]
    assert [v.get("0x0037") for v in values][1:4] == ["Kick-off", "Call back", "Hello"]
    for node, v in zip(nodes, values, strict=True):
        assert v["0x3008"] == node.findtext("t:LastModifiedTime", None, SOAP_NS)
    # A restriction on the article number (a client's "newer than" query).
    newer = f"""<m:Restriction><t:IsGreaterThan>{tag_uri("0x0E23", "Integer")}
        <t:FieldURIOrConstant><t:Constant Value="{numbers[0]}" /></t:FieldURIOrConstant>
        </t:IsGreaterThan></m:Restriction>"""
    assert [i for i, _ in find_items(ews_server, "contacts", [], newer)] == [made[4].id]


def test_update_and_delete_through_tags(ews_server, ews_account):
    contact = Contact(
        folder=ews_account.contacts, display_name="Ed Poe", given_name="Ed", surname="Poe"
    ).save()

    def update(kind: str, tag: str, value: str | None):
        item = f"<t:Contact>{ext_prop(tag, value)}</t:Contact>" if value is not None else ""
        call(
            ews_server,
            f"""<m:UpdateItem ConflictResolution="AlwaysOverwrite"><m:ItemChanges>
              <t:ItemChange><t:ItemId Id="{contact.id}" /><t:Updates>
                <t:{kind}>{tag_uri(tag)}{item}</t:{kind}>
              </t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>""",
        )

    update("SetItemField", "0x3A06", "Edgar")
    update("SetItemField", "0x3001", "Edgar Poe")
    update("SetItemField", "0x3A08", "+1 555 0199")
    update("DeleteItemField", "0x3A11", None)
    update("SetItemField", "0x0E23", "7")  # computed: Exchange recomputes it, the value is dropped
    fresh = ews_account.contacts.get(id=contact.id)
    assert (fresh.given_name, fresh.display_name, fresh.surname) == ("Edgar", "Edgar Poe", None)
    assert [(p.label, p.phone_number) for p in fresh.phone_numbers] == [
        ("BusinessPhone", "+1 555 0199")
    ]
    [(_, values)] = find_items(ews_server, "contacts", ["0x3A06", "0x3A11", "0x0E23"])
    assert values["0x3A06"] == "Edgar" and "0x3A11" not in values
    assert values["0x0E23"] != "7"


def test_seeded_tags_fill_first_class_fields(ews_mailbox, ews_account):
    [item_id] = ews_mailbox.add_items(
        "contacts",
        [
            {
                "extended_properties": [
                    {"PropertyTag": "0x3001", "PropertyType": "String", "Value": "Gil Ng"},
                    {"PropertyTag": "0x3A11", "PropertyType": "String", "Value": "Ng"},
                ]
            }
        ],
    )
    contact = ews_account.contacts.get(id=item_id)
    assert (contact.display_name, contact.surname) == ("Gil Ng", "Ng")


def test_generic_item_with_a_contact_class_is_a_contact(ews_server, ews_account):
    props = ext_prop("0x001A", "IPM.Contact") + ext_prop("0x3001", "Flo Fox")
    root = call(
        ews_server,
        f"""<m:CreateItem><m:SavedItemFolderId><t:DistinguishedFolderId Id="contacts" />
        </m:SavedItemFolderId><m:Items><t:Item>{props}</t:Item></m:Items></m:CreateItem>""",
    )
    item_id = root.find(".//t:Contact/t:ItemId", SOAP_NS).get("Id")
    contact = ews_account.contacts.get(id=item_id)
    assert isinstance(contact, Contact) and contact.display_name == "Flo Fox"


def test_folder_class_tag_read_filtered_and_written(ews_server, ews_account):
    shape = f"""<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>
        {tag_uri("0x3613")}{tag_uri("0x3001")}</t:AdditionalProperties></m:FolderShape>"""
    root = call(
        ews_server,
        f"""<m:GetFolder>{shape}<m:FolderIds><t:DistinguishedFolderId Id="contacts" />
        <t:DistinguishedFolderId Id="calendar" /><t:DistinguishedFolderId Id="tasks" />
        </m:FolderIds></m:GetFolder>""",
    )
    got = [ext_values(f) for f in root.iterfind(".//m:Folders/*", SOAP_NS)]
    assert got == [
        {"0x3613": "IPF.Contact", "0x3001": "Contacts"},
        {"0x3613": "IPF.Appointment", "0x3001": "Calendar"},
        {"0x3613": "IPF.Task", "0x3001": "Tasks"},
    ]
    # A plain t:Folder created with 0x3613 = IPF.Contact is a contacts folder.
    root = call(
        ews_server,
        f"""<m:CreateFolder><m:ParentFolderId><t:DistinguishedFolderId Id="contacts" />
        </m:ParentFolderId><m:Folders><t:Folder>{ext_prop("0x3001", "CRM")}
        {ext_prop("0x3613", "IPF.Contact")}</t:Folder></m:Folders></m:CreateFolder>""",
    )
    assert root.find(".//m:Folders/t:ContactsFolder", SOAP_NS) is not None
    root = call(
        ews_server,
        f"""<m:FindFolder Traversal="Deep">{shape}
        <m:Restriction><t:IsEqualTo>{tag_uri("0x3613")}<t:FieldURIOrConstant>
        <t:Constant Value="IPF.Contact" /></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
        <m:ParentFolderIds><t:DistinguishedFolderId Id="msgfolderroot" /></m:ParentFolderIds>
        </m:FindFolder>""",
    )
    names = [ext_values(f)["0x3001"] for f in root.iterfind(".//t:Folders/*", SOAP_NS)]
    assert names == ["Contacts", "CRM"]
    crm = ews_account.contacts / "CRM"
    assert crm.folder_class == "IPF.Contact"


def test_convert_id_names_the_owner_whatever_mailbox_was_sent(ews_server, ews_account):
    item = Contact(folder=ews_account.contacts, display_name="X").save()
    bob = ews_server.add_user("bob@example.com", "pw")
    sources = [(item.id, "nobody@nowhere.example"), (bob.folder("inbox").id, "me@x.example")]
    for source, mailbox in sources:
        root = call(
            ews_server,
            f"""<m:ConvertId DestinationFormat="HexEntryId"><m:SourceIds>
              <t:AlternateId Format="EwsId" Id="{source}" Mailbox="{mailbox}" />
            </m:SourceIds></m:ConvertId>""",
        )
        expected = EWS_USER if source == item.id else "bob@example.com"
        assert root.find(".//m:AlternateId", SOAP_NS).get("Mailbox") == expected
    r = post(
        ews_server,
        """<m:ConvertId DestinationFormat="EwsId"><m:SourceIds>
          <t:AlternateId Format="EwsId" Id="SToxMjM0NTY6OTk6MDAwMDAwMDAwMQ==" Mailbox="a@b.c" />
        </m:SourceIds></m:ConvertId>""",
    )
    codes = etree.fromstring(r.content).xpath("//m:ResponseCode/text()", namespaces=SOAP_NS)
    assert codes == ["ErrorInvalidIdMalformed"]


GET_USER_PHOTO = """
    <m:GetUserPhoto>
      <m:Email>{email}</m:Email>
      <m:SizeRequested>HR48x48</m:SizeRequested>
    </m:GetUserPhoto>"""


def test_get_user_photo_as_exchange_2013(ews_server):
    # No photo (or no such user): HTTP 404, as Exchange answers.
    for email in (EWS_USER, "ghost@example.com"):
        r = post(ews_server, GET_USER_PHOTO.format(email=email))
        assert r.status_code == 404
        body = etree.fromstring(r.content)
        assert body.findtext(".//m:ResponseCode", namespaces=SOAP_NS) == "ErrorItemNotFound"

    picture = b"\xff\xd8\xff\xe0 not really a jpeg"
    ews_server.set_photo(EWS_USER, picture)
    r = post(ews_server, GET_USER_PHOTO.format(email=EWS_USER.upper()))
    assert r.status_code == 200
    body = etree.fromstring(r.content)
    assert body.findtext(".//m:HasChanged", namespaces=SOAP_NS) == "true"
    assert base64.b64decode(body.findtext(".//m:PictureData", namespaces=SOAP_NS)) == picture
    etag = r.headers["ETag"]

    r = post(ews_server, GET_USER_PHOTO.format(email=EWS_USER), headers={"If-None-Match": etag})
    body = etree.fromstring(r.content)
    assert r.status_code == 200
    assert body.findtext(".//m:HasChanged", namespaces=SOAP_NS) == "false"
    assert body.find(".//m:PictureData", SOAP_NS) is None

    # The REST form answers the image itself.
    url = ews_server.ews_url + f"/s/GetUserPhoto?email={EWS_USER}&size=HR48x48"
    get = lambda **kw: requests.get(  # noqa: E731
        url, auth=(EWS_USER, EWS_PASSWORD), verify=ews_server.ca_cert, timeout=10, **kw
    )
    r = get()
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (200, picture, "image/jpeg")
    assert r.headers["ETag"] == etag
    assert get(headers={"If-None-Match": etag}).status_code == 304
    ews_server.set_photo(EWS_USER, None)
    assert get().status_code == 404

    # The operation came with Exchange 2013: an older RequestServerVersion is refused.
    r = post(ews_server, GET_USER_PHOTO.format(email=EWS_USER), version="Exchange2010_SP2")
    assert r.status_code == 500 and fault_code(r) == "ErrorInvalidServerVersion"


@pytest.mark.parametrize(
    "body, code",
    [
        (  # declared by Microsoft's schema, not emulated
            """<m:GetUserConfiguration><m:UserConfigurationName Name="OWA.UserOptions">
            <t:DistinguishedFolderId Id="root" /></m:UserConfigurationName>
            <m:UserConfigurationProperties>All</m:UserConfigurationProperties>
            </m:GetUserConfiguration>""",
            "ErrorInvalidRequest",
        ),
        ("<m:GetInboxRules><m:Bogus /></m:GetInboxRules>", "ErrorSchemaValidation"),
        ("<m:FrobnicateItems />", "ErrorInvalidRequest"),
    ],
)
def test_operations_the_emulator_lacks(ews_server, body, code):
    r = post(ews_server, body)
    assert r.status_code == 500 and fault_code(r) == code
    ews_server.schema_errors.clear()
