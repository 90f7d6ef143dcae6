"""``wess emulator serve --app CLIENT_ID:SECRET`` announces Graph: its first JSON line names
``graph_url`` and ``authority``, and the app's token reads a mailbox over Graph."""

from __future__ import annotations

import requests

from tests.support.emulator_cli import serving


def test_serve_announces_graph_and_its_authority():
    with serving("--user", "alice@example.com:pw-a", "--app", "client-1:app-secret") as info:
        assert info["ews_url"].startswith("https://127.0.0.1:")  # the existing keys stay
        assert info["graph_url"] == f"https://127.0.0.1:{info['port']}/graph/v1.0"
        assert info["token_url"] == info["authority"] + "/oauth2/v2.0/token"
        token = requests.post(
            info["token_url"],
            data={
                "grant_type": "client_credentials",
                "client_id": "client-1",
                "client_secret": "app-secret",
                "scope": "https://graph.microsoft.com/.default",
            },
            verify=info["ca_cert"],
            timeout=10,
        ).json()["access_token"]
        user = requests.get(
            info["graph_url"] + "/users/alice@example.com",
            headers={"Authorization": f"Bearer {token}"},
            verify=info["ca_cert"],
            timeout=10,
        )
        assert user.status_code == 200
        assert user.json()["userPrincipalName"] == "alice@example.com"
