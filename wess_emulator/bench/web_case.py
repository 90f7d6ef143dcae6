"""The ``web`` case: ``wess serve`` answering many concurrent API reads (status, history)
for an account of many users, against the same reads through the service functions in
the same process and run (what the HTTP layer, the session and the JSON add)."""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .measure import ratio
from .wess_side import make_home
from .workspace import Workspace

ADMIN = ("bench-admin", "Bench-Admin-Web-1")
#: One read in this many asks for the whole account's status; the others a user's history.
STATUS_EVERY = 5


def _seed_history(ctx: Any, logins: list[str]) -> None:
    from wess_core.service import history

    for i, login in enumerate(logins):
        history.record(ctx, login, "sync", "3 change(s) to the CRM", seconds=0.2, result={})
        if i % 4 == 0:
            history.record(ctx, login, "error", "sync failed: the server did not answer")


def _serve(home: Path, log_path: Path) -> tuple[subprocess.Popen, str]:
    argv = [sys.executable, "-m", "wess_core.cli", "--home", str(home), "serve", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if k != "WESS_SECRET_KEY"}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line:
        proc.wait(timeout=30)
        raise RuntimeError(f"wess serve exited {proc.returncode}: {log_path.read_text()[-300:]}")
    return proc, json.loads(line)["url"]


def _paths(logins: list[str], count: int) -> list[str]:
    return [
        "/api/status"
        if i % STATUS_EVERY == 0
        else f"/api/users/{logins[i * 7 % len(logins)]}/history"
        for i in range(count)
    ]


def _concurrently(work: Callable[[str], Any], paths: list[str], clients: int) -> dict[str, Any]:
    """Run ``work(path)`` for every path on ``clients`` threads; wall time and latencies."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(path: str) -> None:
        started = time.perf_counter()
        work(path)
        took = time.perf_counter() - started
        with lock:
            latencies.append(took)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, paths))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "wall_s": round(wall, 3),
        "requests_per_s": round(len(paths) / wall, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[math.ceil(0.95 * len(latencies)) - 1] * 1000, 1),
    }


def case_web(space: Workspace) -> dict[str, Any]:
    import requests

    from wess_core.service import Context, history, logins
    from wess_core.service.sync import status

    s = space.sizes
    names = [f"user{i:05d}" for i in range(s.web_users)]
    home = space.home("web")
    ctx = make_home(home, None, names, own_databases=False)
    _seed_history(ctx, names)
    logins.add_admin(Context(home=home), *ADMIN)
    paths = _paths(names, s.web_reads)

    def direct(path: str) -> Any:
        if path == "/api/status":
            return json.dumps(status(ctx))
        return json.dumps(history.entries(ctx, path.split("/")[3]))

    baseline = _concurrently(direct, paths, s.web_clients)
    proc, url = _serve(home, space.workdir / "web-serve.log")
    local = threading.local()
    try:
        login = requests.post(
            url + "api/session", json={"login": ADMIN[0], "password": ADMIN[1]}, timeout=60
        )
        login.raise_for_status()
        cookies = login.cookies

        def over_http(path: str) -> Any:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.cookies.update(cookies)
            answer = session.get(url.rstrip("/") + path, timeout=120)
            answer.raise_for_status()
            return answer.content

        over_http(paths[0])  # one warm-up read: imports and the first connection
        web = _concurrently(over_http, paths, s.web_clients)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    slower = ratio(web["wall_s"], baseline["wall_s"])
    return {
        "sizes": {
            "users": s.web_users,
            "clients": s.web_clients,
            "reads": s.web_reads,
            "status_reads": sum(1 for p in paths if p == "/api/status"),
        },
        "requests": {
            "GET /api/status": sum(1 for p in paths if p == "/api/status"),
            "GET /api/users/LOGIN/history": sum(1 for p in paths if p != "/api/status"),
        },
        **web,
        "baseline": {"what": "the same reads through the service functions, same threads"}
        | baseline,
        "ratio": slower,
        "server_exit": code,
        "target": f"{s.web_clients} concurrent reads answered; <= 3 x the service calls",
        "met": code == 0 and slower is not None and slower <= 3,
    }
