"""The log-in throttle on its own: a sliding window per key, in bounded memory."""

from __future__ import annotations

from wess_web.throttle import Limit, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_held_back_after_its_failures_until_the_window_passes():
    clock = Clock()
    throttle = Throttle(Limit(failures=3, window=60), clock=clock)
    for _ in range(2):
        throttle.failed("alice")
    assert throttle.retry_after("alice") == 0
    throttle.failed("alice")
    assert throttle.retry_after("alice") == 60
    assert throttle.retry_after("bob") == 0
    clock.now += 59
    assert throttle.retry_after("alice") == 1
    clock.now += 1
    assert throttle.retry_after("alice") == 0


def test_success_clears_a_key():
    throttle = Throttle(Limit(failures=2, window=60))
    throttle.failed("alice")
    throttle.succeeded("alice")
    throttle.failed("alice")
    assert throttle.retry_after("alice") == 0


def test_memory_is_bounded_by_forgetting_the_oldest_keys():
    throttle = Throttle(Limit(failures=1, window=60), max_keys=100)
    for n in range(10_000):
        throttle.failed(f"login{n}")
    assert len(throttle) == 100
    assert throttle.retry_after("login9999") > 0
    assert throttle.retry_after("login0") == 0
