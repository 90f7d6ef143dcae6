"""Several machines: two ``wess worker`` processes, the beat and a Sync Now each on a
WESS home of their own (no shared disk), sharing only one PostgreSQL database
(``WESS_DATABASE_URL``), one Redis and the secret key (``WESS_SECRET_KEY``). The admin
sets the deployment up through the CLI on a fifth home."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support import scheduled_home
from tests.support.distributed import assert_converged, overlapping, sync_entries
from wess_core.service import accounts

pytestmark = pytest.mark.slow

USERS = 40
PEOPLE = 3


@pytest.fixture
def machines(
    home: Path, tmp_path: Path, postgres_server, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Path]:
    """The homes of the admin (``home``), two workers, the beat and a Sync Now, on one
    database and one key (the test process reads the database through the same
    variables; after ``home``, which clears them)."""
    monkeypatch.setenv("WESS_DATABASE_URL", postgres_server.create_database())
    monkeypatch.setenv("WESS_SECRET_KEY", Fernet.generate_key().decode("ascii"))
    monkeypatch.delenv("WESS_HOME", raising=False)
    others = {name: tmp_path / name for name in ("w0", "w1", "beat", "desk")}
    return {"admin": home, **others}


def _admin(cluster, home: Path, *argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*_cli(), *argv],
        env=cluster.env_of(home),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def _cli() -> list[str]:
    import sys

    return [sys.executable, "-m", "wess_core.cli"]


def _set_up(cluster, home: Path, server, logins: list[str], tmp_path: Path) -> None:
    """The account and ``logins`` through the CLI, as an admin would: each user's own
    Exchange password (encrypted with the shared key), one CRM database per user with
    ``PEOPLE`` people."""
    for login in logins:
        server.add_user(f"{login}@example.com", "Pw-" + login)
    _admin(cluster, home, "init")
    _admin(cluster, home, "module", "activate")
    _admin(cluster, home, "licences", "add", str(len(logins)))
    _admin(cluster, home, "config", "set", "throttle_cap", "32")
    _admin(
        cluster,
        home,
        "connection",
        "set",
        "--ews-url",
        server.ews_url,
        "--ca-bundle",
        str(server.ca_cert),
        "--skip-check",
    )
    rows = [{"login": u, "email": f"{u}@example.com", "database": u} for u in logins]
    users = tmp_path / "users.json"
    users.write_text(json.dumps(rows))
    _admin(cluster, home, "users", "import", str(users), "--allocate", "--enable")

    def one_user(login: str) -> None:
        password = ("users", "set", login, "--password-stdin", "--skip-check")
        _admin(cluster, home, *password, stdin="Pw-" + login + "\n")
        people = tmp_path / f"{login}.json"
        people.write_text(json.dumps([{"first_name": f"{login}-{i}"} for i in range(PEOPLE)]))
        _admin(cluster, home, "crm", "import", "people", str(people), "--database", login)

    with ThreadPoolExecutor(4) as pool:  # an admin's script, four at a time
        list(pool.map(one_user, logins))


def _files(home: Path) -> set[str]:
    return {str(p.relative_to(home)) for p in home.rglob("*") if p.is_file()}


def test_workers_on_homes_of_their_own_share_only_the_database(
    machines, ews_server, cluster, tmp_path
):
    logins = [f"u{i}" for i in range(USERS)]
    started = time.monotonic()
    _set_up(cluster, machines["admin"], ews_server, logins, tmp_path)
    print(f"set-up of {USERS} users through the CLI: {time.monotonic() - started:.1f} s")
    cluster.start_worker(concurrency=4, home=machines["w0"])
    cluster.start_worker(concurrency=4, home=machines["w1"])
    beat = cluster.wess(
        "run", "--executor", "celery", "--once", "--json", env=cluster.env_of(machines["beat"])
    )
    assert beat.returncode == 0, (beat.stderr, cluster.worker_log())
    outcome = json.loads(beat.stdout)
    assert outcome["synced"] == sorted(logins), (outcome, cluster.worker_log())
    assert outcome["failed"] == {} and outcome["skipped"] == {}
    home = machines["admin"]
    assert_converged(home, ews_server, logins, PEOPLE)
    for login in logins:
        assert len(sync_entries(home, login)) == 1, login
        assert ews_server.peak_in_flight(f"{login}@example.com") == 1, login

    # Sync Now from a machine that ran nothing yet, of a record the admin just added
    _admin(cluster, home, "crm", "add", "people", "first_name=u0-new", "--database", "u0")
    now = cluster.wess("sync", "u0", "--json", env=cluster.env_of(machines["desk"]))
    assert now.returncode == 0, (now.stdout, now.stderr, cluster.worker_log())
    given = {i.field_text("GivenName") for i in _contacts(ews_server, "u0")}
    assert "u0-new" in given
    assert len(sync_entries(home, "u0")) == 2

    # the store is all in the database: nothing written into the other machines' homes
    for name in ("w0", "w1", "beat", "desk"):
        assert _files(machines[name]) == set(), name


def test_a_worker_killed_mid_run_on_its_own_machine_loses_nobody(
    machines, ews_server, cluster, tmp_path
):
    logins = [f"u{i}" for i in range(USERS)]
    home = machines["admin"]
    ctx = scheduled_home(home, ews_server, logins, cap=32, people=PEOPLE)  # the CLI's calls
    accounts.set_setting(ctx, "worker_lost_seconds", "4")
    ews_server.set_latency(0.05)  # a sync takes about a second: the kill lands mid-sync
    cluster.start_worker(concurrency=4, home=machines["w0"])
    cluster.start_worker(concurrency=4, home=machines["w1"])
    beat = cluster.spawn("run", "--executor", "celery", "--once", "--json", home=machines["beat"])
    deadline = time.monotonic() + 60
    while not ews_server.counts.get("SyncFolderItems") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)
    cluster.workers[0].send_signal(signal.SIGKILL)
    out, err = beat.communicate(timeout=240)
    assert beat.returncode == 0, err
    assert json.loads(out)["synced"] == sorted(logins), cluster.worker_log()
    ews_server.set_latency(0)
    assert_converged(home, ews_server, logins, PEOPLE)  # once each: no duplicates
    for login in logins:
        assert ews_server.peak_in_flight(f"{login}@example.com") == 1, login
        assert not overlapping(sync_entries(home, login)), login
    for name in ("w0", "w1", "beat"):  # the killed worker left no run lock behind
        assert _files(machines[name]) == set(), name


def _contacts(server, login: str) -> list:
    return list(server.mailbox(f"{login}@example.com").folder("contacts").items.values())
