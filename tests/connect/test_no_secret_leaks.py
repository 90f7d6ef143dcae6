"""No password, client secret or token in any output, log record (DEBUG captured, where
exchangelib and requests-oauthlib print request headers and tokens), history entry or
file under the home."""

from __future__ import annotations

import base64
import logging

from tests.support import (
    ALICE_PW,
    CLIENT_SECRET,
    NOROLE_PW,
    SECRETS,
    SVC_PW,
    impersonation_args,
    issue_dead_tokens,
    oauth_args,
)


def forbidden(emu) -> list[str]:
    values = list(SECRETS)
    for login, pw in (
        ("alice@example.com", ALICE_PW),
        ("EXAMPLE\\alice", ALICE_PW),
        ("svc@example.com", SVC_PW),
        ("norole@example.com", NOROLE_PW),
        ("alice@example.com", "wrong-" + ALICE_PW),
    ):
        values.append(base64.b64encode(f"{login}:{pw}".encode()).decode())
    values.extend(emu._tokens)  # every access token the emulator issued
    return values


def recording(wess):
    """``wess`` that keeps every output: ``(run, outputs)``."""
    outputs: list[str] = []

    def run(*args, **kw):
        r = wess(*args, **kw)
        outputs.append(r.stdout + r.stderr)
        return r

    return run, outputs


def assert_nowhere(secrets, outputs, caplog, home) -> None:
    """None of ``secrets`` in an output, a captured log record or a file under ``home``."""
    logs = "\n".join(r.getMessage() for r in caplog.records)
    files = {p: p.read_bytes() for p in home.rglob("*") if p.is_file()}
    for secret in secrets:
        for text in outputs:
            assert secret not in text
        assert secret not in logs, f"secret in log: {secret[:4]}..."
        for path, data in files.items():
            assert secret.encode() not in data, f"secret in {path}"


def test_no_secret_anywhere(admin_home, emu, home, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    run, outputs = recording(admin_home)

    trust = ("--ca-bundle", emu.ca_cert, "--skip-check")
    run("connection", "set", "--autodiscover-url", emu.autodiscover_url, *trust)
    run("users", "enable", "alice")
    run("users", "set", "alice", "--password-stdin", input="wrong-" + ALICE_PW)
    assert run("users", "set", "alice", "--password-stdin", input=ALICE_PW).exit_code == 0
    login = ("--exchange-username", "EXAMPLE\\alice", "--password-stdin")
    run("users", "set", "alice", *login, input=ALICE_PW)
    assert run("discover", "alice", "--json").exit_code == 0
    assert run("test-connection", "alice", "--json").exit_code == 0
    run("users", "show", "alice", "--json")
    run(*impersonation_args("norole@example.com"), input=NOROLE_PW)
    assert run(*impersonation_args("svc@example.com"), input=SVC_PW).exit_code == 0
    run("test-connection", "alice", "--json")
    assert run(*oauth_args(emu.authority("contoso")), input=CLIENT_SECRET).exit_code == 0
    assert run("test-connection", "alice", "--json").exit_code == 0
    run("crm", "add", "people", "first_name=Ann", "email=ann@example.com")
    synced = run("sync", "alice", "--json")  # a whole sync over OAuth + impersonation
    assert synced.exit_code == 0, synced.stderr
    run("ledger", "alice", "--json")
    run("review", "alice", "--json")
    emu.expire_tokens()
    assert run("test-connection", "alice").exit_code == 0  # a fresh token, asked once more
    issue_dead_tokens(monkeypatch, emu)
    emu.expire_tokens()
    assert run("test-connection", "alice").exit_code == 1
    run("connection", "show", "--json")
    run("history", "alice", "--json")
    run("status", "--json")

    run("sync", "alice", "--json")  # an expired token during a sync: paused, not leaked
    assert emu._tokens, "the OAuth flow issued no token"
    assert any("Authorization" in r.getMessage() for r in caplog.records), (
        "exchangelib's DEBUG request log was not captured; the test would prove nothing"
    )
    assert_nowhere(forbidden(emu), outputs, caplog, home)


def test_no_graph_token_anywhere(admin_home, emu, home, caplog, monkeypatch):
    """The same over Microsoft Graph: the client secret and every app token the emulator
    issued (fresh, refreshed after expiry, refused) stay out of outputs, logs and files."""
    caplog.set_level(logging.DEBUG)
    run, outputs = recording(admin_home)

    graph = ("--transport", "graph", "--option", f"graph_url={emu.graph_url}")
    oauth = (*oauth_args(emu.authority("contoso")), *graph, "--ca-bundle", emu.ca_cert)
    assert run(*oauth, input=CLIENT_SECRET + "\n").exit_code == 0
    run("users", "enable", "alice")
    assert run("test-connection", "alice", "--json").exit_code == 0
    run("crm", "add", "people", "first_name=Ann", "email=ann@example.com")
    assert run("sync", "alice", "--json").exit_code == 0
    run("ledger", "alice", "--json")
    emu.expire_tokens()
    assert run("sync", "alice", "--json").exit_code == 0  # a fresh token, asked once more
    issue_dead_tokens(monkeypatch, emu)
    emu.expire_tokens()
    assert run("sync", "alice", "--json").exit_code == 1  # refused even fresh: paused
    for argv in (("history", "alice"), ("status",), ("users", "show", "alice")):
        run(*argv, "--json")
    run("connection", "show", "--json")

    assert len(emu._tokens) >= 3, "the OAuth flow issued too few tokens to prove anything"
    assert any("/graph/v1.0/" in r.getMessage() for r in caplog.records), (
        "no Graph request was logged at DEBUG; the test would prove nothing"
    )
    assert_nowhere([CLIENT_SECRET, *emu._tokens], outputs, caplog, home)


def test_library_loggers_made_later_or_stripped_get_the_scrubber_again():
    import logging

    from wess_core.library_logs import _FILTER, scrub_library_logs

    scrub_library_logs()
    later = logging.getLogger("exchangelib.made.after.the.first.scan")
    assert _FILTER not in later.filters
    scrub_library_logs()
    assert _FILTER in later.filters
    logging.getLogger("urllib3").removeFilter(_FILTER)  # someone reconfigured logging
    scrub_library_logs()
    assert _FILTER in logging.getLogger("urllib3").filters
    assert _FILTER not in logging.getLogger("wess_core").filters
