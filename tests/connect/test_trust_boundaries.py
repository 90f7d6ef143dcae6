"""Issue 13, trust boundaries: a user must never borrow the service account.

Each test is an attack that worked before the rule (service credentials only with the
addresses and URLs an admin set or approved), run through the real CLI against the EWS
emulator over HTTPS; each checks the victim's mailbox and the CRM are untouched.
"""

from __future__ import annotations

import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
import trustme
from lxml import etree

from tests.support import (
    ALICE_PW,
    CLIENT_SECRET,
    SVC_PW,
    autodiscover_args,
    impersonation_args,
    oauth_args,
)
from wess_core.service import Context

#: Each test with the home's files and with PostgreSQL holding everything (the stores).
pytestmark = pytest.mark.usefixtures("database")


class Hostile:
    """An HTTPS (or plain) server on 127.0.0.1 a user controls: it records every request's
    Authorization header and answers 401 with Basic and Bearer challenges, so a client
    that would send credentials does."""

    def __init__(self, leaf: trustme.LeafCert | None) -> None:
        seen = self.authorizations = []
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self.headers.get("Authorization"):
                    seen.append(self.headers["Authorization"])
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="evil"')
                self.send_header("WWW-Authenticate", 'Bearer realm="evil"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if leaf is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            leaf.configure_cert(context)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/EWS/Exchange.asmx"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hostile(ews_ca) -> Iterator[Hostile]:
    """Alice's own host, with a certificate the account trusts (the emulator's CA)."""
    server = Hostile(ews_ca.leaf("127.0.0.1"))
    try:
        yield server
    finally:
        server.stop()


def impersonation(site):
    r = site(*impersonation_args("svc@example.com"), input=SVC_PW + "\n")
    assert r.exit_code == 0, r.stderr


def oauth(site, emu):
    r = site(*oauth_args(emu.authority("contoso")), input=CLIENT_SECRET + "\n")
    assert r.exit_code == 0, r.stderr


def graph_oauth(site, emu):
    """OAuth over Microsoft Graph: the app's token opens any mailbox in its RBAC scope."""
    graph = ("--transport", "graph", "--option", f"graph_url={emu.graph_url}")
    trust = ("--ca-bundle", emu.ca_cert)
    r = site(*oauth_args(emu.authority("contoso")), *graph, *trust, input=CLIENT_SECRET + "\n")
    assert r.exit_code == 0, r.stderr


#: The service credentials a user must never borrow, over each transport. Impersonation
#: is EWS only: Exchange Online has no ApplicationImpersonation, and Graph takes no
#: password (its app-only tokens are scoped with RBAC for Applications instead).
SERVICE_AUTH = {
    "impersonation": lambda site, emu: impersonation(site),
    "oauth": oauth,
    "oauth-graph": graph_oauth,
}


def snapshot(emu, email: str) -> dict[str, tuple[int, bytes]]:
    """Every item of a mailbox, with its version and content."""
    box = emu.mailbox(email)
    with box.lock:
        return {iid: (it.version, etree.tostring(it.elem)) for iid, it in box.items.items()}


def crm_snapshot(crm) -> dict[str, list]:
    return {t: crm.list(t) for t in ("people", "meetings", "tasks", "emails")}


def seed_bob(emu) -> None:
    """Bob's private meeting and a contact: what alice must never read nor overwrite."""
    box = emu.mailbox("bob@example.com")
    box.add_items(
        "calendar",
        [
            {
                "Subject": "Bob: private appointment",
                "Start": "2026-12-08T09:00:00Z",
                "End": "2026-12-08T10:00:00Z",
            }
        ],
    )
    box.add_items("contacts", [{"DisplayName": "Bob's doctor", "GivenName": "Doc"}])


def users_bytes(home) -> bytes:
    """The users as stored (the users file, or the shared database's documents)."""
    docs = Context(home=home).stores.table_documents("users", "users")
    return json.dumps(docs, sort_keys=True).encode()


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr.strip()


# -- 1. the service account with another user's mailbox ------------------------------


@pytest.mark.parametrize("auth", sorted(SERVICE_AUTH))
def test_user_cannot_point_service_credentials_at_another_mailbox(site, emu, home, crm, auth):
    SERVICE_AUTH[auth](site, emu)
    seed_bob(emu)
    bob_before, crm_before, users_before = (
        snapshot(emu, "bob@example.com"),
        crm_snapshot(crm),
        (users_bytes(home)),
    )

    r = site("users", "set", "alice", "--exchange-email", "bob@example.com", as_="alice")

    assert r.exit_code == 1, r.stdout
    line = one_line(r.stderr)
    assert line.startswith("wess: permission denied: ")
    assert "ask an admin to run: wess users set alice --exchange-email bob@example.com" in line
    assert users_bytes(home) == users_before
    r = site("sync", "alice", "--json")  # alice's own mailbox still syncs
    assert r.exit_code == 0, r.stderr
    assert snapshot(emu, "bob@example.com") == bob_before
    assert crm_snapshot(crm) == crm_before
    # the admin may set it (that is the approval): then it is the admin's decision
    r = site("users", "set", "alice", "--exchange-email", "bob@example.com")
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("auth", sorted(SERVICE_AUTH))
def test_user_set_url_never_receives_service_credentials(site, emu, home, hostile, auth):
    SERVICE_AUTH[auth](site, emu)
    users_before = users_bytes(home)

    r = site("users", "set", "alice", "--ews-url", hostile.url, as_="alice")
    for argv in (("test-connection", "alice"), ("discover", "alice"), ("sync", "alice")):
        site(*argv, as_="alice")

    assert hostile.authorizations == []  # before: the service password / app token
    assert hostile.requests == 0
    assert r.exit_code == 1, r.stdout
    line = one_line(r.stderr)
    assert f"ask an admin to run: wess users set alice --ews-url {hostile.url}" in line
    assert users_bytes(home) == users_before


def test_user_set_graph_url_never_receives_the_app_token(site, emu, home, hostile):
    """Over Graph the URL a token goes to is the ``graph_url`` setting: a user cannot set
    it (strategy settings are the admin's), so no token reaches their own host."""
    graph_oauth(site, emu)
    host, port = hostile.server.server_address[:2]
    url = f"https://{host}:{port}/v1.0"
    users_before = users_bytes(home)

    r = site("users", "set", "alice", "--option", f"graph_url={url}", as_="alice")
    for argv in (("test-connection", "alice"), ("sync", "alice")):
        site(*argv, as_="alice")

    assert r.exit_code == 1, r.stdout
    assert one_line(r.stderr).startswith("wess: permission denied")
    assert users_bytes(home) == users_before
    assert hostile.requests == 0 and hostile.authorizations == []
    assert site("sync", "alice", "--json").exit_code == 0  # still syncs over the admin's URL


# Autodiscover, a user's own password and full access to another mailbox are EWS only
# (Graph has no Autodiscover and takes app tokens only): the tests below stay on EWS.


def test_value_set_under_own_credentials_is_not_used_by_the_service_account(site, emu, home, crm):
    """Alice had delegate access to bob's mailbox and set it herself under ``direct``
    (Exchange allowed it); when the admin moves the account to impersonation, the
    service account must not open bob's mailbox for her on her word alone."""
    emu.grant_full_access("bob@example.com", "alice@example.com")
    login = ("--exchange-username", "alice@example.com", "--password-stdin")
    r = site("users", "set", "alice", *login, as_="alice", input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr
    r = site("users", "set", "alice", "--exchange-email", "bob@example.com", as_="alice")
    assert r.exit_code == 0, r.stderr  # her own credentials: Exchange is the boundary
    r = site("users", "set", "alice", "--ews-url", emu.ews_url, as_="alice")
    assert r.exit_code == 0, r.stderr
    seed_bob(emu)
    bob_before, crm_before = snapshot(emu, "bob@example.com"), crm_snapshot(crm)

    impersonation(site)  # checked with bob, whose address the admin set; alice skipped
    emu.reset_counts()
    for argv in (("sync", "alice"), ("test-connection", "alice"), ("discover", "alice")):
        r = site(*argv, "--json")
        assert r.exit_code == 1, (argv, r.stdout)
        line = one_line(r.stderr)
        assert "bob@example.com of alice was set by alice, not by an admin" in line, line
        assert "an admin approves it with: wess users set alice --exchange-email" in line
    assert sum(emu.counts.values()) == 0  # not one request with the service account
    assert snapshot(emu, "bob@example.com") == bob_before
    assert crm_snapshot(crm) == crm_before
    assert site("sync", "alice").exit_code == 1  # the scheduler would skip her: paused
    history = site("history", "alice", "--json").json
    errors = [e["message"] for e in history if e["kind"] == "error"]
    assert len(errors) == 1 and errors[0].startswith("sync paused: the Exchange e-mail")
    assert "set by alice, not by an admin" in errors[0]
    assert site("status", "--json").json[0]["paused"].startswith("the Exchange e-mail")
    shown = site("users", "show", "alice", "--json").json
    assert shown["user_set_fields"] == ["ews_url", "exchange_email"]

    # the admin approves the address; the user-set URL still waits for approval
    bobs_address = ("--exchange-email", "bob@example.com", "--skip-check")
    assert site("users", "set", "alice", *bobs_address).exit_code == 0
    r = site("test-connection", "alice")
    assert r.exit_code == 1 and "EWS URL" in r.stderr and "set by alice" in r.stderr
    assert site("users", "set", "alice", "--ews-url", emu.ews_url).exit_code == 0
    assert site("users", "show", "alice", "--json").json["user_set_fields"] == []
    assert site("status", "--json").json[0]["paused"] is None  # the approval resumes her
    assert site("test-connection", "alice").exit_code == 0


def test_own_credentials_keep_self_service(site, emu):
    r = site(
        "users", "set", "alice", "--auth", "app_password", "--password-stdin", input=ALICE_PW + "\n"
    )
    assert r.exit_code == 0, r.stderr
    r = site("users", "set", "alice", "--ews-url", emu.ews_url, as_="alice")
    assert r.exit_code == 0, r.stderr
    assert site("test-connection", "alice", as_="alice").exit_code == 0


def test_users_list_shows_the_exchange_email(site, emu):
    bobs_address = ("--exchange-email", "bob@example.com", "--skip-check")
    assert site("users", "set", "alice", *bobs_address).exit_code == 0
    text = site("users", "list").stdout
    header, alice = text.splitlines()[0], next(ln for ln in text.splitlines() if ln[:6] == "alice ")
    assert "EXCHANGE_EMAIL" in header and "bob@example.com" in alice
    rows = {r["login"]: r for r in site("users", "list", "--json").json}
    assert rows["alice"]["exchange_email"] == "bob@example.com"


# -- 5. a user-set URL is no port scanner ---------------------------------------------


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"https://127.0.0.1:{port}/EWS/Exchange.asmx"


def test_user_set_url_failures_all_read_the_same(site, emu, home):
    r = site("users", "set", "alice", "--password-stdin", as_="alice", input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr
    plain, untrusted = Hostile(None), Hostile(trustme.CA().issue_cert("127.0.0.1"))
    try:
        urls = {"refused": _closed_port_url(), "no TLS": plain.url, "untrusted": untrusted.url}
        users_before = users_bytes(home)
        messages = {}
        for why, url in urls.items():
            r = site("users", "set", "alice", "--ews-url", url, as_="alice")
            assert r.exit_code == 1, (why, r.stdout)
            messages[why] = one_line(r.stderr).replace(url, "URL")
        assert users_bytes(home) == users_before
        assert len(set(messages.values())) == 1, messages
        assert "did not answer as a trusted Exchange server" in messages["refused"]
        # an admin's URL keeps the detailed reason (how to trust the CA)
        r = site("connection", "set", "--ews-url", untrusted.url)
        assert r.exit_code == 1 and "--ca-bundle" in r.stderr
    finally:
        plain.stop()
        untrusted.stop()


def test_user_set_url_that_stops_answering_reads_the_same_in_sync(site, emu, emu2, home):
    own = ("--ews-url", emu2.ews_url, "--password-stdin")
    r = site("users", "set", "alice", *own, as_="alice", input=ALICE_PW + "\n")
    assert r.exit_code == 0, r.stderr
    emu2.stop()
    r = site("test-connection", "alice", as_="alice")
    assert r.exit_code == 1
    assert "did not answer as a trusted Exchange server" in r.stderr
    assert "refused" not in r.stderr
    r = site("sync", "alice", "--json", as_="alice")
    assert r.exit_code == 1
    failed = {f["failed"] for f in json.loads(r.stdout)["folders"].values()}
    assert len(failed) == 1 and "did not answer as a trusted Exchange server" in failed.pop()


# -- 5. one background job per user ---------------------------------------------------


def test_one_background_discovery_per_user(admin_home, emu, home):
    import time

    from wess_core.service.connect import running_jobs

    r = admin_home(*autodiscover_args(emu.autodiscover_url, emu.ca_cert), "--skip-check")
    assert r.exit_code == 0, r.stderr
    r = admin_home("users", "set", "alice", "--password-stdin", "--skip-check", input=ALICE_PW)
    assert r.exit_code == 0, r.stderr
    emu.set_latency(2.0, operation="GetUserSettings")  # the first job is still running
    first = admin_home("discover", "alice", "--background", "--json", as_="alice")
    assert first.exit_code == 0, first.stderr
    pid = first.json["pid"]
    for _ in range(3):
        again = admin_home("discover", "alice", "--background", as_="alice")
        assert again.exit_code == 1, again.stdout
        assert one_line(again.stderr).startswith("wess: a discovery of alice is already running")
    assert [job["pid"] for job in running_jobs(Context(home), "alice")] == [pid]

    def finished() -> bool:
        deadline = time.monotonic() + 30
        while running_jobs(Context(home), "alice") and time.monotonic() < deadline:
            time.sleep(0.1)
        return running_jobs(Context(home), "alice") == []

    assert finished()
    emu.set_latency(0.0, operation="GetUserSettings")
    assert admin_home("discover", "alice", "--background", as_="alice").exit_code == 0
    assert finished()
    starts = [
        e
        for e in admin_home("history", "alice", "--json").json
        if e["message"].startswith("discovery running")
    ]
    assert len(starts) == 2


def test_resubmitting_the_stored_address_changes_nothing(site, emu):
    """A front end that sends every field back (the web form) is no change: accepted, and
    the admin's value stays the admin's."""
    impersonation(site)
    r = site("users", "set", "alice", "--exchange-email", "alice@example.com")
    assert r.exit_code == 0, r.stderr
    r = site("users", "set", "alice", "--exchange-email", "alice@example.com", as_="alice")
    assert r.exit_code == 0, r.stderr
    assert site("users", "show", "alice", "--json").json["user_set_fields"] == []
    assert site("test-connection", "alice", as_="alice").exit_code == 0
