"""The tests' redis-server: it answers, forgets on restart without persistence, and keeps
its port across a restart (the Redis-outage tests rely on that)."""

import redis


def test_redis_server_answers_and_restarts_on_its_port(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    port = redis_server.port
    redis_server.restart()
    assert redis_server.port == port
    assert redis.Redis.from_url(redis_server.url).get("k") is None  # no persistence


def test_missing_redis_server_is_one_line_with_the_install(monkeypatch):
    import shutil

    import pytest

    from wess_emulator.redis_server import RedisMissing, RedisServer

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RedisMissing, match="apt-get install redis-server"):
        RedisServer()
