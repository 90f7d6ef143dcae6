"""A whole-mailbox failure is part of the transport contract: any transport raises
``MailboxUnavailable`` and the core acts on its meanings (pause, rediscover, end the
run). Here the transport is a third-party in-memory one: no EWS code is involved."""

from __future__ import annotations

from tests.support.memory_transport import MemoryTransportPlugin, ready_alice
from wess_core import plugins
from wess_core.strategies import MailboxUnavailable
from wess_plugins.crm_local import local

FOLDERS = 5


class _FailingTransportPlugin(MemoryTransportPlugin):
    """A transport whose ``nth`` ``changes`` call raises ``error``."""

    def __init__(self, error: MailboxUnavailable, nth: int = 1) -> None:
        super().__init__()
        self.mailbox.faults.fail_call("changes", nth, error=error)


def _ready(wess, home):
    ready_alice(wess, ("users", "set", "alice", "--transport", "memory", "--skip-check"))
    local.add_record(home, "main", "people", {"first_name": "Bo", "last_name": "Ng"})


def _history(wess) -> list[dict]:
    return wess("history", "alice", "--json").json


def test_refused_credentials_pause_the_user_without_asking_again(wess, home):
    plugin = _FailingTransportPlugin(
        MailboxUnavailable("the token was revoked", credentials=True, rediscover=False)
    )
    with plugins.registered(plugin):
        _ready(wess, home)
        result = wess("sync", "alice", "--json")
        assert result.exit_code == 1
        assert "sync of alice is paused: the token was revoked" in result.stderr
        assert "--password-stdin" in result.stderr  # not gone: the fix is credentials
        errors = [e for e in _history(wess) if e["kind"] == "error"]
        assert [e["message"] for e in errors] == ["sync paused: the token was revoked"]
        status = {r["login"]: r for r in wess("status", "--json").json}
        assert status["alice"]["paused"] == "the token was revoked"
    # the other folders failed with it, without a request of their own
    assert plugin.mailbox.calls["changes"] == 1
    assert len(plugin.connections) == 1
    assert plugin.mailbox.items("contacts") == {}


def test_a_gone_mailbox_names_the_e_mail_fix(wess, home):
    plugin = _FailingTransportPlugin(
        MailboxUnavailable("no such mailbox", credentials=True, rediscover=False, gone=True)
    )
    with plugins.registered(plugin):
        _ready(wess, home)
        result = wess("sync", "alice")
        assert result.exit_code == 1
        assert "--exchange-email" in result.stderr


def test_rediscover_reconnects_and_retries_only_the_failed_folder(wess, home):
    plugin = _FailingTransportPlugin(
        MailboxUnavailable("the server did not answer", credentials=False, rediscover=True),
        nth=2,  # the second folder: the first one's work stands
    )
    with plugins.registered(plugin):
        _ready(wess, home)
        result = wess("sync", "alice", "--json")
        assert result.exit_code == 0, result.stderr
        assert not any(f["failed"] for f in result.json["folders"].values())
        assert [e["kind"] for e in _history(wess)][-1] == "sync"
    # a second connection, and one more listing: the folder that failed, not the run
    assert len(plugin.connections) == 2
    assert plugin.mailbox.calls["changes"] == FOLDERS + 1
    assert len(result.json["folders"]) == FOLDERS
    (item,) = plugin.mailbox.items("contacts").values()
    assert item.fields["given_name"] == "Bo"


def test_a_mailbox_to_retry_later_ends_the_run_and_pauses_nobody(wess, home):
    plugin = _FailingTransportPlugin(
        MailboxUnavailable(
            "the mailbox is being moved", credentials=False, rediscover=False, retry_after=600
        )
    )
    with plugins.registered(plugin):
        _ready(wess, home)
        result = wess("sync", "alice", "--json")
        assert result.exit_code == 1
        failed = {f["failed"] for f in result.json["folders"].values()}
        assert failed == {"MailboxUnavailable: the mailbox is being moved"}
        assert [e["kind"] for e in _history(wess)][-1] == "error"
        status = {r["login"]: r for r in wess("status", "--json").json}
        assert status["alice"]["paused"] is None
        # the next run asks again, and goes through
        assert wess("sync", "alice").exit_code == 0
    assert len(plugin.connections) == 2  # one per run, no rediscovery
    assert plugin.mailbox.calls["changes"] == 1 + FOLDERS
