"""The JSON API under /api: thin routes over the same service functions the CLI calls.

Handlers that call the service are plain ``def``: FastAPI runs them in a worker thread,
so a sync or a credential check never blocks the event loop.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict

from wess_core.errors import UsageError
from wess_core.service import Context
from wess_core.service.logins import Identity, credential_stamp
from wess_core.strategies import WebCredentials
from wess_web.app import WebState
from wess_web.sessions import COOKIE, CSRF_HEADER, Session

router = APIRouter(prefix="/api")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def web_state(request: Request) -> WebState:
    return request.app.state.web


def session_of(request: Request) -> Session | None:
    """The request's valid session, or None: signed, not expired, not logged out, and its
    account still there with the password it logged in with."""
    state = web_state(request)
    session = state.signer.read(request.cookies.get(COOKIE))
    if session is None:
        return None
    stamp = credential_stamp(Context(home=state.home), session.identity)
    return session if stamp == session.stamp else None


def acting(request: Request) -> Context:
    """The ``Context`` of the logged-in caller: 401 without a session, 403 when a
    state-changing request lacks the session's CSRF token."""
    state = web_state(request)
    session = session_of(request)
    if session is None:
        raise HTTPException(401, "log in first: POST /api/session")
    if request.method not in SAFE_METHODS and not session.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header")
    return Context(home=state.home, actor=session.identity.actor)


Acting = Depends(acting)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- session --------------------------------------------------------------------------


class LoginBody(Strict):
    login: str | None = None
    password: str | None = None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttled(state: WebState, login: str | None, client: str) -> float:
    waits = [state.per_client.retry_after(client)]
    if login:
        waits.append(state.per_login.retry_after(login))
    return max(waits)


@router.post("/session")
def log_in(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
    """Log in; the session cookie comes with the CSRF token for state-changing requests."""
    from wess_web.logins import authenticate

    state = web_state(request)
    client = _client(request)
    wait = _throttled(state, body.login, client)
    if wait > 0:
        raise HTTPException(
            429,
            "too many failed log-ins; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    credentials = WebCredentials(
        login=body.login,
        password=body.password,
        headers={k.lower(): v for k, v in request.headers.items()},
        client=client,
    )
    ctx = Context(home=state.home)
    identity = authenticate(ctx, credentials)
    stamp = credential_stamp(ctx, identity) if identity else None
    if identity is None or stamp is None:
        state.per_client.failed(client)
        if body.login:
            state.per_login.failed(body.login)
        raise HTTPException(401, "wrong login or password")
    state.per_login.succeeded(identity.login)
    session, cookie = state.signer.new(identity, stamp)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(state.signer.max_age),
        httponly=True,
        samesite="lax",
        secure=state.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    return _whoami(session.identity, session.csrf_token)


def _whoami(identity: Identity, csrf_token: str) -> dict[str, Any]:
    return {"login": identity.login, "role": identity.role, "csrf_token": csrf_token}


@router.get("/session")
def who_am_i(request: Request) -> dict[str, Any]:
    """The logged-in caller (401 when nobody is)."""
    session = session_of(request)
    if session is None:
        raise HTTPException(401, "not logged in")
    return _whoami(session.identity, session.csrf_token)


@router.delete("/session")
def log_out(request: Request, response: Response, ctx: Context = Acting) -> dict[str, Any]:
    session = session_of(request)
    if session is not None:
        web_state(request).signer.revoke(session)
    response.delete_cookie(COOKIE, path="/")
    return {"logged_out": True}


# -- one user ---------------------------------------------------------------------


def public_profile(data: dict[str, Any]) -> dict[str, Any]:
    """A profile for the web: ``has_password`` instead of the (encrypted) password."""
    out = dict(data)
    out["has_password"] = bool(out.pop("password", None))
    out.pop("web_password_hash", None)
    return out


class ProfileChange(Strict):
    sync_enabled: bool | None = None
    exchange_email: str | None = None
    exchange_username: str | None = None
    password: str | None = None
    ews_url: str | None = None
    # admin only (403 for a user), as on the CLI
    auth: str | None = None
    discovery: str | None = None
    transport: str | None = None
    database: str | None = None
    state: str | None = None
    email: str | None = None
    skip_check: bool = False  # save without the credential check (admin only, as on the CLI)


@router.get("/users/{login}")
def get_user(login: str, ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import users

    return public_profile(users.show_user(ctx, login))


@router.patch("/users/{login}")
def patch_user(login: str, change: ProfileChange, ctx: Context = Acting) -> dict[str, Any]:
    """Change a profile; credentials are checked with Exchange first (422 and nothing
    stored when it refuses them)."""
    from wess_core.service import users

    given = change.model_dump(exclude_unset=True, exclude={"skip_check"})
    fields = {k: v for k, v in given.items() if v is not None}
    enabled = fields.pop("sync_enabled", None)
    if not fields and enabled is None:
        raise UsageError("nothing to change")
    if enabled is not None:
        ctx.require_self_or_admin(login)  # before anything else is stored
    if fields:
        users.update_user(ctx, login, verify=not change.skip_check, **fields)
    if enabled is not None:
        users.set_sync_enabled(ctx, login, enabled)
    return public_profile(users.show_user(ctx, login))


class SyncRequest(Strict):
    dry_run: bool = False


@router.post("/users/{login}/sync")
def sync_now(login: str, body: SyncRequest | None = None, ctx: Context = Acting) -> dict:
    """Sync Now: the same document as ``wess sync --json``."""
    from wess_web import progress

    return progress.run(ctx, login, dry_run=bool(body and body.dry_run))


@router.get("/users/{login}/sync")
def sync_progress(login: str, ctx: Context = Acting) -> dict[str, Any]:
    """Where a Sync Now of ``login`` started on this server is: ``running``, the folder it
    is at, how many of the folders are done (what the page shows while it waits)."""
    from wess_core.service import users
    from wess_web import progress

    ctx.require_self_or_admin(login)
    users.get_profile(ctx, login)  # unknown: 404
    return progress.of(login)


@router.post("/users/{login}/discover", status_code=202)
def start_discovery(login: str, ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import connect

    return connect.discover_in_background(ctx, login)


@router.get("/users/{login}/discover")
def discovery_state(login: str, ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import connect

    return connect.discovery_state(ctx, login)


@router.post("/users/{login}/test-connection")
def test_connection(login: str, ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import connect

    return connect.test_connection(ctx, login)


@router.get("/users/{login}/history")
def history(login: str, limit: int | None = None, ctx: Context = Acting) -> list[dict]:
    from wess_core.service import history

    return history.entries(ctx, login, limit)


@router.get("/users/{login}/ledger")
def ledger(
    login: str, item: str | None = None, since: str | None = None, ctx: Context = Acting
) -> list[dict]:
    from wess_core.service import review

    return review.ledger(ctx, login, item=item, since=since)


@router.get("/users/{login}/review")
def held(login: str, ctx: Context = Acting) -> list[dict]:
    from wess_core.service import review

    return review.review(ctx, login)


class ReviewDecision(Strict):
    ids: list[str] = []
    action: Literal["approve", "reject"]
    all: bool = False


@router.post("/users/{login}/review")
def decide(login: str, body: ReviewDecision, ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import review

    return review.decide(ctx, login, body.ids, body.action == "approve", body.all)


# -- admin ------------------------------------------------------------------------


@router.get("/users")
def list_users(ctx: Context = Acting) -> list[dict]:
    from wess_core.service import users

    return [public_profile(row) for row in users.list_users(ctx)]


class NewUser(Strict):
    login: str
    email: str


@router.post("/users", status_code=201)
def add_user(body: NewUser, ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import users

    return public_profile(users.add_user(ctx, body.login, body.email))


def _account(ctx: Context) -> dict[str, Any]:
    from wess_core.service import accounts

    return {
        "account": accounts.show_account(ctx),
        "licences": accounts.licence_summary(ctx),
        "settings": accounts.settings(ctx),
    }


@router.get("/account")
def get_account(ctx: Context = Acting) -> dict[str, Any]:
    """Module, licences, connection defaults and settings."""
    return _account(ctx)


class ConnectionChange(Strict):
    discovery: str | None = None
    auth: str | None = None
    transport: str | None = None
    ews_url: str | None = None
    autodiscover_url: str | None = None
    ca_bundle: str | None = None
    skip_check: bool = False


class AccountChange(Strict):
    module_active: bool | None = None
    add_licences: int | None = None
    connection: ConnectionChange | None = None
    settings: dict[str, str] | None = None


@router.patch("/account")
def patch_account(change: AccountChange, ctx: Context = Acting) -> dict[str, Any]:
    """Each part as its CLI command does it: module, licences, connection, settings."""
    from wess_core.service import accounts

    ctx.require_admin()
    if change.connection is not None:
        fields = change.connection.model_dump(exclude_unset=True, exclude={"skip_check"})
        accounts.set_connection(ctx, verify=not change.connection.skip_check, **fields)
    for key, value in (change.settings or {}).items():
        accounts.set_setting(ctx, key, value)
    if change.add_licences is not None:
        accounts.add_licences(ctx, change.add_licences)
    if change.module_active is not None:
        accounts.set_module(ctx, change.module_active)
    return _account(ctx)


@router.get("/status")
def status(ctx: Context = Acting) -> list[dict]:
    """Every user's sync state (a user: their own line, as ``wess --as LOGIN status``)."""
    from wess_core.service import sync

    return sync.status(ctx)


@router.get("/status/distributed")
def distributed_status(ctx: Context = Acting) -> dict[str, Any]:
    """Admin: the distributed deployment's queue, workers, server budgets and dead-letter
    list (``distributed`` of ``wess status --json``); ``{"distributed": null}`` without
    ``WESS_BROKER_URL``."""
    from wess_core.distributed.status import configured_overview

    ctx.require_admin()
    return {"distributed": configured_overview(ctx)}


@router.get("/checklist")
def checklist(ctx: Context = Acting) -> dict[str, Any]:
    from wess_core.service import checklist

    return {"lines": checklist.checklist(ctx)}
