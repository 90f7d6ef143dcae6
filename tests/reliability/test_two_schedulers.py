"""Two schedulers on one home share the work through per-user locks: never the same
user twice at once, and every user synced by exactly one of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from wess_core.service import Context, accounts, users
from wess_plugins.crm_local import local

pytestmark = pytest.mark.slow

LOGINS = [f"u{i}" for i in range(8)]


def test_two_schedulers_never_sync_one_user_twice(home, ews_server, ews_ca):
    ews_server.set_latency(0.01)
    ctx = Context(home=home)
    accounts.init(ctx)
    accounts.set_module(ctx, True)
    accounts.add_licences(ctx, len(LOGINS))
    accounts.set_connection(
        ctx, ews_url=ews_server.ews_url, ca_bundle=ews_server.ca_cert, verify=False
    )
    for login in LOGINS:
        email = f"{login}@example.com"
        ews_server.add_user(email, "Pw-" + login)
        users.add_user(ctx, login, email)
        users.allocate(ctx, login)
        users.set_sync_enabled(ctx, login, True)
        users.update_user(ctx, login, password="Pw-" + login, database=login, verify=False)
        local.create_database(home, login)
        local.import_records(
            home, login, "people", [{"first_name": f"{login}-{i}"} for i in range(30)]
        )
    env = {**os.environ, "WESS_HOME": str(home)}
    cmd = [sys.executable, "-m", "wess_core.cli", "run", "--once", "--workers", "4", "--json"]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    synced = [login for o in outcomes for login in o["synced"]]
    skipped = [login for o in outcomes for login in o["skipped"]]
    assert not any(o["failed"] for o in outcomes), outcomes
    # each user synced once or, if the other scheduler held them, skipped and synced there
    assert sorted(set(synced)) == sorted(LOGINS)
    for login in LOGINS:
        assert synced.count(login) + skipped.count(login) in (1, 2)
    # never a duplicate: every user's mailbox holds exactly their 30 people
    for login in LOGINS:
        mailbox = ews_server.mailbox(f"{login}@example.com")
        assert len(mailbox.folder("contacts").items) == 30, login
