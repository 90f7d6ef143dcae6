"""Server-rendered pages: plain HTML forms over the same service functions and role rules
as the JSON API; forms carry the session's CSRF token in a hidden field."""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from wess_core import errors
from wess_core.service import Context
from wess_web.api import public_profile, session_of, web_state
from wess_web.app import status_for
from wess_web.sessions import COOKIE, Session

router = APIRouter(include_in_schema=False)
templates = Environment(
    loader=PackageLoader("wess_web", "templates"), autoescape=select_autoescape()
)

#: Shown when a user's sync is off, as the original product says it.
NOT_ENABLED = (
    "Exchange Sync is not enabled for your user. Tick \u201cSynchronisation Enabled?\u201d "
    "and save to enable it (your administrator must also allocate you a licence)."
)


def render(name: str, http_status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**values), status_code=http_status)


async def form_of(request: Request) -> dict[str, str]:
    """The url-encoded form body (no multipart: every form here is plain fields)."""
    body = (await request.body()).decode()
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def error_page(session: Session | None, exc: errors.WessError) -> HTMLResponse:
    status = status_for(exc)
    return render("error.html", status, session=session, status=status, message=str(exc))


class NeedLogin(Exception):
    pass


def _session(request: Request) -> Session:
    session = session_of(request)
    if session is None:
        raise NeedLogin
    return session


def _ctx(request: Request, session: Session) -> Context:
    return Context(home=web_state(request).home, actor=session.identity.actor)


def _csrf_ok(session: Session, form: dict[str, str]) -> None:
    if not session.csrf_ok(form.get("csrf_token")):
        raise errors.PermissionDenied("this form has expired; reload the page and try again")


# -- log in / out ------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    session = session_of(request)
    if session is None:
        return RedirectResponse("/login", 303)
    return RedirectResponse("/admin" if session.identity.role == "admin" else "/preferences", 303)


STATIC = {"wess.css": "text/css", "wess.js": "text/javascript"}


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The stylesheet and the small script, from the package (no CDN, no build step)."""
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    text = resources.files("wess_web").joinpath("static", name).read_text()
    return Response(text, media_type=STATIC[name])


@router.get("/login")
def login_page(request: Request) -> Response:
    return render("login.html", session=None, error=None, login="")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    """The same log-in as ``POST /api/session`` (throttling, login methods), then a redirect."""
    from fastapi import HTTPException

    from wess_web.api import LoginBody, log_in

    form = await form_of(request)
    response = RedirectResponse("/", 303)
    try:
        body = LoginBody(login=form.get("login"), password=form.get("password"))
        await run_in_threadpool(log_in, body, request, response)  # argon2 is slow on purpose
    except HTTPException as exc:
        error = "Wrong login or password." if exc.status_code == 401 else str(exc.detail)
        return render(
            "login.html", exc.status_code, session=None, error=error, login=form.get("login", "")
        )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = session_of(request)
    form = await form_of(request)
    if session is not None and session.csrf_ok(form.get("csrf_token")):
        web_state(request).signer.revoke(session)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- the Exchange Sync pane (a user's own, or the admin's view of one) -----------------


def pane(ctx: Context, login: str) -> dict[str, Any]:
    from wess_core.service import history, review, users

    profile = public_profile(users.show_user(ctx, login))
    return {
        "profile": profile,
        "history": history.entries(ctx, login, 10),
        "held": review.review(ctx, login),
        "not_enabled": NOT_ENABLED if not profile["sync_enabled"] else None,
    }


def counts(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Sync Now's result as one row per item type."""
    rows = []
    for name, folder in result.get("folders", {}).items():
        rows.append(
            {
                "name": name,
                "to_crm": folder["to_crm"],
                "to_exchange": folder["to_exchange"],
                "problem": folder.get("failed") or len(folder.get("errors", [])) or "",
            }
        )
    return rows


PROFILE_FIELDS = ("exchange_email", "exchange_username", "password", "ews_url")
ADMIN_FIELDS = ("email", "database")
#: Pane fields whose emptied box clears the stored value (the others keep it).
CLEARABLE_FIELDS = ("ews_url", "exchange_username")


def save_profile(ctx: Context, login: str, form: dict[str, str], admin: bool) -> dict[str, str]:
    """The pane's form: field errors by field name ({} when saved)."""
    from wess_core.service import users

    allowed = PROFILE_FIELDS + (ADMIN_FIELDS if admin else ())
    current = users.show_user(ctx, login)
    # an empty password keeps the stored one; other fields: only what was changed; an
    # emptied Connection URL goes back to autodiscover, an emptied username to the e-mail
    fields = {}
    for name in allowed:
        value = form.get(name, "").strip()
        if value and (name == "password" or value != (current.get(name) or "")):
            fields[name] = value
        elif name in CLEARABLE_FIELDS and not value and current.get(name):
            fields[name] = ""
    enabled = form.get("sync_enabled") == "on"
    try:
        if fields:
            users.update_user(ctx, login, **fields)
    except errors.CredentialsRejected as exc:
        return {"password": str(exc)}
    except errors.UsageError as exc:
        return {field_named(str(exc), list(fields)): str(exc)}
    if enabled != current["sync_enabled"]:
        users.set_sync_enabled(ctx, login, enabled)
    return {}


def field_named(message: str, changed: list[str]) -> str:
    """The field a service error is about: the only one changed, or the one it names."""
    if len(changed) == 1:
        return changed[0]
    for name in changed:
        if any(n in message for n in (name, name.replace("_", " "), name.replace("_", "-"))):
            return name
    return "form"


async def pane_post(request: Request, login: str, action: str, page: str) -> Response:
    """Save / Sync Now / review decisions / licence on one user's pane, in a worker thread
    (a sync or a credential check never blocks the event loop)."""
    session = _session(request)
    form = await form_of(request)
    return await run_in_threadpool(pane_action, request, session, form, login, action, page)


def pane_action(
    request: Request, session: Session, form: dict[str, str], login: str, action: str, page: str
) -> Response:
    """One pane form's effect, then the pane again with its notice or its errors."""
    from wess_core.service import review, users
    from wess_web import progress

    ctx = _ctx(request, session)
    admin = session.identity.role == "admin"
    extra: dict[str, Any] = {}
    status = 200
    try:
        _csrf_ok(session, form)
        if action == "save":
            field_errors = save_profile(ctx, login, form, admin)
            if field_errors:
                status = 422
                extra = {"errors": field_errors, "values": form}
            else:
                extra = {"notice": "Saved."}
        elif action == "sync":
            extra = {"result": counts(progress.run(ctx, login))}
        elif action == "review":
            ids = [v for k, v in form.items() if k.startswith("id_") and v]
            approve = form.get("action") == "approve"
            done = review.decide(ctx, login, ids, approve, False)
            verb = "Approved" if approve else "Rejected"
            extra = {"notice": f"{verb} {len(done['decided'])}; they apply at the next sync."}
        elif action == "licence" and admin:
            allocate = form.get("licence") == "allocate"
            (users.allocate if allocate else users.deallocate)(ctx, login)
            extra = {"notice": "Licence allocated." if allocate else "Licence released."}
        else:
            raise errors.NotFound("no such form")
        return render(page, status, **_pane_page(ctx, session, login, **extra))
    except errors.WessError as exc:
        if isinstance(exc, (errors.PermissionDenied, errors.NotFound)):
            return error_page(session, exc)
        return render(page, status_for(exc), **_pane_page(ctx, session, login, failure=str(exc)))


def _pane_page(ctx: Context, session: Session, login: str, **extra: Any) -> dict[str, Any]:
    base = "/preferences" if login == session.identity.login else f"/admin/users/{login}"
    values = {
        "session": session,
        "base": base,
        "admin_view": base != "/preferences",
        "errors": {},
        "values": {},
        "result": None,
        "notice": None,
        "failure": None,
        **pane(ctx, login),
    }
    values.update(extra)
    return values


@router.get("/preferences")
def preferences(request: Request) -> Response:
    session = _session(request)
    ctx = _ctx(request, session)
    try:
        return render("preferences.html", **_pane_page(ctx, session, session.identity.login))
    except errors.WessError as exc:
        return error_page(session, exc)


@router.post("/preferences/{action}")
async def preferences_post(request: Request, action: str) -> Response:
    session = _session(request)
    return await pane_post(request, session.identity.login, action, "preferences.html")


# -- admin ----------------------------------------------------------------------------


def _admin_page(ctx: Context, session: Session, **extra: Any) -> dict[str, Any]:
    from wess_core import plugins
    from wess_core.service import accounts, connect, sync

    account = accounts.show_account(ctx)
    rows = sync.status(ctx)
    show = extra.pop("show", "all")
    shown = [row for row in rows if FILTERS.get(show, FILTERS["all"])[1](row)]
    discovery = {row["login"]: connect.discovery_state(ctx, row["login"]) for row in rows}
    return {
        "session": session,
        "account": account,
        "impersonation": account.get("strategy_settings", {}).get("impersonation", {}).get("user"),
        "licences": accounts.licence_summary(ctx),
        "rows": rows,
        "shown": shown,
        "show": show,
        "filters": {name: label for name, (label, _) in FILTERS.items()},
        "discovery": discovery,
        "discovery_methods": plugins.discovery_methods().names(),
        "distributed": _distributed_lines(ctx),
        "errors": {},
        "values": {},
        "notice": None,
        "failure": None,
        "tested": None,
        **extra,
    }


def _distributed_lines(ctx: Context) -> list[str] | None:
    """The distributed deployment's status lines (``wess status``), or None without a
    broker; a broker that does not answer is one line saying so."""
    from wess_core.distributed import status

    try:
        view = status.configured_overview(ctx)
    except errors.WessError as exc:
        return [str(exc)]
    return None if view is None else status.lines(view)


#: The users table's filters: name -> (label, which status rows to show).
FILTERS = {
    "all": ("All users", lambda row: True),
    "not-eligible": ("Not eligible", lambda row: not row["eligible"]),
    "errors": ("With an error", lambda row: bool(row["last_error"])),
}


@router.get("/admin")
def admin(request: Request, show: str = "all") -> Response:
    session = _session(request)
    ctx = _ctx(request, session)
    try:
        ctx.require_admin()
        return render("admin.html", **_admin_page(ctx, session, show=show))
    except errors.WessError as exc:
        return error_page(session, exc)


@router.post("/admin/{action}")
async def admin_post(request: Request, action: str) -> Response:
    """Module, licences, connection, Test connection and background discovery."""
    session = _session(request)
    form = await form_of(request)
    return await run_in_threadpool(admin_action, request, session, form, action)


def admin_action(request: Request, session: Session, form: dict[str, str], action: str) -> Response:
    """One admin form's effect, then the admin page with its notice or its errors."""
    from wess_core.service import accounts, connect

    ctx = _ctx(request, session)
    try:
        _csrf_ok(session, form)
        ctx.require_admin()
    except errors.WessError as exc:
        return error_page(session, exc)
    extra: dict[str, Any] = {}
    try:
        if action == "module":
            accounts.set_module(ctx, form.get("module_active") == "on")
            extra["notice"] = "Module saved."
        elif action == "licences":
            accounts.add_licences(ctx, int(form.get("add_licences") or 0))
            extra["notice"] = "Licences added."
        elif action == "connection":
            extra = save_connection(ctx, form)
        elif action == "test":
            extra["tested"] = connect.test_connection(ctx, form.get("login", ""))
        elif action == "discover":
            connect.discover_in_background(ctx, form.get("login", ""))
            extra["notice"] = f"Autodiscover started for {form.get('login')}."
        else:
            raise errors.NotFound("no such form")
    except ValueError:
        extra = {"errors": {"add_licences": "a whole number, 1 or more"}}
    except errors.WessError as exc:
        if isinstance(exc, (errors.PermissionDenied, errors.NotFound)) and action != "test":
            return error_page(session, exc)
        field = {"licences": "add_licences"}.get(action)
        extra = {"errors": {field: str(exc)}} if field else {"failure": str(exc)}
    status = 422 if extra.get("errors") or extra.get("failure") else 200
    return render("admin.html", status, **_admin_page(ctx, session, **extra))


def save_connection(ctx: Context, form: dict[str, str]) -> dict[str, Any]:
    """The connection form, checked with Exchange before it is stored (as ``wess
    connection set``) unless the admin ticked "save without checking": a refusal is
    shown next to the fields, with what was typed kept, and nothing is stored."""
    from wess_core.service import accounts

    change = {k: (form.get(k) or "").strip() or None for k in ("discovery", "ews_url")}
    skipped = form.get("skip_check") == "on"
    try:
        data = accounts.set_connection(
            ctx, verify=not skipped, **{k: v for k, v in change.items() if v}
        )
    except (errors.ConnectionFailed, errors.UsageError) as exc:
        field = "discovery" if "discovery" in str(exc) else "ews_url"
        return {"errors": {field: str(exc)}, "values": form}
    text = accounts.connection_saved_text(
        data, skipped="save without checking" if skipped else None
    )
    return {"notice": text.replace("wess test-connection LOGIN", "Test connection below")}


@router.get("/admin/users/{login}")
def admin_user(request: Request, login: str) -> Response:
    session = _session(request)
    ctx = _ctx(request, session)
    try:
        ctx.require_admin()
        return render("admin_user.html", **_pane_page(ctx, session, login))
    except errors.WessError as exc:
        return error_page(session, exc)


@router.post("/admin/users/{login}/{action}")
async def admin_user_post(request: Request, login: str, action: str) -> Response:
    session = _session(request)
    try:
        _ctx(request, session).require_admin()
    except errors.WessError as exc:
        return error_page(session, exc)
    return await pane_post(request, login, action, "admin_user.html")
