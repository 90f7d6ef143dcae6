"""Shared fixtures: a fresh WESS home and a way to run the real CLI in-process."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

from tests.support import serving_populated
from tests.support.distributed import cluster  # noqa: F401 (fixture)
from tests.support.postgres import database, postgres_server  # noqa: F401 (fixtures)
from wess_core.cli import cli
from wess_core.service import Context
from wess_emulator.emulator import EmulatorServer
from wess_emulator.pytest_plugin import EWS_PASSWORD, EWS_USER
from wess_plugins.crm_local import local

# Hypothesis profiles. CI must not be a lottery: ``ci`` (chosen whenever ``CI`` is set,
# as ``.ci/run`` does) draws the same examples every run and keeps no example database,
# so a red build is red again on a rerun. ``explore`` looks much further, with a random
# seed: ``pytest tests/sync/test_state_machine.py --hypothesis-profile=explore``
# (``--hypothesis-seed=N`` to replay one); every failure it finds becomes a pinned
# regression test (tests/sync/test_state_machine_regressions.py). ``dev`` is the default.
settings.register_profile("dev")
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    print_blob=True,
    # nor a race against the clock on a shared machine: no deadline, no "too slow"
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore", max_examples=500, derandomize=False, database=None, print_blob=True
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


@pytest.fixture(autouse=True)
def _close_databases():
    """Each test has its own home: close its SQL engine after it (open files stay few)."""
    yield
    from wess_core.tables.engine import close_databases

    close_databases()


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty WESS home; the secret key comes from the key file, not the environment."""
    monkeypatch.delenv("WESS_SECRET_KEY", raising=False)
    monkeypatch.delenv("WESS_HOME", raising=False)
    return tmp_path / "home"


@pytest.fixture
def wess(home: Path) -> Callable[..., Run]:
    """``wess("users", "list", as_="alice", input="...")`` runs the CLI against ``home``."""

    def run(*args: str, as_: str | None = None, input: str | None = None) -> Run:
        argv = ["--home", str(home)]
        if as_:
            argv += ["--as", as_]
        result = CliRunner().invoke(cli, [*argv, *args], input=input, catch_exceptions=False)
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def admin_home(wess) -> Callable[..., Run]:
    """A home with the module active, 3 licences, users alice and bob (alice licensed)."""
    assert wess("init").exit_code == 0
    assert wess("module", "activate").exit_code == 0
    assert wess("licences", "add", "3").exit_code == 0
    assert wess("users", "add", "alice", "--email", "alice@example.com").exit_code == 0
    assert wess("users", "add", "bob", "--email", "bob@example.com").exit_code == 0
    assert wess("users", "allocate", "alice").exit_code == 0
    return wess


@pytest.fixture
def synced_home(admin_home, ews_server):
    wess = admin_home
    result = wess("users", "set", "alice", "--exchange-email", EWS_USER, "--skip-check")
    assert result.exit_code == 0, result.stderr
    trust = ("--ca-bundle", ews_server.ca_cert, "--skip-check")
    result = wess("connection", "set", "--ews-url", ews_server.ews_url, *trust)
    assert result.exit_code == 0, result.stderr
    result = wess("users", "set", "alice", "--password-stdin", input=EWS_PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert wess("users", "enable", "alice").exit_code == 0
    return wess


@pytest.fixture
def emu(ews_ca) -> Iterator[EmulatorServer]:
    """A started emulator with alice, bob, a service account with and one without the
    impersonation role, a redirected address and an OAuth app (``support.populate``),
    serving EWS and Graph."""
    yield from serving_populated(ews_ca)


@pytest.fixture
def mailbox(ews_account):
    """Alice's mailbox as a person (Outlook) would edit it: through exchangelib."""
    from wess_plugins.transport_ews.transport import EwsTransport

    return EwsTransport(connection=None, account=ews_account)


@pytest.fixture
def crm(home):
    """The CRM database alice syncs with."""

    class Crm:
        def add(self, record_type, **fields):
            return local.add_record(home, "main", record_type, fields)["id"]

        def update(self, record_type, record_id, **fields):
            local.update_record(home, "main", record_type, record_id, fields)

        def delete(self, record_type, record_id):
            local.delete_record(home, "main", record_type, record_id)

        def list(self, record_type):
            return local.list_records(home, "main", record_type)

        def ctx(self):
            return Context(home=home)

    return Crm()
