"""Fault injection, latency and request counts, seen through exchangelib and raw clients."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from exchangelib import FaultTolerance
from exchangelib.errors import (
    ErrorInternalServerTransientError,
    ErrorInvalidSyncStateData,
    ErrorServerBusy,
    ErrorTimeoutExpired,
)

from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER

GETFOLDER = b"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
  <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></s:Body>
</s:Envelope>"""


def test_server_busy_backoff_then_success(ews_server, ews_account_factory):
    account = ews_account_factory(retry_policy=FaultTolerance(max_wait=5))
    account.root  # noqa: B018 - set up before injecting
    ews_server.inject("server_busy", operation="FindItem", back_off_ms=50, times=2)
    ews_server.reset_counts()
    start = time.monotonic()
    assert account.contacts.all().count() == 0
    assert time.monotonic() - start >= 0.1  # two back-offs of 50 ms
    assert ews_server.counts["FindItem"] == 3


def test_server_busy_fail_fast_raises_with_back_off(ews_server, ews_account):
    ews_account.root  # noqa: B018
    ews_server.inject("server_busy", operation="FindItem", back_off_ms=1234)
    with pytest.raises(ErrorServerBusy) as info:
        ews_account.contacts.all().count()
    assert info.value.back_off == pytest.approx(1.234)
    assert ews_account.contacts.all().count() == 0  # consumed: the next call works


def test_http_503_retry_after(ews_server, ews_account_factory, ews_account):
    ews_account.root  # noqa: B018
    ews_server.inject("http_503", operation="FindItem")
    with pytest.raises((ErrorServerBusy, ErrorInternalServerTransientError)):
        ews_account.contacts.all().count()
    tolerant = ews_account_factory(retry_policy=FaultTolerance(max_wait=5))
    tolerant.root  # noqa: B018
    ews_server.inject("http_503", operation="FindItem", retry_after=1)
    start = time.monotonic()
    assert tolerant.contacts.all().count() == 0
    assert time.monotonic() - start >= 0.9


def test_connection_reset_mid_response(ews_server, ews_account):
    ews_account.root  # noqa: B018
    ews_server.inject("connection_reset", operation="FindItem")
    with pytest.raises((ErrorTimeoutExpired, ErrorServerBusy)):
        ews_account.contacts.all().count()
    assert ews_account.contacts.all().count() == 0
    ews_server.inject("connection_reset")
    broken = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    with pytest.raises(broken):
        requests.post(
            ews_server.ews_url,
            data=GETFOLDER,
            auth=(EWS_USER, EWS_PASSWORD),
            verify=ews_server.ca_cert,
            timeout=10,
        )


def test_slow_and_latency(ews_server, ews_account):
    ews_account.root  # noqa: B018
    ews_server.inject("slow", operation="FindItem", delay=0.3)
    start = time.monotonic()
    ews_account.contacts.all().count()
    assert time.monotonic() - start >= 0.3
    with pytest.raises(requests.exceptions.ReadTimeout):
        ews_server.inject("slow", delay=0.5)
        requests.post(
            ews_server.ews_url,
            data=GETFOLDER,
            auth=(EWS_USER, EWS_PASSWORD),
            verify=ews_server.ca_cert,
            timeout=0.2,
        )
    ews_server.set_latency(0.05, operation="FindItem")
    start = time.monotonic()
    ews_account.contacts.all().count()
    assert time.monotonic() - start >= 0.05
    ews_server.set_latency(0, operation="FindItem")
    ews_server.latency["GetFolder"] = 0.02
    start = time.monotonic()
    ews_account.root.refresh()
    assert time.monotonic() - start >= 0.02


def test_invalid_sync_state_injection(ews_server, ews_account):
    ews_server.inject("invalid_sync_state", operation="SyncFolderItems")
    with pytest.raises(ErrorInvalidSyncStateData):
        list(ews_account.contacts.sync_items())
    assert list(ews_account.contacts.sync_items()) == []


def test_counts_and_thread_safety(ews_server, ews_account):
    ews_account.root  # noqa: B018
    ews_server.reset_counts()
    ews_server.inject("server_busy", operation="GetFolder", times=None)
    errors = []

    def worker():
        try:
            with requests.Session() as s:
                s.trust_env = False
                s.verify = ews_server.ca_cert
                s.auth = (EWS_USER, EWS_PASSWORD)
                for _ in range(5):
                    r = s.post(ews_server.ews_url, data=GETFOLDER, timeout=10)
                    assert r.status_code == 500 and b"ErrorServerBusy" in r.content
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert ews_server.counts["GetFolder"] == 20
    assert ews_server.faults.pending()[0].fired == 20
    ews_server.faults.clear()
    with pytest.raises(ValueError):
        ews_server.inject("meteor_strike")


SYNC_CONTACTS = GETFOLDER.replace(
    b"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>\n"
    b'  <m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>',
    b"<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
    b'<m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>'
    b"<m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>",
)


def sync_contacts(server) -> requests.Response:
    """SYNC_CONTACTS as alice, over raw HTTPS."""
    auth = (EWS_USER, EWS_PASSWORD)
    return requests.post(
        server.ews_url, data=SYNC_CONTACTS, auth=auth, verify=server.ca_cert, timeout=10
    )


@pytest.mark.parametrize("sync_elements", [True, False])
def test_any_response_code_as_an_error_message(ews_server, sync_elements):
    """inject('response_code') answers the operation with that code in its response
    message (ResponseClass="Error"), with or without the empty sync elements; the answer
    stays schema-valid (the fixture checks every answer)."""
    assert b"SyncFolderItems" in SYNC_CONTACTS
    ews_server.inject(
        "response_code",
        operation="SyncFolderItems",
        code="ErrorFolderExists",
        text="exists",
        sync_elements=sync_elements,
    )
    answer = sync_contacts(ews_server)
    body = answer.text
    assert answer.status_code == 200
    assert 'ResponseClass="Error"' in body and ">ErrorFolderExists</m:ResponseCode>" in body
    assert ("<m:SyncState/>" in body) is sync_elements
    assert ("IncludesLastItemInRange" in body) is sync_elements
    assert "<m:Changes" not in body
    again = sync_contacts(ews_server)
    assert ">NoError<" in again.text  # consumed
