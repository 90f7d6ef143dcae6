"""Every EWS ResponseCode has one consequence, and a real sync shows it.

The table (``wess_plugins.transport_ews.response_codes``) must cover the schema's
``ResponseCodeType`` enumeration exactly. Then every code is answered by the emulator
(``inject("response_code", ...)``: a response message with ``ResponseClass="Error"``)
to a real ``wess sync`` (the CLI in-process, exchangelib over HTTPS on loopback), and
the run must show the consequence: that item failed alone, that folder skipped, a back
off, a resync, a pause with one history entry, a second pass with rediscovery, or the
code recorded with nobody paused.

One emulator and one synced home serve the whole module (a run per code: ~500 runs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from wess_core.cli import cli
from wess_core.service import Context
from wess_core.service.users import get_profile
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER
from wess_plugins.crm_local import local
from wess_plugins.transport_ews.response_codes import TABLE, Consequence, consequence

SCHEMA = Path(__file__).parents[2] / "wess_emulator" / "schemas" / "messages.xsd"

#: Codes that, as a SOAP fault, make exchangelib itself try the request again with another
#: server version: answered once, the retry goes through and the run is clean.
VERSION_RETRIED = {
    "ErrorInvalidServerVersion",
    "ErrorIncorrectSchemaVersion",
    "ErrorInvalidRequest",
    "ErrorInvalidSchemaVersionForMailboxVersion",
}
#: Codes Exchange sends as a SOAP fault (the whole request refused), also tried that way.
SOAP_FAULTS = [
    "ErrorServerBusy",
    "ErrorSchemaValidation",
    "ErrorInternalServerError",
    "ErrorAccessDenied",
    "ErrorImpersonateUserDenied",
    "ErrorNonExistentMailbox",
    "ErrorMissingEmailAddress",
    "ErrorInvalidSyncStateData",
    "ErrorMailboxMoveInProgress",
    "ErrorFolderNotFound",
    "ErrorInvalidExchangeImpersonationHeaderData",
    "ErrorUnknownToExchangelib",  # a newer server's code: unknown, recorded
]


def _schema_codes() -> set[str]:
    ns = {"xs": "http://www.w3.org/2001/XMLSchema"}
    tree = etree.parse(str(SCHEMA))
    (simple,) = [
        t for t in tree.iterfind(".//xs:simpleType", ns) if t.get("name") == "ResponseCodeType"
    ]
    return {e.get("value") for e in simple.iterfind(".//xs:enumeration", ns)}


def test_table_covers_every_schema_code_exactly():
    codes = _schema_codes()
    assert len(codes) > 400
    assert set(TABLE) | {"NoError"} == codes
    assert consequence("ErrorNobodyHasHeardOf") is Consequence.UNKNOWN


def test_table_uses_every_consequence():
    assert set(TABLE.values()) == set(Consequence)


# -- one home, one emulator for the module ------------------------------------------


class _Home:
    """A synced home and its emulator; ``run`` is the CLI in-process."""

    def __init__(self, home: Path, server) -> None:
        self.home = home
        self.server = server
        self.ctx = Context(home=home)

    def run(self, *args: str, input: str | None = None):
        result = CliRunner().invoke(
            cli, ["--home", str(self.home), *args], input=input, catch_exceptions=False
        )
        return result

    def sync(self) -> tuple[int, dict | None, str]:
        result = self.run("sync", "alice", "--json")
        data = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
        return result.exit_code, data, result.stderr

    def paused(self) -> str | None:
        return get_profile(self.ctx, "alice").paused_reason

    def history(self, limit: int = 6) -> list[dict]:
        """The newest history entries, newest first."""
        from wess_core.service import history

        return history.entries(self.ctx, "alice", limit)

    def resume(self) -> None:
        """As saving working credentials does, without their check: the check's
        exchangelib Protocol (fail-fast) would be reused by the next sync."""
        from wess_core.service.sync import _set_pause

        _set_pause(self.ctx, "alice", None)


@pytest.fixture(scope="module")
def errors_home(tmp_path_factory, ews_ca):
    from exchangelib.protocol import BaseProtocol

    from wess_emulator.emulator import EmulatorServer

    server = EmulatorServer(validate=True, ca=ews_ca)
    server.add_user(EWS_USER, EWS_PASSWORD, display_name="Alice Example")
    server.start()
    mp = pytest.MonkeyPatch()
    mp.delenv("WESS_SECRET_KEY", raising=False)
    mp.delenv("WESS_HOME", raising=False)
    # exchangelib waits RETRY_WAIT (10 s) on a busy answer without a back-off: a
    # hundredth of a second is the same path
    mp.setattr(BaseProtocol, "RETRY_WAIT", 0.01)
    try:
        h = _Home(tmp_path_factory.mktemp("codes") / "home", server)
        trust_and_skip_check = ("--ca-bundle", server.ca_cert, "--skip-check")
        for args in (
            ("init",),
            ("module", "activate"),
            ("licences", "add", "1"),
            ("users", "add", "alice", "--email", "alice@example.com"),
            ("users", "allocate", "alice"),
            ("users", "set", "alice", "--exchange-email", EWS_USER, "--skip-check"),
            ("connection", "set", "--ews-url", server.ews_url, *trust_and_skip_check),
            ("users", "enable", "alice"),
            ("users", "set", "alice", "--password-stdin", "--skip-check"),
            # every run reads every folder, so each code comes back from SyncFolderItems
            # (the pull subscription's own errors: tests/ews/test_watch.py)
            ("config", "set", "pull_subscriptions", "off"),
        ):
            result = h.run(*args, input=EWS_PASSWORD + "\n")
            assert result.exit_code == 0, (args, result.stderr)
        local.add_record(h.home, "main", "people", {"first_name": "Seed"})
        code, data, err = h.sync()
        assert code == 0, err
        yield h
    finally:
        mp.undo()
        server.stop()
    assert not server.schema_errors, "\n".join(server.schema_errors[:5])
    assert not server.errors, "\n".join(server.errors[:5])


def _failed(data: dict) -> dict[str, str]:
    return {n: f["failed"] for n, f in data["folders"].items() if f["failed"]}


def _check(h: _Home, code: str, fault: str = "response_code", **options) -> None:
    """Answer the next request ``code`` (through ``fault``) and check its consequence."""
    from wess_core.service import sync as service_sync
    from wess_plugins.transport_ews.throttle import throttle_for

    what = consequence(code)
    assert h.paused() is None
    h.server.faults.clear()
    before = h.history()
    busy = throttle_for(h.server.ews_url).busy_count
    operation = "SyncFolderItems"
    if what is Consequence.ITEM and fault == "response_code":
        operation = "CreateItem"
        for n in range(2):
            local.add_record(h.home, "main", "people", {"first_name": f"{code}-{n}"})
    passes: list[bool] = []
    real = service_sync._connection_for

    def spy(ctx, login, rediscover, *args):
        passes.append(rediscover)
        return real(ctx, login, rediscover, *args)

    h.server.inject(fault, operation=operation, code=code, text=f"{code} from the test", **options)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(service_sync, "_connection_for", spy)
        exit_code, data, stderr = h.sync()
    assert "Traceback" not in stderr
    assert not h.server.faults.pending(), "the fault was never asked for"
    new = [e for e in h.history() if e not in before]
    if code in VERSION_RETRIED and fault == "soap_fault":  # exchangelib tried another
        # server version (only for a fault, not a response message): a clean run
        assert exit_code == 0, stderr
        return
    if what in (Consequence.CREDENTIALS, Consequence.MAILBOX_GONE):
        assert exit_code == 1 and h.paused(), (exit_code, stderr)
        assert [e["kind"] for e in new] == ["error"], new
        assert new[0]["message"].startswith("sync paused: ")
        # a gone mailbox is not a password problem: the fix it names says so
        assert ("--exchange-email" in stderr) == (what is Consequence.MAILBOX_GONE), stderr
        assert passes == [False]
        h.resume()
        return
    assert h.paused() is None, h.paused()
    if what is Consequence.REDISCOVER:
        assert passes == [False, True], (passes, stderr)
        assert exit_code == 0, stderr  # the second pass went through
        return
    assert passes == [False]
    if what is Consequence.RESYNC:
        assert exit_code == 0, stderr
        assert any(f["full_resync"] for f in data["folders"].values())
        return
    if what is Consequence.THROTTLED:
        assert throttle_for(h.server.ews_url).busy_count > busy
        if exit_code:  # not waited out by exchangelib: that folder tries again next run
            (failed,) = _failed(data).values()
            assert failed.startswith("MailboxBusy: ") and code in failed
        return
    assert exit_code == 1, stderr
    if what is Consequence.ITEM and fault == "response_code":
        contacts = data["folders"]["contacts"]
        assert not _failed(data)
        (error,) = contacts["errors"]
        assert code in error["message"]
        assert contacts["to_exchange"]["created"] == 1  # its batch neighbour was written
        return
    # FOLDER, UNKNOWN, and ITEM in an answer for a whole folder: that folder is skipped
    (failed,) = _failed(data).values()
    assert failed.startswith("FolderUnavailable: ") and code in failed, failed
    assert new[0]["kind"] == "error"


@pytest.mark.slow  # ~500 sync runs: about 50 s on two shared cores
@pytest.mark.parametrize("code", list(TABLE))
def test_every_code_as_an_error_message(errors_home, code):
    _check(errors_home, code)


@pytest.mark.parametrize("code", SOAP_FAULTS)
def test_codes_exchange_sends_as_soap_faults(errors_home, code):
    _check(errors_home, code, fault="soap_fault")


#: The errors exchangelib returns as values instead of raising them
#: (``ERRORS_TO_CATCH_IN_RESPONSE``): in a SyncFolderItems answer they made ``changes()``
#: crash with "TypeError: cannot unpack non-iterable ...".
RETURNED_AS_VALUES = [
    "ErrorItemNotFound",
    "ErrorInvalidIdMalformed",
    "ErrorCorruptData",
    "ErrorItemCorrupt",
    "ErrorInvalidChangeKey",
    "ErrorItemSave",
]


@pytest.mark.parametrize("sync_elements", [True, False], ids=["sync-elements", "bare"])
@pytest.mark.parametrize("code", RETURNED_AS_VALUES)
def test_errors_returned_as_values_skip_the_folder(errors_home, code, sync_elements):
    h = errors_home
    h.server.inject(
        "response_code", operation="SyncFolderItems", code=code, sync_elements=sync_elements
    )
    exit_code, data, stderr = h.sync()
    assert exit_code == 1 and "Traceback" not in stderr
    (failed,) = _failed(data).values()
    assert failed.startswith("FolderUnavailable: ") and code in failed
    assert h.paused() is None


@pytest.mark.parametrize(
    "code",
    ["ErrorAccessDenied", "ErrorServerBusy", "ErrorFolderNotFound", "ErrorInvalidSyncStateData"],
)
def test_an_error_message_without_sync_elements_keeps_its_code(errors_home, code):
    _check(errors_home, code, sync_elements=False)


# -- per-item answers, malformed answers, the connection test --------------------------


@pytest.fixture
def transport(ews_account):
    from wess_plugins.transport_ews.transport import EwsTransport

    return EwsTransport(connection=None, account=ews_account)


def _two_contacts(transport):
    from wess_core.strategies import NewItem

    return transport.create(
        "contacts", [NewItem(fields={"given_name": f"P{n}"}, crm_id=f"c{n}") for n in range(2)]
    )


#: Returned as a value by exchangelib itself, raised by it, busy, and a code it lacks.
ITEM_ANSWERS = ["ErrorCorruptData", "ErrorFolderNotFound", "ErrorServerBusy", "ErrorBrandNew"]


@pytest.mark.parametrize("code", ITEM_ANSWERS)
@pytest.mark.parametrize("op", ["CreateItem", "GetItem", "UpdateItem", "DeleteItem"])
def test_an_error_for_one_item_fails_that_item_alone(transport, ews_server, op, code):
    from wess_core.strategies import ItemRef, ItemUpdate, MailboxBusy, MailboxError, NewItem

    refs = _two_contacts(transport)
    ews_server.inject("response_code", operation=op, code=code, text="refused by the test")
    if op == "CreateItem":
        out = transport.create(
            "contacts", [NewItem(fields={"given_name": "N"}, crm_id=f"n{n}") for n in range(2)]
        )
    elif op == "GetItem":
        out = transport.get("contacts", [r.item_id for r in refs])
    elif op == "UpdateItem":
        changes = [
            ItemUpdate(item_id=r.item_id, fields={"job_title": "CEO"}, changekey=r.changekey)
            for r in refs
        ]
        out = transport.update("contacts", changes)
    else:
        out = transport.delete("contacts", refs)
    assert not ews_server.faults.pending()
    first, second = out
    assert isinstance(first, MailboxError) and first.code == code, first
    assert isinstance(first, MailboxBusy) == (code == "ErrorServerBusy")
    assert not isinstance(second, Exception)
    if op != "DeleteItem":
        assert isinstance(second, ItemRef) or second.item_id == refs[1].item_id


def test_an_answer_exchangelib_cannot_parse_skips_the_folder(transport, monkeypatch):
    """An AttributeError (KeyError, TypeError ...) inside exchangelib's parser on a
    non-conforming answer is that folder's typed error, not a crash of the run."""
    from exchangelib.services.sync_folder_hierarchy import SyncFolder

    from wess_core.strategies import FolderUnavailable

    _two_contacts(transport)

    def broken(self, message, name=None):  # (one item that cannot be read fails alone)
        raise AttributeError("'NoneType' object has no attribute 'text'")

    monkeypatch.setattr(SyncFolder, "_get_element_container", broken)
    with pytest.raises(FolderUnavailable) as caught:
        transport.changes("contacts", None)
    assert caught.value.code == "MalformedResponse"


def test_an_unknown_code_as_soap_fault_keeps_its_code(transport, ews_server):
    from wess_core.strategies import FolderUnavailable

    ews_server.inject("soap_fault", operation="SyncFolderItems", code="ErrorBrandNew", text="x")
    with pytest.raises(FolderUnavailable) as caught:
        transport.changes("contacts", None)
    assert caught.value.code == "ErrorBrandNew"


def _connection(**overrides):
    from types import SimpleNamespace

    values = dict(
        url="https://ews.example/EWS/Exchange.asmx",
        exchange_email="a@example.com",
        login="alice",
        username="a",
        password="pw",
        impersonation_password=None,
        oauth_client_secret=None,
    )
    return SimpleNamespace(**{**values, **overrides})


@pytest.mark.parametrize(
    ("exc", "unreachable"),
    [
        # "was not found" in a not-found answer used to read as "cannot reach Exchange"
        ("ErrorItemNotFound", False),
        ("ErrorFolderNotFound", False),
        ("ErrorInternalServerError", False),
        ("ErrorAccountDisabled", False),
        ("ErrorMailboxMoveInProgress", True),
        ("ErrorTimeoutExpired", True),
    ],
)
def test_connection_test_failures_by_code_not_words(exc, unreachable):
    from exchangelib import errors

    from wess_core.errors import CredentialsRejected
    from wess_plugins.transport_ews.connect import EndpointUnreachable, describe_failure

    error = getattr(errors, exc)("The specified object was not found in the store. (404)")
    described = describe_failure(error, _connection())
    assert isinstance(described, CredentialsRejected)
    assert isinstance(described, EndpointUnreachable) is unreachable, described
    if not unreachable:
        assert exc in str(described) and "cannot reach" not in str(described)


def test_connection_failure_is_unreachable_by_its_class():
    import requests

    from wess_plugins.transport_ews.connect import EndpointUnreachable, describe_failure

    described = describe_failure(requests.exceptions.ConnectionError("boom"), _connection())
    assert isinstance(described, EndpointUnreachable)
    assert "cannot reach Exchange at https://ews.example" in str(described)


def test_not_found_answer_to_the_check_is_not_cannot_reach(synced_home, ews_server):
    """Saving credentials runs the check (GetFolder on the inbox): a not-found answer is
    Exchange's refusal, said with its code, and no rediscovery."""
    from wess_emulator.pytest_plugin import EWS_PASSWORD

    ews_server.inject(
        "response_code",
        operation="GetFolder",
        code="ErrorItemNotFound",
        text="The specified object was not found in the store.",
    )
    result = synced_home("test-connection", "alice")
    assert result.exit_code == 1
    # exchangelib reads a distinguished folder's ErrorItemNotFound as ErrorFolderNotFound
    assert "Exchange answered ErrorFolderNotFound" in result.stderr
    assert "cannot reach" not in result.stderr
    assert "Traceback" not in result.stderr
    again = synced_home("users", "set", "alice", "--password-stdin", input=EWS_PASSWORD + "\n")
    assert again.exit_code == 0
