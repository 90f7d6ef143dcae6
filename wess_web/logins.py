"""Who a log-in request is: plugins' login methods first, WESS's own passwords last."""

from __future__ import annotations

import logging
from collections.abc import Callable

from wess_core.plugins import get_plugin_manager
from wess_core.service import Context
from wess_core.service.logins import Identity, check_password, user_identity
from wess_core.strategies import WebCredentials

log = logging.getLogger("wess.web")

LoginMethod = Callable[[WebCredentials], "str | None"]


def login_methods() -> list[tuple[str, LoginMethod]]:
    """The methods plugins register through ``wess_register_web_login_methods``."""
    found: list[tuple[str, LoginMethod]] = []
    names: set[str] = set()

    def register(name: str, method: LoginMethod) -> None:
        if not isinstance(name, str) or not name or name in names:
            raise ValueError(f"web login method {name!r} is unnamed or registered twice")
        if not callable(method):
            raise ValueError(f"web login method {name!r} is not callable")
        names.add(name)
        found.append((name, method))

    get_plugin_manager().hook.wess_register_web_login_methods(register=register)
    return sorted(found, key=lambda item: item[0])


def authenticate(ctx: Context, credentials: WebCredentials) -> Identity | None:
    """The identity ``credentials`` log in as, or None."""
    for name, method in login_methods():
        try:
            login = method(credentials)
        except Exception as exc:  # a broken plugin must not break log-in
            log.warning("web login method %s failed (%s)", name, type(exc).__name__)
            continue
        if login is not None:
            identity = user_identity(ctx, login)
            if identity is not None:
                return identity
            log.warning("web login method %s named no WESS user", name)
    if credentials.login and credentials.password:
        return check_password(ctx, credentials.login, credentials.password)
    return None
