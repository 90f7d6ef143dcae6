"""The Graph transport's wire rules that need no server: which links it follows, how it
splits a ``$batch``, how it names a version in ``If-Match`` and what each Graph error
means to the engine."""

from __future__ import annotations

import pytest

from wess_core.strategies import (
    FolderUnavailable,
    InvalidSyncState,
    ItemChanged,
    ItemNotFound,
    MailboxBusy,
    MailboxUnavailable,
)
from wess_plugins.transport_graph.batch import chunks
from wess_plugins.transport_graph.client import GraphClient, is_under, query_string
from wess_plugins.transport_graph.errors import error_for
from wess_plugins.transport_graph.transport import if_match

BASE = "https://graph.microsoft.com/v1.0"


@pytest.mark.parametrize(
    ("url", "followed"),
    [
        (f"{BASE}/users/a@b.com/contacts/delta?$deltatoken=x", True),
        ("https://GRAPH.microsoft.com/v1.0/users/x", True),
        ("https://graph.microsoft.com/v1.0", False),  # not below the service's path
        ("https://graph.microsoft.com/v1.0x/users/x", False),
        ("https://graph.microsoft.com/beta/users/x", False),
        ("http://graph.microsoft.com/v1.0/users/x", False),
        ("https://graph.microsoft.com:8443/v1.0/users/x", False),
        ("https://graph.microsoft.com.evil.example/v1.0/users/x", False),
        ("https://user@graph.microsoft.com/v1.0/users/x", False),
        ("https://127.0.0.1:9/graph/v1.0/users/x", False),
    ],
)
def test_only_links_under_the_configured_service_are_followed(url, followed):
    assert is_under(BASE, url) is followed


def test_odata_parameters_stay_readable_and_spaces_are_encoded():
    expand = "singleValueExtendedProperties($filter=id eq 'String {0002} Name X')"
    assert query_string({"$expand": expand}) == (
        "?$expand=singleValueExtendedProperties($filter=id%20eq%20'String%20%7B0002%7D%20Name%20X')"
    )
    assert query_string(None) == ""


def _requests(n, depends=None):
    out = [{"id": str(i), "method": "GET", "url": f"/x/{i}"} for i in range(n)]
    for child, parents in (depends or {}).items():
        out[child]["dependsOn"] = [str(p) for p in parents]
    return out


def test_a_batch_holds_at_most_20_and_keeps_dependency_chains_together():
    assert [len(c) for c in chunks(_requests(45))] == [20, 20, 5]
    split = chunks(_requests(25, {19: [18], 20: [19]}))  # 18 <- 19 <- 20 straddle 20
    assert [len(c) for c in split] == [18, 7]
    assert [r["id"] for r in split[1][:3]] == ["18", "19", "20"]
    with pytest.raises(ValueError):
        chunks(_requests(21, {i: [i - 1] for i in range(1, 21)}))


def test_if_match_names_the_version_as_graph_tags_it():
    assert if_match("CQAAABYAAA") == 'W/"CQAAABYAAA"'
    assert if_match('W/"etag-of-a-task"') == 'W/"etag-of-a-task"'


def _error(code):
    return {"error": {"code": code, "message": f"{code} happened"}}


def test_each_graph_error_means_what_the_engine_acts_on():
    assert isinstance(error_for(404, _error("ErrorItemNotFound")), ItemNotFound)
    gone = error_for(410, _error("syncStateNotFound"))
    assert isinstance(gone, InvalidSyncState) and gone.code == "syncStateNotFound"
    assert isinstance(error_for(412, _error("ErrorIrresolvableConflict")), ItemChanged)
    busy = error_for(429, _error("ApplicationThrottled"), headers={"Retry-After": "7"})
    assert isinstance(busy, MailboxBusy) and busy.retry_after == 7
    assert isinstance(error_for(503, None), MailboxBusy)
    odd = error_for(400, _error("ErrorInvalidProperty"))
    assert isinstance(odd, FolderUnavailable) and odd.code == "ErrorInvalidProperty"


def test_access_denied_pauses_the_user_with_the_rbac_reason():
    denied = error_for(403, _error("ErrorAccessDenied"), mailbox="ann@example.com")
    assert isinstance(denied, MailboxUnavailable)
    assert denied.credentials and not denied.rediscover
    assert "ann@example.com" in str(denied)
    assert "outside the app's RBAC management scope" in str(denied)
    unknown = error_for(404, _error("Request_ResourceNotFound"), mailbox="x@example.com")
    assert isinstance(unknown, MailboxUnavailable) and unknown.gone


def test_parameters_join_a_link_that_has_its_own_query():
    client = GraphClient(BASE, "a@b.com", provider=None, scope="s")
    link = f"{BASE}/users/a@b.com/events/delta?$skiptoken=x"
    assert client.url(link, {"$top": 5}) == link + "&$top=5"
    assert client.url("/users/a@b.com", {"$top": 5}) == f"{BASE}/users/a@b.com?$top=5"
    with pytest.raises(FolderUnavailable):
        client.url("https://elsewhere.example/v1.0/users/a@b.com")
