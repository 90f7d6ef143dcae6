"""Server-supplied text never drives the terminal: control, bidi and separator characters
in subjects and fault strings are printed as escapes; JSON output stays exact (issue 13,
§6)."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tests.support import sync_ok
from wess_core.display import visible

#: What an EWS server can send in a subject or a fault string (XML 1.0 carries no C0
#: control but tab, LF and CR): CR overwrites the line, U+009B is the 8-bit ANSI CSI
#: ("clear screen" here), U+0085 a C1 newline, U+202E flips the rest of the line, U+2028
#: a line separator.
HOSTILE = "Pay\rnow\x9b2J\x85x\u202eevil.exe\u2028end"
SHOWN = "Pay\\rnow\\x9b2J\\x85x\\u202eevil.exe\\u2028end"
#: A fault string: its first line is what WESS reports, so no line break in this one.
FAULT = "Store\x9b2J offline\u202eevil\u200b\x7f"
FAULT_SHOWN = "Store\\x9b2J offline\\u202eevil\\u200b\\x7f"


def _controls(text):
    """Characters a terminal would act on, other than the newline ending each line."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]


def test_visible_escapes_controls_and_keeps_ordinary_text():
    assert visible("\x1b[31mred\x1b[0m\x7f\x00") == "\\x1b[31mred\\x1b[0m\\x7f\\x00"
    assert visible("a\tb\nc\rd") == "a\\tb\\nc\\rd"
    assert visible("\u202eabc\u2066\u200b\ufeff\U000e0041") == (
        "\\u202eabc\\u2066\\u200b\\ufeff\\U000e0041"
    )
    ordinary = "Zoë Ñúñez 李小龍 😀 👩\u200d💻 مرحبا\u200cا नमस्ते \u00a0x"
    assert visible(ordinary) == ordinary
    assert visible("\ud800") == "\\ud800"  # a lone surrogate (undecodable bytes)
    assert visible(HOSTILE) == SHOWN


@given(st.text())
def test_visible_leaves_nothing_a_terminal_acts_on(text):
    shown = visible(text)
    assert not [
        c
        for c in shown
        if c not in "\u200c\u200d" and unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")
    ]
    assert visible(shown) == shown  # printing twice changes nothing
    if text.isprintable():
        assert shown == text


def test_a_subject_from_exchange_is_escaped_in_every_listing(synced_home, ews_mailbox):
    ews_mailbox.add_items("tasks", [{"Subject": HOSTILE}])
    sync_ok(synced_home)
    (task,) = synced_home("crm", "list", "tasks", "--json").json
    assert task["fields"]["subject"] == HOSTILE  # stored and printed as JSON exactly

    listed = synced_home("crm", "list", "tasks")
    assert listed.exit_code == 0 and not _controls(listed.stdout)
    assert f"subject={SHOWN}" in listed.stdout
    assert len(listed.stdout.splitlines()) == 1  # one record, one line

    ledger = synced_home("ledger", "alice")
    assert ledger.exit_code == 0 and not _controls(ledger.stdout)


def test_a_fault_string_from_exchange_is_escaped_on_stderr_and_in_tables(synced_home, ews_server):
    # a code that pauses the user, so the server's text is the pause's reason in history
    # and status (ErrorInternalServerError only skips the folder, issue 14)
    ews_server.inject(
        "soap_fault",
        operation="SyncFolderItems",
        times=None,
        code="ErrorAccountDisabled",
        text=FAULT,
    )
    try:
        run = synced_home("run", "--once")
        sync = synced_home("sync", "alice")
    finally:
        ews_server.faults.clear()
    assert sync.exit_code == 1
    assert not _controls(sync.stderr) and not _controls(sync.stdout)
    assert FAULT_SHOWN in sync.stderr and len(sync.stderr.splitlines()) == 1
    history = synced_home("history", "alice")
    assert not _controls(history.stdout) and FAULT_SHOWN in history.stdout
    status = synced_home("status")
    assert not _controls(status.stdout) and FAULT_SHOWN in status.stdout
    assert not _controls(run.stdout) and FAULT_SHOWN in run.stdout
    exact = synced_home("history", "alice", "--json").json
    assert FAULT in exact[0]["message"]  # JSON keeps the server's text as it was
