"""TinyDB files under the WESS home, written atomically under an inter-process lock.

Each store file is a TinyDB JSON document. A write transaction takes the file's
lock, reads the file once, lets the caller change it through TinyDB, and writes
it back once: temp file in the same folder, fsync, ``os.replace``. A crash at
any point leaves either the old or the new file, never a half-written one.

A file that is not valid JSON is never overwritten: every access raises
``StoreCorrupt`` naming the file until a person repairs or moves it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import filelock
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Table

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


class _IntKeys(MutableMapping):
    """A stored (string-keyed) TinyDB table seen with integer document ids, not copied."""

    __slots__ = ("raw", "id_class")

    def __init__(self, raw: dict[str, Any], id_class: Callable[[str], Any]) -> None:
        self.raw = raw
        self.id_class = id_class

    def __getitem__(self, doc_id: Any) -> Any:
        return self.raw[str(doc_id)]

    def __setitem__(self, doc_id: Any, doc: Any) -> None:
        self.raw[str(doc_id)] = doc

    def __delitem__(self, doc_id: Any) -> None:
        del self.raw[str(doc_id)]

    def __contains__(self, doc_id: object) -> bool:
        return str(doc_id) in self.raw

    def __iter__(self) -> Iterator[Any]:
        return (self.id_class(k) for k in self.raw)

    def __len__(self) -> int:
        return len(self.raw)


class _Table(Table):
    """TinyDB's table, but a write costs O(documents written), not O(table size).

    TinyDB copies the whole table twice per insert/update/remove (to convert ids to int
    and back), which makes a batch of writes quadratic; here the updater works on the
    stored dict through an integer-keyed view. Same documents, same order, same ids.
    """

    def _update_table(self, updater: Callable[[Any], None]) -> None:
        tables = self._storage.read()
        if tables is None:
            tables = {}
        raw = tables.get(self.name)
        if raw is None:
            raw = {}
        updater(_IntKeys(raw, self.document_id_class))
        tables[self.name] = raw
        self._storage.write(tables)
        self.clear_cache()


class _TinyDB(TinyDB):
    table_class = _Table


class LockTimeout(Exception):
    """Another process (or another open of the file) holds the lock past the timeout."""


#: flock errors that mean "held by someone else" (some file systems say EACCES).
_CONTENDED = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK}
#: flock errors that mean "no flock on this file system": filelock's fallback then.
_NO_FLOCK = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK}


@contextlib.contextmanager
def file_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive inter-process lock on ``path`` (created if missing, left in place)
    for the block; ``LockTimeout`` when it is still held by another after ``timeout``
    seconds (0: try once). Every call is its own open of the file, so two holders in one
    process exclude each other too.

    POSIX: ``flock`` on the file, the protocol of filelock's Unix lock (the two
    interoperate), at ~5 µs instead of filelock's ~170 µs: a scheduler pass takes a few
    locks per user. Elsewhere, or on a file system without ``flock``: filelock.
    """
    fd = _flock(path, timeout) if fcntl is not None else None
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
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _flock(path: Path, timeout: float) -> int | None:
    """An fd of ``path`` holding its flock; None when the file system has no flock."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | safefile.NOFOLLOW | safefile.CLOEXEC, 0o600)
    except OSError as exc:
        if os.path.islink(path):
            raise safefile.link_error(path) from None
        raise StoreError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    deadline = time.monotonic() + max(0.0, timeout)
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


def _line(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class Store:
    """The TinyDB files of one WESS home, by logical name ("users", "state/alice")."""

    #: Names whose paths are remembered (checked and built once: a sync asks for the same
    #: few files many times; pathlib and the name check are ~5 us a call).
    PATH_CACHE_SIZE = 50_000

    def __init__(self, home: str | Path) -> None:
        self.home = Path(home)
        self._paths: dict[str, Path] = {}
        self._journals: dict[str, Path] = {}
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
            db = _TinyDB(path, storage=SnapshotStorage)
            yield db
            db.storage.flush()

    def read(self, name: str) -> TinyDB:
        """A read-only snapshot (no lock needed: writers replace the file atomically)."""
        return _TinyDB(self.path(name), storage=SnapshotStorage, readonly=True)

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def remove(self, name: str) -> None:
        with self.lock(name):
            for path in (self.path(name), self.journal_path(name)):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    # -- journals: append-only companions of a store file ----------------------------
    #
    # A file that changes a little at a time (a sync's status table, the ledger) keeps
    # its changes in ``<name>.journal``: one JSON line per write, appended and fsynced
    # under the file's lock, so a write costs what it changes, not the file's size. A
    # line is complete only with its newline: a process killed mid-append leaves a torn
    # last line, which readers skip and the next append cuts off. The owner tags lines
    # with the snapshot's generation and folds them into the snapshot now and then
    # (``compact``-style: a new snapshot with a new generation, then the journal is
    # removed; lines of an older generation left by a crash in between are ignored).

    def journal_path(self, name: str) -> Path:
        found = self._journals.get(name)
        if found is None:
            path = self.path(name)
            found = path.with_name(path.name[: -len(".json")] + ".journal")
            if len(self._journals) >= self.PATH_CACHE_SIZE:
                self._journals.clear()
            self._journals[name] = found
        return found

    def read_journal(self, name: str) -> list[Any]:
        """The journal's complete lines, oldest first (``[]`` when there is none)."""
        path = self.journal_path(name)
        raw = safefile.read_bytes(path)
        if raw is None:
            return []
        lines = raw.split(b"\n")
        lines.pop()  # after the last newline: nothing, or a line torn by a crash
        out = []
        for number, line in enumerate(lines, 1):
            try:
                out.append(json.loads(line))
            except (ValueError, UnicodeDecodeError) as exc:
                raise StoreCorrupt(
                    f"{path} is corrupt (line {number}: {str(exc).splitlines()[0]}); "
                    "restore it from a backup or move it aside. WESS will not overwrite it."
                ) from None
        return out

    def append_journal(self, name: str, lines: list[Any]) -> int:
        """Append ``lines`` (JSON values) and fsync; the caller holds ``lock(name)``.
        Returns the journal's size in bytes. On failure nothing was appended."""
        path = self.journal_path(name)
        data = b"".join(_line(value) for value in lines)
        fd = safefile.open_append(path)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn line: cut it off
                whole = os.pread(fd, size, 0)
                size = whole.rfind(b"\n") + 1
                os.ftruncate(fd, size)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)
                raise StoreError(
                    f"could not save {path}: {exc.strerror or exc}; nothing was changed"
                ) from None
        finally:
            os.close(fd)
        if size == 0:
            safefile.fsync_dir(path.parent)
        return size + len(data)

    def drop_journal(self, name: str) -> None:
        """Remove the journal (after its lines were folded into a new snapshot)."""
        with contextlib.suppress(FileNotFoundError):
            self.journal_path(name).unlink()

    #: The snapshot's table that holds its generation (document "1": ``{"gen": ...}``).
    GEN_TABLE = "journal"

    def signature(self, name: str) -> tuple[int, int, int] | None:
        """The file's (inode, mtime, size), ``None`` when missing: a fold replaces the
        file, so a changed signature means a new snapshot."""
        try:
            st = os.stat(self.path(name))
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def read_generation(self, name: str, table: str) -> tuple[list[Any], str, list[Any]]:
        """A journaled file as stored: the snapshot's documents of ``table``, its
        generation ("" when it has none) and the journal lines of that generation (older
        ones were left by a crash between a fold and the journal's removal);
        ``([], "", [])`` when there is no snapshot."""
        raw = load_json_file(self.path(name))
        if not isinstance(raw, dict):
            return [], "", []
        gen = str(((raw.get(self.GEN_TABLE) or {}).get("1") or {}).get("gen", ""))
        docs = list((raw.get(table) or {}).values())
        lines = [line for line in self.read_journal(name) if line.get("g") == gen]
        return docs, gen, lines

    def write_generation(self, name: str, table: str, docs: Iterable[Any]) -> str:
        """Fold: a new snapshot of ``docs`` under a new generation (written first, so it
        can be read from the file's first bytes), then the journal is dropped; returns
        the generation. The caller holds ``lock(name)``."""
        gen = secrets.token_hex(6)
        raw = {
            self.GEN_TABLE: {"1": {"gen": gen}},
            table: {str(n): doc for n, doc in enumerate(docs, 1)},
        }
        write_json_atomic(self.path(name), raw)
        self.drop_journal(name)
        return gen
