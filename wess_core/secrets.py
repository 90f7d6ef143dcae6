"""Encryption of stored passwords and tokens (Fernet; MultiFernet for key rotation).

The key comes from ``WESS_SECRET_KEY`` (one key, or several separated by commas,
newest first) or from the key file ``secret.key`` in the WESS home, which
``wess init`` creates with mode 0600 (one key per line, newest first).
Decrypting with the wrong key is an error, never garbage.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from wess_core.errors import SecretKeyError

ENV_VAR = "WESS_SECRET_KEY"
KEY_FILE_NAME = "secret.key"


def key_file(home: Path) -> Path:
    return Path(home) / KEY_FILE_NAME


def _parse_keys(text: str, source: str) -> list[bytes]:
    keys = [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]
    if not keys:
        raise SecretKeyError(f"{source} holds no key; run 'wess init' or set {ENV_VAR}")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{source} holds a malformed key; a key is 44 url-safe base64 characters "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from None
    return [k.encode() for k in keys]


def _check_permissions(path: Path) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretKeyError(
            f"key file {path} is readable by other users (mode {stat.S_IMODE(mode):04o}); "
            f"run: chmod 600 {path}"
        )


def load_keys(home: Path) -> list[bytes]:
    """The keys in force, newest first."""
    env = os.environ.get(ENV_VAR)
    if env:
        return _parse_keys(env, ENV_VAR)
    path = key_file(home)
    if not path.exists():
        raise SecretKeyError(
            f"no secret key: {path} does not exist; run 'wess init' or set {ENV_VAR}"
        )
    _check_permissions(path)
    return _parse_keys(path.read_text(encoding="ascii", errors="replace"), str(path))


def write_key_file(home: Path, keys: list[bytes]) -> None:
    """Write the key file atomically with mode 0600 from the start."""
    path = key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write("".join(k.decode() + "\n" for k in keys))
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_key_file(home: Path) -> bool:
    """Create the key file unless a key is configured; True when a new key was made."""
    if os.environ.get(ENV_VAR) or key_file(home).exists():
        return False
    write_key_file(home, [Fernet.generate_key()])
    return True


class SecretBox:
    """Encrypts and decrypts secrets with the home's keys."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def for_home(cls, home: Path) -> SecretBox:
        return cls(load_keys(home))

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                "cannot decrypt a stored secret with the current key; restore the key that "
                f"encrypted it (key file or {ENV_VAR})"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the newest key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretKeyError(
                "cannot decrypt a stored secret with any configured key; nothing was rotated"
            ) from None
