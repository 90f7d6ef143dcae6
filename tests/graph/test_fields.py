"""Neutral item fields <-> Graph JSON: what WESS writes reads back the same, and Graph's
shapes (positions, phone lists, address parts, dateTimeTimeZone, 0-1 percentages) map to
the neutral labels the item types use."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from wess_core.strategies import MailboxError
from wess_plugins.transport_graph.fields import (
    CRM_ID_PROPERTY,
    FROM_GRAPH,
    PERCENT_PROPERTY,
    TO_GRAPH,
    contact_from_graph,
    contact_to_graph,
    crm_id_of,
    message_from_graph,
    modified_of,
    task_from_graph,
    task_to_graph,
)

text = st.text(alphabet=string.ascii_letters + string.digits + " .-'éü", min_size=1, max_size=20)
emails = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.com", fullmatch=True)
days = st.dates().map(lambda d: d.isoformat())


@st.composite
def contacts(draw):
    fields = {}
    for name in ("given_name", "surname", "display_name", "company_name", "job_title", "body"):
        if draw(st.booleans()):
            fields[name] = draw(text)
    labels = draw(st.sets(st.sampled_from(["EmailAddress1", "EmailAddress2", "EmailAddress3"])))
    if labels:
        fields["email_addresses"] = [
            {"label": label, "email": draw(emails)} for label in sorted(labels)
        ]
    phones = draw(st.sets(st.sampled_from(["BusinessPhone", "MobilePhone", "HomePhone"])))
    if phones:
        order = ["BusinessPhone", "MobilePhone", "HomePhone"]
        fields["phone_numbers"] = [
            {
                "label": label,
                "phone_number": draw(st.from_regex(r"\+?[0-9 ]{3,12}[0-9]", fullmatch=True)),
            }
            for label in sorted(phones, key=order.index)
        ]
    addresses = []
    for label in ("Business", "Home", "Other"):
        parts = draw(
            st.dictionaries(
                st.sampled_from(["street", "city", "state", "zipcode", "country"]), text
            )
        )
        if parts:
            addresses.append({"label": label, **parts})
    if addresses:
        fields["physical_addresses"] = addresses
    return fields


@given(contacts())
def test_a_contact_round_trips(fields):
    body = contact_to_graph(fields, creating=True)
    back = contact_from_graph(body)
    expected = dict(fields)
    if "display_name" not in fields and body.get("displayName"):
        expected["display_name"] = body["displayName"]  # derived, as Outlook does
    assert back == expected


def test_contact_shapes_are_graphs():
    body = contact_to_graph(
        {
            "given_name": "Ann",
            "surname": "Lee",
            "email_addresses": [{"label": "EmailAddress2", "email": "ann@example.com"}],
            "phone_numbers": [
                {"label": "MobilePhone", "phone_number": "+1 555"},
                {"label": "BusinessPhone", "phone_number": "+1 556"},
            ],
            "physical_addresses": [{"label": "Home", "city": "Leeds", "zipcode": "LS1"}],
        },
        creating=True,
    )
    assert body["displayName"] == "Ann Lee"
    # position is the EWS slot: EmailAddress2 keeps an empty first entry
    assert body["emailAddresses"] == [
        {"name": "", "address": ""},
        {"name": "ann@example.com", "address": "ann@example.com"},
    ]
    assert body["businessPhones"] == ["+1 556"] and body["mobilePhone"] == "+1 555"
    assert body["homePhones"] == []
    assert body["homeAddress"] == {
        "street": "",
        "city": "Leeds",
        "state": "",
        "postalCode": "LS1",
        "countryOrRegion": "",
    }
    assert body["businessAddress"]["city"] == ""  # written in full: a PATCH clears it


def test_an_update_sends_only_what_it_names_and_none_clears():
    assert contact_to_graph({"job_title": "CEO"}, creating=False) == {"jobTitle": "CEO"}
    cleared = contact_to_graph({"surname": None, "phone_numbers": None}, creating=False)
    assert cleared["surname"] is None
    assert cleared["businessPhones"] == [] and cleared["mobilePhone"] is None
    assert cleared["displayName"] == "(no name)"  # a name field changed: derived again


def test_graph_extras_are_read_as_the_slots_the_item_types_know():
    fields = contact_from_graph(
        {
            "givenName": "Bo",
            "emailAddresses": [{"name": "Bo", "address": "bo@example.com"}, {"address": ""}],
            "businessPhones": ["1", "2"],
            "homePhones": [],
            "mobilePhone": None,
            "businessAddress": {},
            "otherAddress": {"city": "Oslo", "postalCode": ""},
        }
    )
    assert fields == {
        "given_name": "Bo",
        "email_addresses": [{"label": "EmailAddress1", "email": "bo@example.com"}],
        "phone_numbers": [{"label": "BusinessPhone", "phone_number": "1"}],
        "physical_addresses": [{"label": "Other", "city": "Oslo"}],
    }


@st.composite
def tasks(draw):
    fields = {"subject": draw(text)}
    fields["status"] = draw(
        st.sampled_from(["NotStarted", "InProgress", "Completed", "WaitingOnOthers", "Deferred"])
    )
    if draw(st.booleans()):
        fields["body"] = draw(text)
    if draw(st.booleans()):
        fields["start_date"] = draw(days)
    if draw(st.booleans()):
        fields["due_date"] = draw(days)
    if draw(st.booleans()):
        fields["percent_complete"] = draw(
            st.integers(1, 100) | st.sampled_from([12.5, 33.3, 0.5, 99.9])
        )
    return fields


@given(tasks())
def test_a_task_round_trips(fields):
    assert task_from_graph(task_to_graph(fields, creating=True)) == fields


def test_task_shapes_are_graphs():
    body = task_to_graph(
        {
            "subject": "Call",
            "status": "WaitingOnOthers",
            "due_date": "2026-05-01",
            "percent_complete": 7,
        },
        creating=True,
    )
    assert body["title"] == "Call" and body["status"] == "waitingOnOthers"
    assert body["dueDateTime"] == {"dateTime": "2026-05-01T00:00:00.0000000", "timeZone": "UTC"}
    assert body["singleValueExtendedProperties"] == [{"id": PERCENT_PROPERTY, "value": "0.07"}]
    cleared = task_to_graph({"due_date": None, "percent_complete": None}, creating=False)
    assert cleared["dueDateTime"] is None
    assert cleared["singleValueExtendedProperties"] == [{"id": PERCENT_PROPERTY, "value": "0"}]


def test_a_percentage_as_exchange_stores_it_reads_as_a_whole_number():
    props = [{"id": PERCENT_PROPERTY.lower(), "value": "0.33000000000000002"}]
    assert task_from_graph({"title": "x", "singleValueExtendedProperties": props}) == {
        "subject": "x",
        "percent_complete": 33,
    }


def test_an_unknown_task_status_is_refused_for_that_item():
    try:
        task_to_graph({"status": "Someday"}, creating=True)
    except ValueError as exc:
        assert "Someday" in str(exc)
    else:
        raise AssertionError("an unknown status must be refused")


@st.composite
def messages(draw):
    fields = {"subject": draw(text), "sender": draw(emails), "message_id": "<m1@example.com>"}
    fields["to_recipients"] = draw(st.lists(emails, min_size=1, max_size=3))
    if draw(st.booleans()):
        fields["cc_recipients"] = draw(st.lists(emails, min_size=1, max_size=3))
    fields["body"] = draw(text)
    fields["body_type"] = draw(st.sampled_from(["HTML", "Text"]))
    return fields


@given(messages())
def test_a_message_round_trips(fields):
    body = TO_GRAPH["inbox"](fields, True)
    assert FROM_GRAPH["inbox"](body) == fields


def test_message_times_and_ids():
    item = {
        "id": "AAMk1",
        "receivedDateTime": "2026-12-05T10:00:00Z",
        "lastModifiedDateTime": "2026-12-05T10:01:00Z",
        "body": {"contentType": "html", "content": "<p>Hi</p>"},
        "sender": {"emailAddress": {"address": "x@example.com"}},
        "singleValueExtendedProperties": [{"id": CRM_ID_PROPERTY, "value": "crm-1"}],
    }
    fields = message_from_graph(item)
    assert fields["datetime_received"] == "2026-12-05T10:00:00+00:00"
    assert fields["sender"] == "x@example.com"  # "from" absent: the sender
    assert fields["body_type"] == "HTML"
    assert modified_of(item) == "2026-12-05T10:01:00+00:00"
    assert crm_id_of(item) == "crm-1"
    assert crm_id_of({"id": "x"}) is None


def test_a_character_exchange_cannot_store_fails_that_item():
    for to_graph in (contact_to_graph, task_to_graph):
        try:
            to_graph({"surname": "a\x01b", "subject": "a\x01b"}, True)
        except MailboxError as exc:
            assert "U+0001" in str(exc)
        else:
            raise AssertionError("a control character must be refused")
