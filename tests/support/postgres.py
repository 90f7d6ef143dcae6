"""A real PostgreSQL server for the tests: ``initdb`` into a temporary folder, started
with ``pg_ctl`` on a free loopback port (its unix socket in the same folder), one
database per test, stopped and removed at the end of the session.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user
(Debian's package creates it) or ``nobody``. A machine without PostgreSQL fails the
tests that need it with the line that installs it (never a skip).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wess_emulator.redis_server import free_port

INSTALL = "apt-get install postgresql (Debian/Ubuntu; .ci/run does it when missing)"
#: The superuser the tests connect as, with a password (URLs carry it, as in production).
SUPERUSER = "wess"


def _bin_dir() -> Path:
    """The folder of ``pg_ctl``/``initdb``: on the PATH, else Debian's versioned one."""
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    for candidate in [shutil.which("initdb"), *debian]:
        if candidate and os.access(candidate, os.X_OK):
            found = Path(candidate).parent
            if (found / "pg_ctl").exists():
                return found
    pytest.fail(f"PostgreSQL is not installed (no initdb/pg_ctl found): {INSTALL}")


def _run_as() -> tuple[list[str], int | None]:
    """The command prefix running a server program, and the uid owning its files."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", "nobody"):
        try:
            uid = pwd.getpwnam(name).pw_uid
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"], uid
    pytest.fail("running as root, and no 'postgres' or 'nobody' user to run PostgreSQL as")


class PostgresServer:
    """One started cluster; ``url(name)`` a database's URL (with its password)."""

    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.prefix, owner = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="wess-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = "pw-" + secrets.token_hex(8)
        self._count = 0
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if owner is not None:
            os.chown(self.root, owner, -1)
            os.chown(pwfile, owner, -1)
        self._run(
            "initdb",
            f"--pgdata={self.data}",
            f"--username={SUPERUSER}",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )
        self.start()

    def _run(self, program: str, *args: str) -> None:
        argv = [*self.prefix, str(self.bin / program), *args]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, check=False)
        if done.returncode != 0:
            log = self.root / "log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}{tail}")

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database's URL."""
        import psycopg

        self._count += 1
        name = f"wess_test_{self._count}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once (as a crash or an outage would)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def start(self) -> None:
        """Start the cluster (again, after ``stop``) on its port."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=300"
        )
        log = str(self.root / "log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def remove(self) -> None:
        pg_ctl = str(self.bin / "pg_ctl")
        stop = [*self.prefix, pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]
        subprocess.run(stop, capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tables' database for one test: the home's SQLite file, or a new PostgreSQL
    database through ``WESS_DATABASE_URL``; the backend's name."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("WESS_DATABASE_URL", server.create_database())
    else:
        monkeypatch.delenv("WESS_DATABASE_URL", raising=False)
    return request.param


@pytest.fixture(params=["memory", "postgresql"])
def world_state(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """``World``s keep their state in memory, or in a new PostgreSQL database (each
    World a user of its own, as the service stores them); the store's name."""
    if request.param == "postgresql":
        from tests.support.sync_world import World
        from wess_core.service import Context

        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("WESS_DATABASE_URL", server.create_database())
        stores = Context(home=tmp_path / "home").stores
        logins = (f"user{n}" for n in itertools.count())
        monkeypatch.setattr(World, "new_state", lambda: stores.sync_state(next(logins)))
    return request.param
