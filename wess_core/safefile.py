"""Opening files in the WESS home so that nobody else can steer what WESS reads or writes.

The home holds every stored password (encrypted, with the key beside it). As ssh does
with ``~/.ssh`` (StrictModes), WESS refuses a home, or a file in it, that another user
owns or could write, and it never follows a symbolic link inside the home: a link
planted at a file's name would make WESS write a key or a secret where the link points,
or read an attacker's file as its own. Every open of a home file goes through here:

- read: ``O_NOFOLLOW``, then ``fstat`` of the open file (owner, mode, a regular file);
- replace: a temp file with a random name, ``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600,
  fsync, ``rename`` over the target (a rename replaces a link, never follows it; a
  target that is a link is refused first, so it is never silently replaced).

Each refusal is one line naming the path and the fix. The check costs one ``fstat`` of a
file already open (about a microsecond), so the scheduler's frequent reads keep it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from wess_core.errors import StoreError, UnsafeFile

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # a FIFO planted at a name must not hang a read
#: open() errors that mean "the last component is a symbolic link" (Linux: ELOOP; some
#: BSDs: EMLINK; macOS/FreeBSD may say EFTYPE).
_LINK_ERRNOS = {errno.ELOOP, errno.EMLINK, getattr(errno, "EFTYPE", errno.ELOOP)}
_LOOSE = stat.S_IWGRP | stat.S_IWOTH
#: Subfolders of the home WESS creates; checked with the home (links refused too).
HOME_FOLDERS = (".locks", "history", "ledger", "state", "crm")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def check_stat(st: os.stat_result, path: str | Path, what: str = "") -> None:
    """Refuse a file or folder owned by another user (root is trusted) or writable by
    group or others: it could have been swapped or edited behind WESS's back."""
    uid = _euid()
    if uid is None:  # Windows: no POSIX owner/mode to check
        return
    what = what or ("folder" if stat.S_ISDIR(st.st_mode) else "file")
    if st.st_uid not in (uid, 0):
        raise UnsafeFile(
            f"{what} {path} is owned by another user ({_user_name(st.st_uid)}); WESS will not "
            f"use it: check its contents, then run: chown {_user_name(uid)} {path}"
        )
    if st.st_mode & _LOOSE:
        who = (
            "group and others"
            if st.st_mode & _LOOSE == _LOOSE
            else ("others" if st.st_mode & stat.S_IWOTH else "its group")
        )
        raise UnsafeFile(
            f"{what} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"WESS will not use it: check its contents, then run: chmod go-w {path}"
        )


def link_error(path: str | Path) -> UnsafeFile:
    return UnsafeFile(
        f"{path} is a symbolic link; WESS does not follow links in its home: replace it "
        "with the file itself"
    )


def check_home(home: str | Path) -> None:
    """The home and the folders WESS keeps in it: real folders (no links inside the home),
    owned by this user or root, not writable by group or others. A missing home is fine
    (``wess init`` creates it with mode 0700)."""
    base = os.fspath(home)
    try:
        st = os.stat(base)  # the home itself may be a link (e.g. to another disk)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read the WESS home {home}: {exc.strerror}") from None
    check_stat(st, home, "WESS home")
    for name in HOME_FOLDERS:  # plain strings: a Store checks this once, per user sync
        path = os.path.join(base, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise link_error(path)
        if st.st_uid != _euid() and st.st_uid != 0 or st.st_mode & _LOOSE:
            check_stat(st, path)


def ensure_dir(path: Path) -> None:
    """Create ``path`` and its missing parents private to this user (mode 0700 each:
    ``mkdir(parents=True)`` would give the parents the umask's mode)."""
    if os.path.isdir(path):
        return
    if not os.path.isdir(path.parent):
        ensure_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)


def open_checked(path: str | Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` without following a link at ``path``, then the owner/mode check of the
    open file; the fd, or ``FileNotFoundError``/``UnsafeFile``/``OSError``."""
    try:
        fd = os.open(path, flags | NOFOLLOW | CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in _LINK_ERRNOS and os.path.islink(path):
            raise link_error(path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{path} is not a regular file; move it aside")
        check_stat(st, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_with_stat(path: str | Path) -> tuple[bytes, os.stat_result] | None:
    """A home file's bytes and its ``fstat`` (checked, never through a link); ``None``
    when the file does not exist."""
    found = read_held(path)
    if found is None:
        return None
    raw, st, fd = found
    os.close(fd)
    return raw, st


def read_held(path: str | Path) -> tuple[bytes, os.stat_result, int] | None:
    """``read_with_stat`` that leaves the file open: its bytes, its ``fstat`` and the fd
    (the caller's to close). While the fd is open the file's inode cannot be reused, so
    a path that still names that inode names the same file."""
    try:
        fd = open_checked(path, os.O_RDONLY | _NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        parts = []
        want = st.st_size + 1  # one read for the whole file, one to see its end
        while chunk := os.read(fd, want):
            parts.append(chunk)
            want = 1 << 16
        return b"".join(parts), st, fd
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | Path) -> bytes | None:
    """A home file's bytes (checked, never through a link); ``None`` when missing."""
    found = read_with_stat(path)
    return None if found is None else found[0]


def check_existing(path: str | Path) -> None:
    """Refuse ``path`` if it is a link, or a file or folder another user owns or could
    write (before creating, replacing or reading from it); a missing one is fine (one
    ``lstat``)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise link_error(path)
    check_stat(st, path)


def create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new temp file for ``name`` in ``folder``: random name, ``O_EXCL|O_NOFOLLOW``,
    mode 0600 from the start; never an existing file or a link planted at a guessed name."""
    for _ in range(100):
        tmp = folder / f".{name}.{secrets.token_hex(8)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600)
        except FileExistsError:
            continue
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free temp file name", str(folder))


class WriteFailed(StoreError):
    """Writing ``path`` failed with ``reason`` (the OS's words); the file is as it was."""

    def __init__(self, path: str | Path, exc: OSError | str) -> None:
        self.path = path
        self.reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
        super().__init__(f"could not save {path}: {self.reason}; nothing was changed")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace the home file ``path`` with ``data``: temp file (see ``create_temp``),
    fsync, rename, fsync the folder. A crash leaves the old or the new file; a failure
    leaves the old file and no temp file (``WriteFailed``)."""
    ensure_dir(path.parent)
    check_existing(path)
    tmp: Path | None = None
    try:
        fd, tmp = create_temp(path.parent, path.name)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc) from None
        raise
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_database(path: Path, companions: Iterable[str] = ("-journal", "-wal", "-shm")) -> None:
    """Before SQLite opens ``path`` by name: refuse a link (at the file or its journal
    files) and a file another user owns or could write; create a missing one 0600."""
    if not os.path.lexists(path):
        ensure_dir(path.parent)
        with contextlib.suppress(FileExistsError):
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC
            os.close(os.open(path, flags, 0o600))
    check_existing(path)
    for suffix in companions:
        side = Path(f"{path}{suffix}")
        if os.path.islink(side):
            raise link_error(side)
