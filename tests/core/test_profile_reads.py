"""``get_profile`` parses the users file once per content of the file, never serving a
profile older than the file: every change shows at once, in this process and others."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from wess_core import profiles
from wess_core.errors import NotFound, StoreCorrupt
from wess_core.service import Context
from wess_core.service.users import edit_profile, get_profile

SET_REASON = textwrap.dedent(
    """
    import sys
    from wess_core.service import Context
    from wess_core.service.users import edit_profile

    def change(profile, db):
        profile.paused_reason = sys.argv[3]

    edit_profile(Context(home=sys.argv[1]), sys.argv[2], change)
    """
)


def _pause(ctx: Context, login: str, reason: str | None) -> None:
    def change(profile, db):
        profile.paused_reason = reason

    edit_profile(ctx, login, change)


@pytest.mark.usefixtures("database")  # the users file, or PostgreSQL's documents
def test_every_change_shows_at_once_even_one_of_the_same_size(admin_home, home):
    ctx = Context(home=home)
    assert get_profile(ctx, "alice").paused_reason is None
    _pause(ctx, "alice", "aaaa")
    assert get_profile(ctx, "alice").paused_reason == "aaaa"
    _pause(ctx, "alice", "bbbb")  # same file size, possibly the same mtime
    assert get_profile(ctx, "alice").paused_reason == "bbbb"
    # another process changes the file
    subprocess.run([sys.executable, "-c", SET_REASON, str(home), "alice", "cccc"], check=True)
    assert get_profile(ctx, "alice").paused_reason == "cccc"
    assert get_profile(ctx, "bob").paused_reason is None
    with pytest.raises(NotFound):
        get_profile(ctx, "nobody")


@pytest.mark.usefixtures("database")
def test_a_returned_profile_is_the_callers_own(admin_home, home):
    ctx = Context(home=home)
    first = get_profile(ctx, "alice")
    first.paused_reason = "changed in memory only"
    first.extra["mine"] = ["x"]
    again = get_profile(ctx, "alice")
    assert again.paused_reason is None and "mine" not in again.extra


def test_the_file_is_parsed_once_per_content(admin_home, home, monkeypatch):
    ctx = Context(home=home)
    parsed = []
    real = profiles.parse_json_bytes

    def counting(raw, path):
        parsed.append(path)
        return real(raw, path)

    monkeypatch.setattr(profiles, "parse_json_bytes", counting)
    for _ in range(3):
        get_profile(ctx, "alice")
        get_profile(ctx, "bob")
    assert len(parsed) <= 1
    _pause(ctx, "bob", "x")
    assert get_profile(ctx, "bob").paused_reason == "x"
    assert len(parsed) <= 2


def test_a_corrupt_users_file_still_raises(admin_home, home):
    ctx = Context(home=home)
    get_profile(ctx, "alice")
    ctx.store.path("users").write_text("{not json")
    with pytest.raises(StoreCorrupt):
        get_profile(ctx, "alice")
