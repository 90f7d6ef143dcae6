"""pytest fixtures for the WESS EWS emulator (registered through the ``pytest11`` entry point
``wess_emulator``, so installing ``wess`` makes them available to any test suite).

The emulator is a fake Exchange 2016 server over real HTTPS on 127.0.0.1 that unmodified
exchangelib talks to. Each test gets a fresh server (starting one takes a few milliseconds: the
test CA and its certificates are made once per session, the EWS schemas compiled once).

Fixtures
--------
``ews_server`` -> :class:`wess_emulator.emulator.EmulatorServer`
    A started server with one user, ``alice@example.com`` / ``EWS_PASSWORD`` (``"Secret-1"``).
    Schema validation is on: every request received and every response sent is validated
    against Microsoft's EWS schemas; a violation is answered with an ``ErrorSchemaValidation``
    SOAP fault *and* fails the test at teardown (``server.schema_errors`` must be empty, and so
    must ``server.errors``, the emulator's own unexpected exceptions). Stopped at teardown.
``ews_mailbox`` -> :class:`wess_emulator.emulator.Mailbox`
    Alice's in-memory mailbox, for seeding and inspecting state without HTTP, e.g.
    ``ews_mailbox.add_items("contacts", [{"GivenName": "Ann", "DisplayName": "Ann"}])``.
``ews_account`` -> :class:`exchangelib.Account`
    A ready exchangelib ``Account`` for alice: ``autodiscover=False``,
    ``Configuration(service_endpoint=server.ews_url, credentials=Credentials(...),
    auth_type=BASIC)``. exchangelib trusts the emulator's CA through
    ``BaseProtocol.HTTP_ADAPTER_CLS = ca_bundle_adapter(server.ca_cert)`` (set for the test and
    restored afterwards); TLS verification stays on.
``ews_account_factory`` -> ``make(email=..., password=..., access_type=DELEGATE, **config)``
    Build more accounts against ``ews_server`` (other users, impersonation, retry policies,
    OAuth credentials via ``credentials=...``).

``graph_app`` -> :class:`wess_emulator.emulator.App`
    An OAuth app (``GRAPH_CLIENT_ID`` / ``GRAPH_SECRET``) registered on ``ews_server``; its
    client-credentials tokens are app-only Graph tokens for every mailbox.
``graph_token`` -> str
    A Bearer token for ``graph_app`` from the server's own v2.0 token endpoint (scope
    ``https://graph.microsoft.com/.default``), fetched over HTTPS.
``graph_http`` -> :class:`wess_emulator.graph_client.GraphHttp`
    ``requests`` on ``ews_server.graph_url`` with that token, trusting the emulator's CA:
    ``graph_http.get("/users/alice@example.com")`` -> ``requests.Response``.

Graph controls: ``server.graph_url``, ``server.graph.deny(email)`` / ``allow(email)``,
``server.graph.translate_for_apps``, ``server.graph.expire_delta_tokens()``,
``server.inject("graph_throttle"|"graph_gone"|"graph_unavailable"|"graph_denied"|
"graph_timeout",
operation="graph:contacts.delta" or "graph:*", mailbox=email, retry_after=1)``.

Typical use::

    def test_contact_roundtrip(ews_account, ews_server):
        from exchangelib import Contact
        Contact(folder=ews_account.contacts, display_name="Ann", given_name="Ann").save()
        assert ews_account.contacts.all().count() == 1
        assert ews_server.counts["CreateItem"] == 1

    def test_backoff(ews_server, ews_account_factory):
        from exchangelib import FaultTolerance
        ews_server.inject("server_busy", operation="GetFolder", back_off_ms=10)
        account = ews_account_factory(retry_policy=FaultTolerance(max_wait=5))
        assert account.inbox.name == "Inbox"

Server API in short: ``add_user(email, password, username=None, impersonator=False,
display_name=None, redirect_to=None, redirect_url=None)`` (Autodiscover answers
RedirectAddress / RedirectUrl for that user), ``announced_ews_url`` (the EWS URL
Autodiscover announces; default the server's own), ``add_app(client_id, client_secret, tenant)``,
``issue_token``/``revoke_token``/``expire_tokens``, ``set_photo(email, data)``,
``inject(kind, operation=None, times=1, back_off_ms=50, delay=0.5, retry_after=1)`` with
kinds ``server_busy``, ``http_503``, ``connection_reset``, ``slow``, ``invalid_sync_state``,
``set_latency(seconds, operation=None)``, ``counts`` (a Counter of operations),
``peak_in_flight(login)`` (the most EWS requests with one login answered at once),
``reset_counts()``, ``load_seed(path_or_dict)``.

``redis_server`` -> :class:`wess_emulator.redis_server.RedisServer`
    A real redis-server on a free 127.0.0.1 port, in a temporary folder, without
    persistence (``url``; ``restart()`` on the same port; stopped at teardown). Without
    redis-server installed the test fails with the line that installs it.
Notifications: ``subscriptions`` (Subscribe / GetEvents / GetStreamingEvents /
Unsubscribe; ``subscriptions.count()`` live ones), ``expire_subscriptions(login=None)``
(their next use answers ErrorExpiredSubscription), ``streaming_timeout_seconds`` (a cap on
GetStreamingEvents' ConnectionTimeout, so a test's stream closes in seconds).
"""

from __future__ import annotations

import pytest

EWS_USER = "alice@example.com"
EWS_PASSWORD = "Secret-1"
GRAPH_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
GRAPH_SECRET = "graph-app-secret"


@pytest.fixture(scope="session")
def ews_ca():
    """The session's test CA (a :class:`wess_emulator.tls.CaBundle`)."""
    from wess_emulator.tls import session_ca

    return session_ca()


@pytest.fixture
def ews_server(ews_ca):
    from wess_emulator.emulator import EmulatorServer

    server = EmulatorServer(validate=True, ca=ews_ca)
    server.add_user(EWS_USER, EWS_PASSWORD, display_name="Alice Example")
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.schema_errors, "EWS schema violations:\n" + "\n".join(server.schema_errors)
    assert not server.errors, "EWS emulator errors:\n" + "\n".join(server.errors)


@pytest.fixture
def ews_mailbox(ews_server):
    return ews_server.mailbox(EWS_USER)


@pytest.fixture
def ews_trust(ews_server):
    """Make exchangelib trust the emulator's CA for the duration of the test."""
    from exchangelib.protocol import BaseProtocol, close_connections

    from wess_emulator.tls import ca_bundle_adapter

    previous = BaseProtocol.HTTP_ADAPTER_CLS
    BaseProtocol.HTTP_ADAPTER_CLS = ca_bundle_adapter(ews_server.ca_cert)
    try:
        yield ews_server.ca_cert
    finally:
        close_connections()
        BaseProtocol.HTTP_ADAPTER_CLS = previous


@pytest.fixture
def ews_account_factory(ews_server, ews_trust):
    from exchangelib import BASIC, DELEGATE, Account, Configuration, Credentials
    from exchangelib.protocol import Protocol

    made: list[Account] = []

    def make(
        email: str = EWS_USER,
        password: str = EWS_PASSWORD,
        *,
        access_type=DELEGATE,
        username: str | None = None,
        credentials=None,
        primary_smtp_address: str | None = None,
        **config_kwargs,
    ) -> Account:
        if credentials is None:
            credentials = Credentials(username or email, password)
        config_kwargs.setdefault("auth_type", BASIC)
        config = Configuration(
            service_endpoint=ews_server.ews_url, credentials=credentials, **config_kwargs
        )
        # exchangelib caches one Protocol per (endpoint, credentials); drop it so that every
        # account gets the retry policy / settings it was configured with.
        try:
            del Protocol[config]
        except KeyError:
            pass
        account = Account(
            primary_smtp_address or email,
            config=config,
            autodiscover=False,
            access_type=access_type,
        )
        made.append(account)
        return account

    yield make
    for account in made:
        account.protocol.close()


@pytest.fixture
def ews_account(ews_account_factory):
    return ews_account_factory()


@pytest.fixture
def graph_app(ews_server):
    return ews_server.add_app(GRAPH_CLIENT_ID, GRAPH_SECRET)


@pytest.fixture
def graph_token(ews_server, graph_app):
    from wess_emulator.graph_client import app_token

    return app_token(ews_server, GRAPH_CLIENT_ID, GRAPH_SECRET)


@pytest.fixture
def graph_http(ews_server, graph_token):
    from wess_emulator.graph_client import GraphHttp

    client = GraphHttp(ews_server.graph_url, graph_token, ews_server.ca_cert)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_server():
    from wess_emulator.redis_server import RedisMissing, RedisServer

    try:
        server = RedisServer()
    except RedisMissing as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()
