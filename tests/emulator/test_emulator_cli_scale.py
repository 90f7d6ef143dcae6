"""The ``emulator serve`` command (as a subprocess) and O(page) sync at scale."""

from __future__ import annotations

import json
import os
import statistics

import requests

from tests.support.emulator_cli import serving

GETFOLDER = b"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
  <m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder></s:Body>
</s:Envelope>"""


def test_cli_serve_subprocess(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "users": [
                    {
                        "email": "seeded@example.com",
                        "password": "pw-s",
                        "items": {"contacts": [{"DisplayName": "From seed"}]},
                    }
                ]
            }
        )
    )
    args = ["--port", "0", "--user", "alice@example.com:pw-a"]
    args += ["--impersonator", "svc@example.com:pw-svc", "--seed", str(seed)]
    with serving(*args) as info:
        assert info["ews_url"].startswith("https://127.0.0.1:")
        assert info["autodiscover_url"].endswith("/autodiscover/autodiscover.svc")
        assert os.path.exists(info["ca_cert"])
        r = requests.post(
            info["ews_url"],
            data=GETFOLDER,
            auth=("seeded@example.com", "pw-s"),
            verify=info["ca_cert"],
            timeout=10,
        )
        assert r.status_code == 200
        assert b"<t:TotalCount>1</t:TotalCount>" in r.content
        r = requests.post(
            info["ews_url"],
            data=GETFOLDER,
            auth=("alice@example.com", "pw-a"),
            verify=info["ca_cert"],
            timeout=10,
        )
        assert b"<t:TotalCount>0</t:TotalCount>" in r.content


def test_sync_20k_items_is_o_page(ews_server, ews_mailbox, ews_account):
    ews_server.validate = False  # validation cost would dominate the measurement
    n = 20_000
    ews_mailbox.add_items("contacts", ({"DisplayName": f"P{i}"} for i in range(n)))
    ews_account.root  # noqa: B018
    ews_server.reset_counts()
    ews_server.timings.clear()
    seen = 0
    for _change, _item in ews_account.contacts.sync_items(
        only_fields=["id"], max_changes_returned=512
    ):
        seen += 1
    assert seen == n
    assert ews_server.counts["SyncFolderItems"] == -(-n // 512)
    pages = [t for op, t in ews_server.timings if op == "SyncFolderItems"]
    first, last = statistics.median(pages[:5]), statistics.median(pages[-6:-1])
    assert last < first * 3 + 0.005, (first, last)

    # Incremental: one change after the full sync costs one small page.
    state = ews_account.contacts.item_sync_state
    ews_mailbox.add_items("contacts", [{"DisplayName": "late"}])
    ews_server.timings.clear()
    changes = list(ews_account.contacts.sync_items(sync_state=state, only_fields=["display_name"]))
    assert [i.display_name for _, i in changes] == ["late"]
    [(_, t)] = [x for x in ews_server.timings if x[0] == "SyncFolderItems"]
    assert t < max(first, 0.005) * 3
