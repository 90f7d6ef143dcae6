"""Any contact a Graph client writes reads back the same over Graph and over EWS
(exchangelib), and a value XML cannot hold is refused with 400, never a server error."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wess_emulator.pytest_plugin import EWS_USER

ALICE = f"/users/{EWS_USER}"
# what XML 1.0 can hold, without surrounding blanks (Exchange trims those)
TEXT = (
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
CONTACTS = st.fixed_dictionaries(
    {},
    optional={
        "givenName": TEXT,
        "surname": TEXT,
        "companyName": TEXT,
        "jobTitle": TEXT,
        "personalNotes": TEXT,
        "mobilePhone": TEXT,
        "businessPhones": st.lists(TEXT, max_size=2),
        "homePhones": st.lists(TEXT, max_size=2),
        "emailAddresses": st.lists(
            st.builds(
                lambda a: {"name": a, "address": f"{a}@x.example"},
                st.from_regex(r"[a-z]{1,8}", fullmatch=True),
            ),
            max_size=3,
        ),
        "businessAddress": st.fixed_dictionaries(
            {
                "street": TEXT,
                "city": TEXT,
                "state": TEXT,
                "postalCode": TEXT,
                "countryOrRegion": TEXT,
            }
        ),
    },
)


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=CONTACTS)
def test_contact_json_round_trips_over_graph_and_ews(graph_http, ews_account, body):
    body = {"displayName": "Round trip", **body}
    created = graph_http.post(f"{ALICE}/contacts", json=body)
    assert created.status_code == 201, created.text
    doc = graph_http.get(f"{ALICE}/contacts/{created.json()['id']}").json()
    for key, value in body.items():
        assert doc[key] == value, key
    contact = ews_account.contacts.get(display_name="Round trip")
    assert contact.given_name == body.get("givenName")
    assert contact.job_title == body.get("jobTitle")
    assert (contact.body or None) == body.get("personalNotes")
    phones = {p.label: p.phone_number for p in contact.phone_numbers or ()}
    assert phones.get("MobilePhone") == body.get("mobilePhone")
    assert [phones[k] for k in ("BusinessPhone", "BusinessPhone2") if k in phones] == body.get(
        "businessPhones", []
    )
    emails = [e.email for e in sorted(contact.email_addresses or (), key=lambda e: e.label)]
    assert emails == [e["address"] for e in body.get("emailAddresses", [])]
    assert graph_http.delete(f"{ALICE}/contacts/{doc['id']}").status_code == 204


def test_text_xml_cannot_hold_is_400(graph_http):
    answer = graph_http.post(f"{ALICE}/contacts", json={"givenName": "bad\x00name"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorInvalidProperty"


def test_a_refused_patch_changes_nothing(graph_http, ews_account):
    doc = graph_http.post(
        f"{ALICE}/contacts", json={"displayName": "Kept", "givenName": "Old"}
    ).json()
    url = f"{ALICE}/contacts/{doc['id']}"
    answer = graph_http.patch(url, json={"givenName": "New", "emailAddresses": "not a list"})
    assert answer.status_code == 400
    after = graph_http.get(url).json()
    assert (after["givenName"], after["changeKey"]) == ("Old", doc["changeKey"])
    assert ews_account.contacts.get(display_name="Kept").given_name == "Old"
