"""The broker's gauges on ``/metrics`` (real ``wess serve`` and ``wess worker`` processes,
a real redis-server): the queue the beat filled, the worker holding a task and a slot of
its server, and a scrape that still answers, with ``wess_broker_up 0``, when Redis is down;
no password of the broker URL and no service-account login anywhere."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support import scheduled_home
from tests.support.metrics import samples, value
from tests.support.web import start_server
from wess_core.service.broker_metrics import server_label

pytestmark = pytest.mark.slow

LOGINS = ["u0", "u1", "u2", "u3"]
BROKER_PW = "Broker-Pw-5ecret!"
WRONG_PW = "Wrong-Pw-5ecret"


def _scrape(url: str) -> str:
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def _until(url: str, wanted: Callable[[str], bool], seconds: float = 60) -> str:
    """Scrape ``url`` until ``wanted(text)``; the last text (asserted)."""
    deadline = time.monotonic() + seconds
    text = _scrape(url)
    while not wanted(text) and time.monotonic() < deadline:
        time.sleep(0.1)
        text = _scrape(url)
    assert wanted(text), text
    return text


def test_serve_and_a_worker_show_the_queue_and_answer_without_redis(
    home, ews_server, cluster, redis_server, tmp_path, monkeypatch
):
    scheduled_home(home, ews_server, LOGINS, cap=2)
    monkeypatch.setenv("WESS_BROKER_URL", redis_server.url)
    serve = start_server(home, tmp_path / "serve.log")
    try:
        serve_url = serve.url + "metrics"
        text = _scrape(serve_url)
        assert value(text, "wess_broker_up") == 1
        assert value(text, "wess_broker_workers_alive") == 0
        assert value(text, "wess_broker_queue_waiting") == 0

        beat = cluster.spawn("run", "--executor", "celery", "--once", "--json")
        text = _until(
            serve_url,
            lambda t: value(t, "wess_broker_queue_waiting", priority="scheduled") == 4,
        )
        assert value(text, "wess_broker_queue_waiting", priority="sync_now") == 0
        assert value(text, "wess_broker_queue_held") == 0

        ews_server.set_latency(0.5)  # a sync takes seconds: the worker is caught holding one
        cluster.start_worker(1, "threads", "--metrics-port", "0")
        found = re.search(r'\{"metrics_url".*\}', cluster.worker_log())
        worker_url = json.loads(found.group(0))["metrics_url"]
        server = f"127.0.0.1:{urlsplit(ews_server.ews_url).port}"
        text = _until(
            worker_url,
            lambda t: value(t, "wess_broker_server_slots_in_use", server=server) == 1,
        )
        assert value(text, "wess_broker_workers_alive") == 1
        assert value(text, "wess_broker_queue_held") >= 1
        assert value(text, "wess_broker_queue_waiting", priority="scheduled") <= 3
        assert value(text, "wess_broker_server_slots_cap", server=server) == 2
        servers = {s[1]["server"] for s in samples(text) if "server" in s[1]}
        assert servers == {server}
        _until(serve_url, lambda t: value(t, "wess_broker_workers_alive") == 1)

        ews_server.set_latency(0)
        out, err = beat.communicate(timeout=120)
        assert json.loads(out)["synced"] == LOGINS, err
        text = _until(worker_url, lambda t: value(t, "wess_syncs_total", outcome="synced") == 4)
        assert value(text, "wess_broker_queue_waiting") == 0

        redis_server.kill()
        for url in (worker_url, serve_url):
            text = _scrape(url)
            assert value(text, "wess_broker_up") == 0, url
            assert "wess_broker_queue_waiting" not in text
        assert value(_scrape(worker_url), "wess_syncs_total", outcome="synced") == 4
    finally:
        assert serve.stop() == 0, serve.log()


def test_no_broker_password_in_the_exposition_or_the_log(
    home, ews_server, redis_server, tmp_path, monkeypatch
):
    from wess_core.distributed.broker import redis_client

    scheduled_home(home, ews_server, LOGINS[:1], cap=2)
    redis_client(redis_server.url).config_set("requirepass", BROKER_PW)
    url = redis_server.url.replace("redis://", f"redis://:{BROKER_PW}@")
    monkeypatch.setenv("WESS_BROKER_URL", url)
    serve = start_server(home, tmp_path / "serve.log")
    try:
        good = _scrape(serve.url + "metrics")
        assert value(good, "wess_broker_up") == 1
        monkeypatch.setenv("WESS_BROKER_URL", url.replace(BROKER_PW, WRONG_PW))
        refused = start_server(home, tmp_path / "refused.log")
        try:
            bad = _scrape(refused.url + "metrics")
            assert value(bad, "wess_broker_up") == 0
        finally:
            assert refused.stop() == 0, refused.log()
    finally:
        assert serve.stop() == 0, serve.log()
    for text in (good, bad, serve.log(), refused.log()):
        assert BROKER_PW not in text
        assert WRONG_PW not in text


def test_a_server_label_is_the_host_without_the_service_account() -> None:
    assert server_label("mail.example.com:443 as svc@example.com") == "mail.example.com:443"
    assert server_label("autodiscover:example.com") == "autodiscover:example.com"
    assert server_label("[::1]:8443") == "[::1]:8443"
    assert server_label('evil"} 1\nwess_x{a="') == "other"
