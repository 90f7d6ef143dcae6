"""``wess keys rotate`` racing secret writes (issue 13, section 4): all or nothing, under
the home's secrets lock; no password is ever stored under a key a rotation drops."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from cryptography.fernet import Fernet

from tests.support import plugin_storage_rows
from wess_core.plugin_storage import HomeStorage
from wess_core.secrets import KEY_FILE_NAME, SecretBox, load_keys
from wess_core.service import Context, users
from wess_core.service.keys import rotate_keys
from wess_core.store import Store

WESS = [sys.executable, "-m", "wess_core.cli"]


def _stored(home):
    """Every encrypted value of the home (its files, or ``WESS_DATABASE_URL``'s
    database): {(store, login or field): token}."""
    found = {}
    stores = Context(home=home).stores
    for row in stores.table_documents("users", "users").values():
        if row.get("password"):
            found[("users", row["login"])] = row["password"]
    account = next(iter(stores.table_documents("account", "account").values()))
    for strategy, tokens in (account.get("strategy_secrets") or {}).items():
        for key, token in tokens.items():  # e.g. the impersonation password
            found[("account", f"{strategy}_{key}")] = token
    for (plugin, _owner, key), token in plugin_storage_rows(home).items():
        found[("plugin_storage", f"{plugin}/{key}")] = token  # e.g. the oauth token cache
    return found


def _decrypt_all(home):
    box = SecretBox(load_keys(home))
    return {key: box.decrypt(token) for key, token in _stored(home).items()}


def _set_password(wess, login, secret):
    result = wess("users", "set", login, "--password-stdin", "--no-verify", input=secret + "\n")
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture
def secrets_home(admin_home, home):
    _set_password(admin_home, "alice", "alice-pw")
    _set_password(admin_home, "bob", "bob-pw")
    service_account = ("--impersonation-user", "svc@example.com", "--password-stdin")
    result = admin_home("connection", "set", *service_account, "--no-verify", input="svc-pw\n")
    assert result.exit_code == 0, result.stderr
    return admin_home


EXPECTED = {
    ("users", "alice"): "alice-pw",
    ("users", "bob"): "bob-pw",
    ("account", "impersonation_password"): "svc-pw",
}


def _cache_token(home):
    HomeStorage(home, "oauth").set("k", b"tok", secret=True)  # as the oauth plugin does


#: How the plugin storage keeps the bytes b"tok" (base64, then encrypted).
TOK = base64.b64encode(b"tok").decode()


@pytest.mark.usefixtures("database")
def test_rotation_reencrypts_every_encrypted_store(secrets_home, home):
    _cache_token(home)
    before = _stored(home)
    assert secrets_home("keys", "rotate").exit_code == 0
    after = _stored(home)
    assert set(after) == set(before) and all(after[k] != before[k] for k in before)
    assert _decrypt_all(home) == {**EXPECTED, ("plugin_storage", "oauth/k"): TOK}
    assert len((home / KEY_FILE_NAME).read_text().split()) == 1


def test_a_failed_rotation_writes_nothing_and_says_so(secrets_home, home):
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with Store(home).write("users") as db:  # bob's password under a key nobody has
        table = db.table("users")
        table.update(
            {"password": foreign}, doc_ids=[r.doc_id for r in table.all() if r["login"] == "bob"]
        )
    _cache_token(home)
    names = (KEY_FILE_NAME, "account.json", "users.json")
    before = {name: (home / name).read_bytes() for name in names}
    stored = plugin_storage_rows(home)
    result = secrets_home("keys", "rotate")
    assert result.exit_code == 1
    assert {name: (home / name).read_bytes() for name in names} == before
    assert plugin_storage_rows(home) == stored
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nothing was rotated" in lines[0], result.stderr
    assert str(home / "users.json") in lines[0]


@pytest.mark.usefixtures("database")
def test_two_rotations_at_once_both_succeed(secrets_home, home):
    runs = [
        subprocess.Popen(
            [*WESS, "--home", str(home), "keys", "rotate"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(6)
    ]
    errors = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    assert all(code == 0 for code, _ in errors), errors
    assert _decrypt_all(home) == EXPECTED
    assert len((home / KEY_FILE_NAME).read_text().split()) == 1
    assert not [p for p in home.rglob("*.tmp")]


def test_a_running_process_reads_secrets_rotated_meanwhile(secrets_home, home):
    ctx = Context(home=home)
    token = _stored(home)[("users", "alice")]
    assert ctx.secrets.decrypt(token) == "alice-pw"  # the box now holds the old key only
    assert secrets_home("keys", "rotate").exit_code == 0
    assert ctx.secrets.decrypt(_stored(home)[("users", "alice")]) == "alice-pw"


# -- the race: rotation against password writes, 200 rounds -----------------------------

ROTATOR = textwrap.dedent(
    """
    import sys
    from wess_core.service import Context, keys
    home, rounds, done = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    for _ in range(rounds):
        keys.rotate_keys(Context(home=home))
    open(done, "w").close()
    """
)

WRITER = textwrap.dedent(
    """
    import os, sys
    from wess_core.service import Context, users
    home, login, done = sys.argv[1], sys.argv[2], sys.argv[3]
    n = 0
    while not os.path.exists(done) or n < 2:
        n += 1
        users.update_user(Context(home=home), login, password=f"{login}-{n}", verify=False)
    print(f"{login}-{n}")
    """
)


def test_200_rotations_racing_password_writes_in_processes_lose_nothing(secrets_home, home):
    """Three processes: one rotates 200 times, two write passwords meanwhile (a fresh
    context each time, like separate commands); afterwards every stored secret
    decrypts with the final key and each user's password is the one written last."""
    done = str(home.parent / "rotations-done")
    rotator = subprocess.Popen([sys.executable, "-c", ROTATOR, str(home), "200", done])
    writers = {
        login: subprocess.Popen(
            [sys.executable, "-c", WRITER, str(home), login, done],
            stdout=subprocess.PIPE,
            text=True,
        )
        for login in ("alice", "bob")
    }
    assert rotator.wait(timeout=300) == 0
    last = {}
    for login, proc in writers.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        last[login] = out.strip()
    assert _decrypt_all(home) == {
        **EXPECTED,
        ("users", "alice"): last["alice"],
        ("users", "bob"): last["bob"],
    }
    assert len((home / KEY_FILE_NAME).read_text().split()) == 1


@pytest.mark.slow
def test_rotations_racing_password_writes_in_threads_lose_nothing(secrets_home, home):
    """The same race between threads of one process (the thread half of the lock); slow:
    the writers take the lock back at once, so the 200 rotations wait their turn (~9 s)."""
    stop = threading.Event()
    last: dict[str, str] = {}
    failures: list[BaseException] = []

    def write(login):
        n = 0
        try:
            while not stop.is_set() or n < 2:
                n += 1
                users.update_user(Context(home=home), login, password=f"{login}-{n}", verify=False)
                last[login] = f"{login}-{n}"
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(login,)) for login in ("alice", "bob")]
    for thread in threads:
        thread.start()
    try:
        for _ in range(200):
            rotate_keys(Context(home=home))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    assert _decrypt_all(home) == {
        **EXPECTED,
        ("users", "alice"): last["alice"],
        ("users", "bob"): last["bob"],
    }


@pytest.mark.slow
def test_wess_keys_rotate_racing_wess_users_set_loses_nothing(secrets_home, home):
    """Real ``wess`` commands: ``keys rotate`` over and over while ``users set
    --password-stdin`` runs over and over beside it (each a new process, so their
    critical sections meet at every offset); every command succeeds (a rotation meeting a
    password stored under a dropped key would fail) and the last password decrypts."""
    env = {**os.environ, "WESS_HOME": str(home)}
    env.pop("WESS_SECRET_KEY", None)
    deadline = time.monotonic() + 40
    stop = threading.Event()
    failures: list[str] = []
    counts = {"rotations": 0}

    def run(argv, secret=None):
        out = subprocess.run(
            [*WESS, *argv], input=secret, env=env, capture_output=True, text=True, timeout=60
        )
        if out.returncode != 0:
            failures.append(out.stderr)
            stop.set()

    def rotate():
        while not stop.is_set() and counts["rotations"] < 100 and time.monotonic() < deadline:
            run(["keys", "rotate"])
            counts["rotations"] += 1
        stop.set()

    last: dict[str, str] = {}

    def write(login):
        n = 0
        while not stop.is_set():
            n += 1
            argv = ["users", "set", login, "--password-stdin", "--no-verify"]
            run(argv, f"{login}-{n}\n")
            last[login] = f"{login}-{n}"

    threads = [threading.Thread(target=rotate)]
    threads += [threading.Thread(target=write, args=(login,)) for login in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert counts["rotations"] >= 20, counts
    assert _decrypt_all(home) == {
        **EXPECTED,
        ("users", "alice"): last["alice"],
        ("users", "bob"): last["bob"],
    }
