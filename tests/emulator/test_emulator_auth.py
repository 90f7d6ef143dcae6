"""Authentication (Basic, impersonation, OAuth2 via MSAL and exchangelib) and SOAP Autodiscover."""

from __future__ import annotations

import msal
import pytest
import requests
from exchangelib import IMPERSONATION, OAUTH2, Contact, Credentials, Identity, OAuth2Credentials
from exchangelib.errors import (
    ErrorAccessDenied,
    ErrorImpersonateUserDenied,
    ErrorNonExistentMailbox,
    UnauthorizedError,
)
from oauthlib.oauth2 import OAuth2Token

from wess_emulator.autodiscover_client import discover, get_user_settings
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER

SCOPE = ["https://outlook.office365.com/.default"]


def test_basic_auth_and_downlevel_logon_name(ews_server, ews_account_factory):
    ews_server.add_user("dave@example.com", "Dave-1", username="EXAMPLE\\dave")
    account = ews_account_factory("dave@example.com", "Dave-1", username="EXAMPLE\\dave")
    assert account.inbox.name == "Inbox"


def test_wrong_password_is_unauthorized(ews_account_factory):
    account = ews_account_factory(EWS_USER, "wrong")
    with pytest.raises(UnauthorizedError):
        account.root  # noqa: B018


def test_impersonation_allowed_and_denied(ews_server, ews_account_factory, ews_mailbox):
    ews_server.add_user("svc@example.com", "Svc-1", impersonator=True)
    ews_server.add_user("mallory@example.com", "Mal-1")
    ews_mailbox.add_items("contacts", [{"DisplayName": "Alice's contact"}])

    as_alice = ews_account_factory(
        "svc@example.com", "Svc-1", access_type=IMPERSONATION, primary_smtp_address=EWS_USER
    )
    assert [c.display_name for c in as_alice.contacts.all()] == ["Alice's contact"]
    Contact(folder=as_alice.contacts, display_name="Made by svc").save()
    assert len(ews_mailbox.distinguished["contacts"].items) == 2

    denied = ews_account_factory(
        "mallory@example.com", "Mal-1", access_type=IMPERSONATION, primary_smtp_address=EWS_USER
    )
    with pytest.raises(ErrorImpersonateUserDenied):
        denied.contacts.all().count()

    nobody = ews_account_factory(
        "svc@example.com",
        "Svc-1",
        access_type=IMPERSONATION,
        primary_smtp_address="nobody@example.com",
    )
    with pytest.raises(ErrorNonExistentMailbox):
        nobody.contacts.all().count()


def test_delegate_access_needs_a_grant(ews_server, ews_account_factory):
    ews_server.add_user("erin@example.com", "Erin-1")
    other = ews_account_factory("erin@example.com", "Erin-1", primary_smtp_address=EWS_USER)
    with pytest.raises(ErrorAccessDenied):
        other.contacts.all().count()
    ews_server.grant_full_access(EWS_USER, "erin@example.com")
    other2 = ews_account_factory("erin@example.com", "Erin-1", primary_smtp_address=EWS_USER)
    assert other2.contacts.all().count() == 0


def msal_app(server, client_id="app-1", secret="s3cret", tenant="contoso"):
    # MSAL's own session would let REQUESTS_CA_BUNDLE (set on many machines) override
    # verify=...; a session that ignores the environment keeps the emulator's CA in force.
    session = requests.Session()
    session.trust_env = False
    session.verify = server.ca_cert
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=server.authority(tenant),
        validate_authority=False,
        instance_discovery=False,
        http_client=session,
    )


def test_msal_client_credentials_and_bearer_ews(ews_server, ews_account_factory, ews_mailbox):
    ews_server.add_app("app-1", "s3cret", tenant="contoso")
    result = msal_app(ews_server).acquire_token_for_client(scopes=SCOPE)
    assert result.get("token_type") == "Bearer", result
    token = result["access_token"]

    bad = msal_app(ews_server, secret="nope").acquire_token_for_client(scopes=SCOPE)
    assert bad.get("error") == "invalid_client"

    # Raw Bearer request (app token: needs impersonation or an anchor mailbox).
    body = GETFOLDER_INBOX_IMPERSONATED
    r = requests.post(
        ews_server.ews_url,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/xml"},
        verify=ews_server.ca_cert,
        timeout=10,
    )
    assert r.status_code == 200 and b"NoError" in r.content

    # exchangelib with the pre-acquired token (OAuth2Credentials + access_token).
    ews_mailbox.add_items("contacts", [{"DisplayName": "via oauth"}])
    creds = OAuth2Credentials(
        client_id="app-1",
        client_secret="s3cret",
        tenant_id="contoso",
        identity=Identity(primary_smtp_address=EWS_USER),
        access_token=OAuth2Token(
            {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        ),
    )
    account = ews_account_factory(credentials=creds, access_type=IMPERSONATION, auth_type=OAUTH2)
    assert [c.display_name for c in account.contacts.all()] == ["via oauth"]

    ews_server.revoke_token(token)
    r = requests.post(
        ews_server.ews_url,
        data=body,
        headers={"Authorization": f"Bearer {token}"},
        verify=ews_server.ca_cert,
        timeout=10,
    )
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


class LoopbackOAuth2Credentials(OAuth2Credentials):
    """exchangelib fetches (and refreshes) the token itself from the emulator's token URL."""

    token_endpoint: str = ""

    @property
    def token_url(self):
        return self.token_endpoint


def test_exchangelib_fetches_and_refreshes_token(ews_server, ews_account_factory):
    ews_server.add_app("app-2", "pw-2", tenant="contoso")
    creds = LoopbackOAuth2Credentials(
        client_id="app-2",
        client_secret="pw-2",
        tenant_id="contoso",
        identity=Identity(primary_smtp_address=EWS_USER),
    )
    creds.token_endpoint = ews_server.token_url("contoso")
    account = ews_account_factory(credentials=creds, access_type=IMPERSONATION, auth_type=OAUTH2)
    assert account.inbox.name == "Inbox"
    assert ews_server.counts["<token>"] == 1
    ews_server.expire_tokens()  # server-side expiry: 401 -> exchangelib renews the session/token
    with pytest.raises(UnauthorizedError):
        account.contacts.all().count()
    issued = ews_server.issue_token("app-2")
    r = requests.post(
        ews_server.ews_url,
        data=GETFOLDER_INBOX_IMPERSONATED,
        headers={"Authorization": f"Bearer {issued}"},
        verify=ews_server.ca_cert,
        timeout=10,
    )
    assert r.status_code == 200


def test_openid_configuration(ews_server):
    doc = requests.get(
        f"{ews_server.authority('t1')}/v2.0/.well-known/openid-configuration",
        verify=ews_server.ca_cert,
        timeout=10,
    ).json()
    assert doc["token_endpoint"] == ews_server.token_url("t1")
    assert doc["authorization_endpoint"].startswith(ews_server.base_url)
    assert ews_server.counts["<openid-configuration>"] == 1  # counted, like "<token>"


# --------------------------------------------------------------------------- autodiscover


def test_autodiscover_found(ews_server, ews_trust):
    creds = Credentials(EWS_USER, EWS_PASSWORD)
    resp = get_user_settings(ews_server.autodiscover_url, EWS_USER, creds)
    resp.raise_errors()
    assert resp.ews_url == ews_server.ews_url
    assert resp.user_settings["internal_ews_url"] == ews_server.ews_url
    assert resp.version.api_version == "Exchange2016"

    ad_response, protocol = discover(ews_server.autodiscover_url, EWS_USER, creds)
    assert ad_response.ews_url == ews_server.ews_url
    assert protocol.service_endpoint == ews_server.ews_url


def test_autodiscover_unknown_mailbox(ews_server, ews_trust):
    creds = Credentials(EWS_USER, EWS_PASSWORD)
    resp = get_user_settings(ews_server.autodiscover_url, "ghost@example.com", creds)
    with pytest.raises(ErrorNonExistentMailbox):
        resp.raise_errors()
    with pytest.raises(ErrorNonExistentMailbox):
        discover(ews_server.autodiscover_url, "ghost@example.com", creds)


def test_autodiscover_wrong_password(ews_server, ews_trust):
    with pytest.raises(UnauthorizedError):
        get_user_settings(ews_server.autodiscover_url, EWS_USER, Credentials(EWS_USER, "bad"))
    r = requests.post(
        ews_server.autodiscover_url, data=b"<x/>", verify=ews_server.ca_cert, timeout=10
    )
    assert r.status_code == 401 and "Basic" in r.headers["WWW-Authenticate"]


def test_autodiscover_redirect_address(ews_server, ews_trust):
    ews_server.add_user("old@example.com", "Old-1", redirect_to=EWS_USER)
    creds = Credentials(EWS_USER, EWS_PASSWORD)
    resp = get_user_settings(ews_server.autodiscover_url, "old@example.com", creds)
    assert resp.redirect_address == EWS_USER
    ad_response, _ = discover(ews_server.autodiscover_url, "old@example.com", creds)
    assert ad_response.autodiscover_smtp_address == EWS_USER
    assert ad_response.ews_url == ews_server.ews_url


GETFOLDER_INBOX_IMPERSONATED = f"""<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
               xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
               xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
  <soap:Header>
    <t:RequestServerVersion Version="Exchange2016" />
    <t:ExchangeImpersonation>
      <t:ConnectingSID><t:PrimarySmtpAddress>{EWS_USER}</t:PrimarySmtpAddress></t:ConnectingSID>
    </t:ExchangeImpersonation>
  </soap:Header>
  <soap:Body>
    <m:GetFolder>
      <m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="inbox" /></m:FolderIds>
    </m:GetFolder>
  </soap:Body>
</soap:Envelope>""".encode()
