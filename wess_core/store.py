"""TinyDB files under the WESS home, written atomically under an inter-process lock.

Each store file is a TinyDB JSON document (the account and the profiles, see
``wess_core.profiles``; the tables are in SQL, see ``wess_core.tables``). A write
transaction takes the file's lock, reads the file once, lets the caller change it
(through TinyDB's public API, or the documents as stored: ``edit``), and writes it back
once: temp file in the same folder, fsync, ``os.replace``. A crash at any point leaves
either the old or the new file, never a half-written one.

A file that is not valid JSON is never overwritten: every access raises
``StoreCorrupt`` naming the file until a person repairs or moves it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import filelock
from tinydb import TinyDB
from tinydb.storages import Storage

try:
    import fcntl
except ImportError:  # Windows: filelock's lock
    fcntl = None  # type: ignore[assignment]

from wess_core import safefile
from wess_core.errors import StoreCorrupt, StoreError, ValidationError, quote

LOCK_TIMEOUT_SECONDS = 60.0
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_thread_locks: dict[str, threading.RLock] = {}
_thread_locks_guard = threading.Lock()


def check_name_part(part: str, what: str = "name") -> str:
    """Refuse names that cannot be a file name (path separators, dots, control characters)."""
    if not _NAME_RE.fullmatch(part) or part in {".", ".."}:
        raise ValidationError(
            f"invalid {what} {quote(part)}: use letters, digits and . _ @ + - (at most 128)"
        )
    return part


def read_file_bytes(path: Path) -> bytes | None:
    """A store file's bytes; ``None`` when it does not exist. Never through a link, never a
    file another user owns or could write (see ``wess_core.safefile``)."""
    return safefile.read_bytes(path)


def load_json_file(path: Path) -> Any:
    """Parse a store file; ``None`` when it does not exist; ``StoreCorrupt`` when unreadable."""
    raw = read_file_bytes(path)
    return None if raw is None else parse_json_bytes(raw, path)


def parse_json_bytes(raw: bytes, path: Path) -> Any:
    """Parse the bytes of the store file ``path``; ``StoreCorrupt`` when they are not JSON."""
    try:
        if not raw.strip():
            raise ValueError("the file is empty")
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreCorrupt(
            f"{path} is corrupt ({str(exc).splitlines()[0]}); restore it from a backup "
            "or move it aside. WESS will not overwrite it."
        ) from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temp file, fsync, replace), mode 0600."""
    # dumps, not dump: json.dump encodes in pure Python, dumps in C (~10x faster)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    safefile.write_atomic(path, text.encode("utf-8"))


class SnapshotStorage(Storage):
    """TinyDB storage over one in-memory snapshot of a file; ``flush`` writes it atomically."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._data = load_json_file(self.path)
        self.dirty = False

    def read(self) -> dict[str, dict[str, Any]] | None:
        return self._data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        if self.readonly:
            raise StoreError(f"{self.path} was opened read-only")
        self._data = data
        self.dirty = True

    def flush(self) -> None:
        if self.dirty:
            write_json_atomic(self.path, self._data)
            self.dirty = False

    def close(self) -> None:
        pass


class LockTimeout(Exception):
    """Another process (or another open of the file) holds the lock past the timeout."""


#: flock errors that mean "held by someone else" (some file systems say EACCES).
_CONTENDED = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK}
#: flock errors that mean "no flock on this file system": filelock's fallback then.
_NO_FLOCK = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK}


@contextlib.contextmanager
def file_lock(path: Path, timeout: float, *, remove: bool = False) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` (created if missing, left in place)
    for the block; ``LockTimeout`` when it is still held by another after ``timeout``
    seconds (0: try once). Every call is its own open of the file, so two holders in one
    process exclude each other too.

    POSIX: ``flock`` on the file, the protocol of filelock's Unix lock (the two
    interoperate), at ~5 µs instead of filelock's ~170 µs: a scheduler pass takes a few
    locks per user. Elsewhere, or on a file system without ``flock``: filelock.

    ``remove``: the file is deleted when the lock is released (a lock per user would
    otherwise leave a file per user behind). The holder unlinks it before unlocking, and
    a taker that got the lock on a file no longer at ``path`` opens ``path`` again, so
    two holders never hold two different files of one path.
    """
    fd = _flock(path, timeout, remove=remove) if fcntl is not None else None
    if fd is None:
        lock = filelock.FileLock(str(path), timeout=timeout, thread_local=False)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise LockTimeout(str(path)) from None
        try:
            yield
        finally:
            lock.release()
        return
    try:
        yield
    finally:
        if remove:
            with contextlib.suppress(OSError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _flock(path: Path, timeout: float, *, remove: bool = False) -> int | None:
    """An fd of ``path`` holding its flock; None when the file system has no flock.
    With ``remove``, only the file ``path`` names now: one a holder unlinked while this
    call waited is let go, and ``path`` opened again."""
    deadline = time.monotonic() + max(0.0, timeout)
    for _ in range(1000):
        fd = _flock_once(path, deadline)
        if fd is None or not remove or _still_at(fd, path):
            return fd
        os.close(fd)  # released and removed by its last holder: not contention
    raise LockTimeout(str(path))


def _still_at(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _flock_once(path: Path, deadline: float) -> int | None:
    """``_flock`` on the file ``path`` names now, until ``deadline``."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | safefile.NOFOLLOW | safefile.CLOEXEC, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise safefile.link_error(path) from None
        raise StoreError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    delay = 0.001
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as exc:
                if exc.errno in _NO_FLOCK:
                    os.close(fd)
                    fd = -1
                    return None
                if exc.errno not in _CONTENDED:
                    raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockTimeout(str(path))
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def _thread_lock(path: Path) -> threading.RLock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(str(path), threading.RLock())


class Store:
    """The TinyDB files of one WESS home, by logical name ("users", "state/alice")."""

    #: Names whose paths are remembered (checked and built once: a sync asks for the same
    #: few files many times; pathlib and the name check are ~5 us a call).
    PATH_CACHE_SIZE = 50_000

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self._paths: dict[str, Path] = {}
        self._home_checked = False

    def check_home(self) -> None:
        """Refuse a home (or a folder of it) another user owns or could write, as ssh
        does (``safefile.check_home``); once per Store that found the home, at its first
        file access (a few ``lstat`` calls)."""
        safefile.check_home(self.home)
        self._home_checked = self.home.is_dir()

    def path(self, name: str) -> Path:
        if not self._home_checked:
            self.check_home()
        found = self._paths.get(name)
        if found is None:
            parts = name.split("/")
            for part in parts:
                check_name_part(part)
            found = self.home.joinpath(*parts[:-1], parts[-1] + ".json")
            if len(self._paths) >= self.PATH_CACHE_SIZE:
                self._paths.clear()
            self._paths[name] = found
        return found

    def lock_path(self, name: str) -> Path:
        if not self._home_checked:
            self.check_home()
        return self.home / ".locks" / (name.replace("/", "__") + ".lock")

    @contextlib.contextmanager
    def lock(
        self, name: str, timeout: float = LOCK_TIMEOUT_SECONDS, what: str | None = None
    ) -> Iterator[None]:
        """Hold the inter-process (and inter-thread) lock of one store file (or of
        ``what``, named in the error when it stays held)."""
        lock_file = self.lock_path(name)
        safefile.ensure_dir(lock_file.parent)
        with _thread_lock(lock_file), contextlib.ExitStack() as held:
            try:
                held.enter_context(file_lock(lock_file, timeout))
            except LockTimeout:
                raise StoreError(
                    f"{what or self.path(name)} is locked by another WESS process; "
                    "try again shortly"
                ) from None
            yield

    @contextlib.contextmanager
    def write(self, name: str) -> Iterator[TinyDB]:
        """A write transaction: lock, read once, change through TinyDB, write once.

        If the body raises, nothing is written.
        """
        path = self.path(name)
        with self.lock(name):
            db = TinyDB(path, storage=SnapshotStorage)
            yield db
            db.storage.flush()

    def read(self, name: str) -> TinyDB:
        """A read-only snapshot (no lock needed: writers replace the file atomically)."""
        return TinyDB(self.path(name), storage=SnapshotStorage, readonly=True)

    @contextlib.contextmanager
    def edit(self, name: str, table: str) -> Iterator[dict[str, Any]]:
        """A write transaction on one table's documents as stored (by document id, the
        way TinyDB keeps them): lock, read once, change in place, write once if anything
        changed. If the body raises, nothing is written."""
        path = self.path(name)
        with self.lock(name):
            raw = read_file_bytes(path)
            data = parse_json_bytes(raw, path) if raw is not None else {}
            if not isinstance(data, dict):
                data = {}
            yield data.setdefault(table, {})
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            if text != raw:
                safefile.write_atomic(path, text)

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def remove(self, name: str) -> None:
        with self.lock(name), contextlib.suppress(FileNotFoundError):
            self.path(name).unlink()
