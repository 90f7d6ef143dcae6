"""Helpers shared by the tests: the one support package (test modules and conftest files
import from here, never from each other). ``sync_world`` holds the engine's in-memory
world, ``hostile`` a server that records the credentials it is sent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator

from wess_core.service import Context, accounts, users
from wess_emulator.emulator import EmulatorServer
from wess_plugins.crm_local import local


def sync_ok(wess, login="alice"):
    result = wess("sync", login, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    data = result.json
    for name, folder in data["folders"].items():
        assert not folder["failed"], (name, folder["failed"])
        assert not folder["errors"], (name, folder["errors"])
    return data


def listing(mailbox, folder):
    """Every item in a mailbox folder (a fresh full listing)."""
    items, token = {}, None
    for _ in range(1000):
        page = mailbox.changes(folder, token)
        for change in page.changes:
            if change.deleted:
                items.pop(change.item_id, None)
            else:
                items[change.item_id] = change.item
        token = page.token
        if page.done:
            return list(items.values())
    raise AssertionError("listing did not finish")


# -- emulator users of the connection tests ----------------------------------------

ALICE_PW = "Alice-Pw-5ecret!"
SVC_PW = "Svc-Pw-5ecret!"
NOROLE_PW = "NoRole-Pw-5ecret!"
CLIENT_SECRET = "Client-5ecret-Value"
SECRETS = (ALICE_PW, SVC_PW, NOROLE_PW, CLIENT_SECRET)


def impersonation_args(user: str) -> tuple[str, ...]:
    """``connection set`` arguments: impersonation through ``user``, password on stdin."""
    auth = ("--auth", "impersonation", "--impersonation-user", user)
    return ("connection", "set", *auth, "--password-stdin")


def oauth_args(authority: str) -> tuple[str, ...]:
    """``connection set`` arguments: OAuth as the ``wess-app`` of tenant ``contoso`` that
    :func:`populate` registers, client secret on stdin."""
    app = ("--oauth-tenant", "contoso", "--oauth-client-id", "wess-app")
    auth = ("--auth", "oauth", *app, "--oauth-authority", authority)
    return ("connection", "set", *auth, "--client-secret-stdin")


def issue_dead_tokens(monkeypatch, server: EmulatorServer) -> None:
    """From now on the emulator's authority issues tokens Exchange refuses (revoked consent)."""
    issue = server.new_token

    def dead_token(principal, expires_in, scopes=()):
        return issue(principal, -60, scopes)

    monkeypatch.setattr(server, "new_token", dead_token)


def service_account_for_bob(server: EmulatorServer, account_factory):
    """Add bob and a service account with the impersonation role to ``server``; the
    exchangelib account (from ``ews_account_factory``) that impersonates bob."""
    from exchangelib import IMPERSONATION

    server.add_user("bob@example.com", "Bob-pw-1")
    server.add_user("svc@example.com", "Svc-pw-1", impersonator=True)
    return account_factory(
        "svc@example.com",
        "Svc-pw-1",
        primary_smtp_address="bob@example.com",
        access_type=IMPERSONATION,
    )


def autodiscover_args(url: str, ca_cert: str) -> tuple[str, ...]:
    """``connection set`` arguments: Autodiscover at ``url``, trusting ``ca_cert``."""
    discovery = ("--discovery", "autodiscover", "--autodiscover-url", url)
    return ("connection", "set", *discovery, "--ca-bundle", ca_cert)


def populate(server: EmulatorServer) -> EmulatorServer:
    server.add_user("alice@example.com", ALICE_PW, username="EXAMPLE\\alice")
    server.add_user("bob@example.com", "Bob-Pw-5ecret!")
    server.add_user("svc@example.com", SVC_PW, impersonator=True)
    server.add_user("norole@example.com", NOROLE_PW)
    server.add_user("old.alice@example.com", "x-unused-1", redirect_to="alice@example.com")
    server.add_app("wess-app", CLIENT_SECRET, tenant="contoso")
    return server


def serving_populated(ca) -> Iterator[EmulatorServer]:
    """A started emulator (``populate``d, EWS and Graph) for a fixture to yield from; it
    stops afterwards and fails the test on schema violations or emulator errors."""
    server = populate(EmulatorServer(validate=True, ca=ca)).start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.schema_errors, server.schema_errors
    assert not server.errors, server.errors


# -- the scheduler queue ------------------------------------------------------------

QUEUE_LOGINS = [f"u{i}" for i in range(6)]


def throttled_home(home, server):
    """A home whose account caps one server at 2 users, with QUEUE_LOGINS synced there."""
    return scheduled_home(home, server, QUEUE_LOGINS, cap=2)


def scheduled_home(home, server, logins, *, cap: int, people: int = 3):
    """A home whose users ``logins`` sync with ``server`` (one server, ``throttle_cap``
    ``cap``), each with ``people`` CRM records of their own database."""
    ctx = _licensed_home(home, len(logins))
    accounts.set_connection(ctx, ews_url=server.ews_url, ca_bundle=server.ca_cert, verify=False)
    accounts.set_setting(ctx, "throttle_cap", str(cap))
    for login in _enabled_users(ctx, server, logins):
        users.update_user(ctx, login, password="Pw-" + login, database=login, verify=False)
        local.create_database(home, login)
        records = [{"first_name": f"{login}-{i}"} for i in range(people)]
        local.import_records(home, login, "people", records)
    return ctx


SERVICE_ACCOUNT = "svc@example.com"


def impersonated_home(home, server, logins, *, cap: int):
    """A home whose users ``logins`` sync with ``server`` through one impersonation
    service account (``SERVICE_ACCOUNT``), ``throttle_cap`` ``cap``, each with a CRM
    database of their own."""
    ctx = _licensed_home(home, len(logins))
    if server.user_by_login(SERVICE_ACCOUNT) is None:
        server.add_user(SERVICE_ACCOUNT, SVC_PW, impersonator=True)
    accounts.set_connection(
        ctx,
        auth="impersonation",
        ews_url=server.ews_url,
        ca_bundle=server.ca_cert,
        impersonation_user=SERVICE_ACCOUNT,
        impersonation_password=SVC_PW,
        verify=False,
    )
    accounts.set_setting(ctx, "throttle_cap", str(cap))
    for login in _enabled_users(ctx, server, logins):
        users.update_user(ctx, login, database=login, verify=False)
        local.create_database(home, login)
    return ctx


def _licensed_home(home, licences: int) -> Context:
    """A new home with the module on and ``licences`` seats."""
    ctx = Context(home=home)
    accounts.init(ctx)
    accounts.set_module(ctx, True)
    accounts.add_licences(ctx, licences)
    return ctx


def _enabled_users(ctx: Context, server, logins) -> Iterator[str]:
    """Each of ``logins`` added to ``server`` (password ``Pw-LOGIN``) and to the home,
    with a seat and sync enabled; yielded for the caller's own settings."""
    for login in logins:
        server.add_user(f"{login}@example.com", "Pw-" + login)
        users.add_user(ctx, login, f"{login}@example.com")
        users.allocate(ctx, login)
        users.set_sync_enabled(ctx, login, True)
        yield login


def resolved_connections(ctx, logins) -> list:
    """Each user's connection as a sync resolves it (the EWS URL known)."""
    from wess_core.service.accounts import load_account
    from wess_core.service.sync import connection_for
    from wess_core.service.users import get_profile

    account = load_account(ctx)
    return [connection_for(ctx, x, (account, get_profile(ctx, x)), True) for x in logins]


# -- processes ----------------------------------------------------------------------


def spawn_run(home, *argv: str) -> subprocess.Popen:
    """``wess run ARGV --json`` as a real process on ``home`` (pipes for its output)."""
    env = {**os.environ, "WESS_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "wess_core.cli", "run", *argv, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def assert_no_orphan_workers(home) -> None:
    """Worker processes die with a killed scheduler (nothing keeps syncing behind it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as fh:
                    environ = fh.read().split(b"\0")
            except OSError:
                continue
            if f"WESS_HOME={home}".encode() in environ:  # only our spawned processes
                alive.append(pid)
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker processes outlived the killed scheduler: {alive}")


# -- raw EWS requests ---------------------------------------------------------------

#: Namespaces of EWS SOAP messages, for XPath over raw answers.
SOAP_NS = {
    "s": "http://schemas.xmlsoap.org/soap/envelope/",
    "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
    "t": "http://schemas.microsoft.com/exchange/services/2006/types",
    "e": "http://schemas.microsoft.com/exchange/services/2006/errors",
}

#: A raw EWS request, as Microsoft's examples write it: ``.format(version=, body=)``.
SOAP_ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
               xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
               xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
               xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header>
    <t:RequestServerVersion Version="{version}" />
  </soap:Header>
  <soap:Body>
{body}
  </soap:Body>
</soap:Envelope>"""


def plugin_storage_rows(home) -> dict[tuple[str, str, str], str | None]:
    """The plugins' stored values as on disk (or in ``WESS_DATABASE_URL``'s database),
    read past WESS: {(plugin, owner, key): the secret token, or the plain value}."""
    url = os.environ.get("WESS_DATABASE_URL")
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT plugin, owner, key, secret_value, value FROM plugin_storage"
            ).fetchall()
        return {(p, o, k): secret or value for p, o, k, secret, value in rows}
    if not (home / "wess.sqlite").exists():
        return {}
    with sqlite3.connect(f"file:{home / 'wess.sqlite'}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT plugin, owner, key, secret_value, value FROM plugin_storage"
        ).fetchall()
    return {(plugin, owner, key): secret or value for plugin, owner, key, secret, value in rows}


def overwrite_plugin_secrets(home, token: str) -> None:
    """Every secret the plugins stored replaced by ``token`` behind WESS's back."""
    with sqlite3.connect(home / "wess.sqlite") as conn:
        conn.execute(
            "UPDATE plugin_storage SET secret_value = ? WHERE secret_value IS NOT NULL", (token,)
        )
