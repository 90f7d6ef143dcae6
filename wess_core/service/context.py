"""Who is acting on which WESS home: the one object every service function takes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from wess_core.errors import PermissionDenied
from wess_core.home_stores import home_stores
from wess_core.secrets import SecretBox
from wess_core.store import Store


def default_home() -> Path:
    """``WESS_HOME`` or the per-user data directory."""
    env = os.environ.get("WESS_HOME")
    return Path(env) if env else Path(platformdirs.user_data_dir("wess", appauthor=False))


@dataclass
class Context:
    """The WESS home and the acting user (``actor=None`` is the admin)."""

    home: Path
    actor: str | None = None
    _box: SecretBox | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.home = Path(self.home)
        self.store = Store(self.home)
        #: The account's, profiles' and sync state's stores (files, or a shared database).
        self.stores = home_stores(self.store)

    @property
    def is_admin(self) -> bool:
        return self.actor is None

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied()

    def require_self_or_admin(self, login: str) -> None:
        """Users may act on their own profile only."""
        if not self.is_admin and self.actor != login:
            raise PermissionDenied()

    @property
    def secrets(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox.for_home(self.home)
        return self._box
