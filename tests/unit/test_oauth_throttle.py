from __future__ import annotations

from runtime.oauth.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_blocks_after_max_failures_until_the_window_passes() -> None:
    clock = Clock()
    throttle = LoginThrottle(3, 60, clock=clock)
    key = ("t", "user@example.com", "10.0.0.1")
    for _ in range(2):
        throttle.failed(key)
        clock.now += 1
    assert throttle.retry_after(key) is None
    throttle.failed(key)
    assert throttle.retry_after(key) == 58
    assert throttle.retry_after(("t", "user@example.com", "10.0.0.2")) is None
    assert throttle.retry_after(("t", "other@example.com", "10.0.0.1")) is None
    clock.now += 58
    assert throttle.retry_after(key) is None


def test_success_clears_the_count() -> None:
    throttle = LoginThrottle(2, 60, clock=Clock())
    key = ("t", "u", "ip")
    throttle.failed(key)
    throttle.succeeded(key)
    throttle.failed(key)
    assert throttle.retry_after(key) is None


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(1, 60, clock=Clock(), max_keys=2)
    for n in range(3):
        throttle.failed(("t", str(n), "ip"))
    assert throttle.retry_after(("t", "0", "ip")) is None
    assert throttle.retry_after(("t", "2", "ip")) == 60
