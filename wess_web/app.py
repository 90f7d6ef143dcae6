"""The ASGI application: sessions, CSRF, error mapping; routes live in ``wess_web.api``.

The pages (``wess_web.pages``) use the same ``WebState`` and session machinery; their
forms carry the CSRF token in a hidden field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from wess_core import errors
from wess_web.sessions import SessionSigner
from wess_web.throttle import Limit, Throttle

#: Failed log-ins allowed per login, and per client address, in 15 minutes.
PER_LOGIN = Limit(failures=5, window=15 * 60)
PER_CLIENT = Limit(failures=20, window=15 * 60)


@dataclass
class WebState:
    """What every request handler shares: the home, sessions, throttles."""

    home: Path
    signer: SessionSigner
    secure_cookies: bool
    per_login: Throttle = field(default_factory=lambda: Throttle(PER_LOGIN))
    per_client: Throttle = field(default_factory=lambda: Throttle(PER_CLIENT))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


#: Each typed service error -> its HTTP status (the first matching class wins).
STATUS_FOR_ERROR: list[tuple[type[errors.WessError], int]] = [
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.UsageError, 422),
    (errors.CredentialsRejected, 422),
    (errors.DiscoveryError, 422),
    (errors.ConnectionFailed, 502),
    (errors.NotEligible, 409),
    (errors.LicenceError, 409),
    (errors.SyncLocked, 409),
    (errors.JobRunning, 409),
]


def status_for(exc: errors.WessError) -> int:
    for cls, status in STATUS_FOR_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(status: int, message: str, headers: dict[str, str] | None = None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(home: Path, session_seconds: float, secure_cookies: bool) -> FastAPI:
    from wess_web import api, metrics, pages

    app = FastAPI(
        title="WESS",
        summary="Keep a CRM and Microsoft Exchange in step, per user.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
    )
    app.state.web = WebState(
        home=Path(home),
        signer=SessionSigner(Path(home), session_seconds),
        secure_cookies=secure_cookies,
    )

    @app.exception_handler(errors.WessError)
    async def wess_error(request: Request, exc: errors.WessError) -> JSONResponse:
        return error_response(status_for(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        # one readable line; never the input itself (it may hold a password)
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return error_response(422, f"{where}: {first.get('msg', 'invalid input')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.middleware("http")
    async def no_store(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.exception_handler(pages.NeedLogin)
    async def need_login(request: Request, exc: pages.NeedLogin) -> RedirectResponse:
        return RedirectResponse("/login", 303)

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(metrics.router)
    return app
