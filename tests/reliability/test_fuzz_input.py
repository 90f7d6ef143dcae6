"""Fuzzed input: stored losslessly or refused with a clear error; never a traceback,
never a half-written profile."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wess_core.errors import WessError
from wess_core.service import Context, accounts, users

NASTY = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=string.printable, max_size=50),
    st.sampled_from(
        [
            *("", " ", "a" * 5000, "DOM/alice", "DOM\\alice", "\u202eevil", "😀@example.com"),
            *("]]>", "<x>&amp;</x>", "a@b", "a@b.c", "https://x/EWS/Exchange.asmx\x00"),
            *("https://[::1]:443/EWS/Exchange.asmx", "https://h:99999/EWS/Exchange.asmx"),
            *("javascript:alert(1)", "file:///etc/passwd", "https://h/ews/EXCHANGE.ASMX"),
        ]
    ),
)

FIELDS = ["exchange_email", "exchange_username", "ews_url", "email", "database", "state"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(field=st.sampled_from(FIELDS), value=NASTY)
def test_profile_fields_are_stored_losslessly_or_refused(tmp_path_factory, field, value):
    home = tmp_path_factory.mktemp("fuzz")
    ctx = Context(home=home)
    accounts.init(ctx)
    users.add_user(ctx, "alice", "alice@example.com")
    before = (home / "users.json").read_bytes()
    try:
        shown = users.update_user(ctx, "alice", verify=False, **{field: value})
    except WessError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 2000
        assert exc.exit_code == 2
        assert (home / "users.json").read_bytes() == before  # nothing half-written
        return
    stored = users.show_user(ctx, "alice")
    key = "pending_email" if field == "email" else field
    assert stored[key] == shown[key]
    if field in ("ews_url", "exchange_username") and not value.strip():
        assert stored[key] is None  # empty clears: autodiscover again, log in by e-mail
    else:
        assert stored[key] == value.strip()


@settings(max_examples=100, deadline=None)
@given(login=st.text(max_size=200), email=NASTY)
def test_new_users_are_added_or_refused_cleanly(tmp_path_factory, login, email):
    home = tmp_path_factory.mktemp("fuzz")
    ctx = Context(home=home)
    accounts.init(ctx)
    try:
        users.add_user(ctx, login, email)
    except WessError as exc:
        assert exc.exit_code == 2 and "\n" not in str(exc)
        assert users.list_users(ctx) == []
        return
    (only,) = users.list_users(ctx)
    assert only["login"] == login
    assert (home / "users.json").exists()
