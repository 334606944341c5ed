"""Client-side token buckets, one per (account, service, region): a scan must never starve production.

AWS throttles per account, region and API; a scanner that fans out over dozens of threads can eat the
quota a production workload needs. botocore's adaptive retry mode slows down *after* being throttled;
the bucket here keeps a steady ceiling *before* that happens. It is a reservation bucket: a caller that
finds it empty takes a token on credit and sleeps until that token would have been earned, so waiting
callers are served in arrival order and the long-run rate never exceeds ``rate``.

Hand-written because the two needs (blocking acquire from many threads, an injectable clock for tests)
are twenty lines; the rate-limit libraries on PyPI are asyncio-first or process-shared via Redis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cloudwarden.core.errors import BadInputError


@dataclass(frozen=True)
class RateLimit:
    """Requests per second (sustained) and burst (how many may go at once after a quiet spell)."""

    rate: float = 20.0
    burst: int = 40

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise BadInputError("rate limit", f"rate must be above 0 requests per second, not {self.rate}")
        if self.burst < 1:
            raise BadInputError("rate limit", f"burst must be at least 1, not {self.burst}")


class TokenBucket:
    """A thread-safe token bucket; :meth:`acquire` blocks until a request may go and returns the wait."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(limit.burst)
        self._last = clock()
        self.waited = 0.0

    def acquire(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.limit.burst), self._tokens + (now - self._last) * self.limit.rate)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.limit.rate if self._tokens < 0 else 0.0
            self.waited += wait
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimiter:
    """One :class:`TokenBucket` per key, made on first use; ``overrides`` set a rate per service name."""

    def __init__(self, default: RateLimit | None = None, overrides: dict[str, RateLimit] | None = None) -> None:
        self.default = default or RateLimit()
        self.overrides = dict(overrides or {})
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def bucket(self, account: str, service: str, region: str) -> TokenBucket:
        key = (account, service, region)
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = TokenBucket(self.overrides.get(service, self.default))
            return found

    def total_wait(self) -> float:
        """Seconds callers spent waiting for tokens, summed over every bucket."""
        with self._lock:
            return sum(b.waited for b in self._buckets.values())
