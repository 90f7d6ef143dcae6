"""Finding a user's EWS URL and testing their connection, on demand.

``discover`` runs the user's discovery method, caches the URL on the profile and
records the outcome in the user's history; ``discover_in_background`` does the same
in a detached process and returns at once (a marker in the ``jobs`` table and a
history entry say it is running). ``test_connection`` is the credential check on
save, run on demand. A user may do all three for their own profile.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from typing import Any

from wess_core import connection as conn_mod
from wess_core.errors import WessError
from wess_core.models import UserProfile
from wess_core.service import history, jobs
from wess_core.service.accounts import load_account
from wess_core.service.context import Context
from wess_core.service.jobs import running_jobs  # noqa: F401 - its old home
from wess_core.service.users import edit_profile, get_profile


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _resolve(ctx: Context, login: str) -> conn_mod.Connection:
    profile = get_profile(ctx, login)
    return conn_mod.resolve(load_account(ctx), profile, ctx.secrets.decrypt, ctx.home)


def _summary(connection: conn_mod.Connection, url: str | None) -> dict[str, Any]:
    return {
        "login": connection.login,
        "email": connection.exchange_email,
        "username": connection.username or connection.exchange_email,
        "ews_url": url,
    }


def _cache_url(ctx: Context, login: str, url: str) -> None:
    def change(profile: UserProfile, db: Any) -> None:
        profile.discovered_ews_url = url

    edit_profile(ctx, login, change)


def discover(ctx: Context, login: str) -> dict[str, Any]:
    """Find the EWS URL for ``login`` now; cache it on the profile; record it in history.

    Raises ``DiscoveryError`` (AutoDiscoverFailed, Unauthorized, ErrorNonExistentMailbox)
    after recording the failure in the history.
    """
    from wess_core import deadlines

    ctx.require_self_or_admin(login)
    account = load_account(ctx)
    connection = conn_mod.resolve(account, get_profile(ctx, login), ctx.secrets.decrypt, ctx.home)
    try:  # the job marker goes last: once it is gone, the outcome has landed
        try:
            with deadlines.account_scope(account):
                url = conn_mod.discover_url(connection)
        except WessError as exc:
            code = getattr(exc, "code", type(exc).__name__)
            history.record(ctx, login, "discovery", f"discovery failed: {exc}", code=code)
            raise
        if not connection.ews_url:
            _cache_url(ctx, login, url)
        history.record(ctx, login, "discovery", f"EWS URL found: {url}", ews_url=url)
    finally:
        jobs.clear(ctx, login, os.environ.get(JOB_ENV))
    return _summary(connection, url)


#: Set in a background job's environment: the ``started`` stamp of its marker, so the
#: job clears its own marker and nothing else.
JOB_ENV = "WESS_JOB_STARTED"


def discover_in_background(ctx: Context, login: str) -> dict[str, Any]:
    """Start ``wess discover LOGIN`` as a detached process and return at once.

    One background job per user at a time: while one runs (its marker, see
    ``wess_core.service.jobs``, names a live process, or one being launched), another
    request is refused with ``JobRunning`` (exit 1) and starts nothing. The child reads
    the secrets from the home like any command: nothing secret is in its argv or
    environment beyond what this process already has.
    """
    ctx.require_self_or_admin(login)
    conn_mod.require_trusted(_resolve(ctx, login))
    started = _now()
    jobs.claim(ctx, login, "discovery", started)
    history.record(ctx, login, "discovery", "discovery running (started in the background)")
    argv = [sys.executable, "-m", "wess_core.cli", "--home", str(ctx.home)]
    if ctx.actor:
        argv += ["--as", ctx.actor]
    argv += ["discover", login]
    try:
        child = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "WESS_HOME": str(ctx.home), JOB_ENV: started},
        )
    except OSError:
        jobs.clear(ctx, login, started)
        raise
    jobs.set_pid(ctx, login, started, child.pid)
    return {"login": login, "state": "running", "pid": child.pid, "started": started}


def test_connection(ctx: Context, login: str) -> dict[str, Any]:
    """The credential check on save, on demand: ``CredentialsRejected`` (exit 1) on failure.

    A URL found again because the cached one stopped answering is cached for next time.
    """
    from wess_core import deadlines

    ctx.require_self_or_admin(login)
    account = load_account(ctx)
    connection = conn_mod.resolve(account, get_profile(ctx, login), ctx.secrets.decrypt, ctx.home)
    with deadlines.account_scope(account):
        url = conn_mod.check(connection)
    if url and not connection.ews_url and url != connection.discovered_ews_url:
        _cache_url(ctx, login, url)
    return {**_summary(connection, url), "ok": True}


def discovery_state(ctx: Context, login: str) -> dict[str, Any]:
    """Background discovery of ``login``: running or not, and the last discovery's entry in
    the history (its result or its named error)."""
    from wess_core.service.users import show_user

    profile = show_user(ctx, login)  # the role check, and NotFound for an unknown login
    running = [job for job in running_jobs(ctx, login) if job.get("kind") == "discovery"]
    return {
        "login": login,
        "state": "running" if running else "idle",
        "last": history.last_entry(ctx, login, "discovery"),
        "ews_url": profile.get("ews_url") or profile.get("discovered_ews_url"),
    }
