from __future__ import annotations

import threading

import pytest

from cloudwarden.aws.ratelimit import RateLimit, RateLimiter, TokenBucket
from cloudwarden.core.errors import BadInputError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_burst_goes_at_once_then_the_rate_holds() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(rate=10, burst=3), clock=clock, sleep=clock.sleep)
    waits = [bucket.acquire() for _ in range(5)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3] == pytest.approx(0.1) and waits[4] == pytest.approx(0.1)
    assert clock.now == pytest.approx(0.2)  # 5 requests: 3 free, then 10/s
    clock.now += 10  # a long quiet spell refills only up to the burst
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.acquire() == pytest.approx(0.1)


def test_many_threads_never_exceed_the_rate() -> None:
    clock = FakeClock()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            clock.slept.append(seconds)

    bucket = TokenBucket(RateLimit(rate=50, burst=5), clock=clock, sleep=sleep)
    threads = [threading.Thread(target=lambda: [bucket.acquire() for _ in range(20)]) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 100 requests at 50/s after a burst of 5: the last one waits (100 - 5) / 50 seconds
    assert max(clock.slept) == pytest.approx(95 / 50)
    assert bucket.waited == pytest.approx(sum(clock.slept))


def test_buckets_are_per_account_service_region_with_overrides() -> None:
    limiter = RateLimiter(RateLimit(rate=5, burst=5), {"iam": RateLimit(rate=1, burst=1)})
    assert limiter.bucket("1", "ec2", "us-east-1") is limiter.bucket("1", "ec2", "us-east-1")
    assert limiter.bucket("1", "ec2", "us-east-1") is not limiter.bucket("1", "ec2", "eu-west-1")
    assert limiter.bucket("1", "ec2", "us-east-1") is not limiter.bucket("2", "ec2", "us-east-1")
    assert limiter.bucket("1", "iam", "us-east-1").limit.rate == 1


def test_nonsense_limits_are_bad_input() -> None:
    with pytest.raises(BadInputError):
        RateLimit(rate=0)
    with pytest.raises(BadInputError):
        RateLimit(rate=1, burst=0)
