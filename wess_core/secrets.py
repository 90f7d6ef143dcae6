"""Encryption of stored passwords and tokens (Fernet; MultiFernet for key rotation).

The key comes from ``WESS_SECRET_KEY`` (one key, or several separated by commas,
newest first) or from the key file ``secret.key`` in the WESS home, which
``wess init`` creates with mode 0600 (one key per line, newest first).
Decrypting with the wrong key is an error, never garbage.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from wess_core import safefile
from wess_core.errors import SecretKeyError

ENV_VAR = "WESS_SECRET_KEY"
KEY_FILE_NAME = "secret.key"
#: The store lock name of the home's secrets lock (``.locks/secrets.lock``).
SECRETS_LOCK = "secrets"


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


def _check_permissions(path: Path, st: os.stat_result) -> None:
    mode = st.st_mode
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
    safefile.check_home(home)
    found = safefile.read_with_stat(path)  # never through a link, never another user's
    if found is None:
        raise SecretKeyError(
            f"no secret key: {path} does not exist; run 'wess init' or set {ENV_VAR}"
        )
    raw, st = found
    _check_permissions(path, st)
    return _parse_keys(raw.decode("ascii", errors="replace"), str(path))


def write_key_file(home: Path, keys: list[bytes]) -> None:
    """Write the key file atomically with mode 0600 from the start (a random temp name,
    created exclusively: a link planted at a guessed name never receives a key)."""
    safefile.write_atomic(key_file(home), "".join(k.decode() + "\n" for k in keys).encode())


def ensure_key_file(home: Path) -> bool:
    """Create the key file unless a key is configured; True when a new key was made."""
    if os.environ.get(ENV_VAR) or os.path.lexists(key_file(home)):
        return False
    write_key_file(home, [Fernet.generate_key()])
    return True


#: Per home, the threads' hold count of the secrets lock (it is re-entrant per thread).
_held = threading.local()


@contextlib.contextmanager
def secrets_lock(home: Path) -> Iterator[None]:
    """The home's secrets lock (``.locks/secrets.lock``), across processes and threads.

    ``wess keys rotate`` holds it from reading the keys to writing the last store;
    every secret write holds it from loading the keys to storing the encrypted value.
    Without it a password encrypted with a key that a concurrent rotation is about to
    drop would be stored after the rotation re-encrypted everything: lost for good.
    Re-entrant within a thread. Always taken before any store lock.
    """
    from wess_core.store import Store

    key = str(Path(home).resolve())
    depth: dict[str, int] = _held.__dict__.setdefault("depth", {})
    if depth.get(key):
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    with Store(home).lock(SECRETS_LOCK, what=f"the secrets of {home}"):
        depth[key] = 1
        try:
            yield
        finally:
            depth[key] = 0


@contextlib.contextmanager
def secret_writer(home: Path) -> Iterator[SecretBox]:
    """Hold the secrets lock and give a box with the keys in force *now*: encrypt and
    store inside the block, and no rotation can strand the value under a dropped key."""
    with secrets_lock(home):
        yield SecretBox.for_home(home)


#: Store files that hold encrypted values: store name -> (table, fields). ``wess keys
#: rotate`` re-encrypts every one of them; a plugin that stores secrets registers its own.
ENCRYPTED_STORES: dict[str, tuple[str, tuple[str, ...]]] = {}


def register_encrypted_store(name: str, table: str, fields: tuple[str, ...]) -> None:
    """Declare that documents of ``table`` in the store file ``name`` hold ``fields``
    encrypted with the home's keys, so that key rotation re-encrypts them."""
    ENCRYPTED_STORES[name] = (table, tuple(fields))


_core_dumps_off = False


def no_core_dumps() -> None:
    """Lower the soft RLIMIT_CORE to 0 for this process: a crash while secrets are
    decrypted in memory must not write them to a core file. Harmless where unsupported."""
    global _core_dumps_off
    if _core_dumps_off:
        return
    _core_dumps_off = True
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if soft != 0:
            resource.setrlimit(resource.RLIMIT_CORE, (0, hard))
    except (ImportError, ValueError, OSError):
        pass


class SecretBox:
    """Encrypts and decrypts secrets with the home's keys."""

    def __init__(self, keys: list[bytes], home: Path | None = None) -> None:
        no_core_dumps()  # secrets are about to be decrypted in this process
        self._keys = list(keys)
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._home = home

    @classmethod
    def for_home(cls, home: Path) -> SecretBox:
        return cls(load_keys(home), home)

    def _reloaded(self) -> bool:
        """Take the home's keys again if they changed (a rotation since this box was
        made: a long-running scheduler keeps reading secrets after ``keys rotate``)."""
        if self._home is None:
            return False
        try:
            keys = load_keys(self._home)
        except SecretKeyError:
            return False
        if keys == self._keys:
            return False
        self._keys = keys
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        return True

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            try:
                return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
            except InvalidToken:
                if not self._reloaded():
                    raise
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
