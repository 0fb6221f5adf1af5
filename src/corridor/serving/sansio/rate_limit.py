"""Per-key token buckets: ``requests_per_s`` sustained, bursts up to ``burst``. No I/O, no clock.

Interface (the caller passes the time, e.g. ``time.monotonic()``)::

    limiter = RateLimiter.from_spec(spec.rate_limit)      # or RateLimiter(50.0, burst=100)
    if not limiter.allow(token_id, now_s):
        raise TooManyRequests(f"... retry in {limiter.retry_after_s(token_id, now_s):.2f} s")

Invariant: over any interval of ``t`` seconds one key is allowed at most
``burst + requests_per_s * t`` requests. A key's bucket holds ``tokens`` (at most ``burst``)
and the time it was last refilled; a request takes one token.

Cost: ``allow`` is O(1) (amortised): one dict lookup, a refill by arithmetic, and a sweep
of at most two least-recently-used keys. Memory is bounded: a key idle long enough for its
bucket to be full again is indistinguishable from an unknown key, so it is dropped by that
sweep; and past ``max_keys`` the least recently used key is dropped even if not yet full
(it then starts again with a full bucket — generous, never stricter than configured).
"""

from __future__ import annotations

from collections import OrderedDict

from corridor.errors import InvalidInput
from corridor.serving.spec import RateLimit

_SWEEP_PER_CALL = 2


class RateLimiter:
    """One token bucket per key, all with the same rate and burst."""

    def __init__(self, requests_per_s: float, burst: int = 0, *, max_keys: int = 100_000) -> None:
        if requests_per_s <= 0:
            raise InvalidInput(f"requests_per_s must be positive, not {requests_per_s}")
        if burst < 0:
            raise InvalidInput(f"burst must be 0 (one second's worth) or more, not {burst}")
        if max_keys < 1:
            raise InvalidInput(f"max_keys must be at least 1, not {max_keys}")
        self.requests_per_s = float(requests_per_s)
        # burst 0: one second's worth, and always room for at least one request.
        self.burst = float(burst) if burst > 0 else max(1.0, self.requests_per_s)
        self.max_keys = max_keys
        self._refill_s = self.burst / self.requests_per_s  # empty -> full
        # key -> [tokens, refilled_at_s]; least recently used first.
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    @classmethod
    def from_spec(cls, spec: RateLimit, *, max_keys: int = 100_000) -> RateLimiter:
        return cls(spec.requests_per_s, spec.burst, max_keys=max_keys)

    def __len__(self) -> int:
        """The number of keys tracked now (idle, full buckets are dropped)."""
        return len(self._buckets)

    def allow(self, key: str, now_s: float) -> bool:
        """Take one token from ``key``'s bucket; False (and nothing taken) when it is empty."""
        bucket = self._bucket(key, now_s)
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return True
        return False

    def retry_after_s(self, key: str, now_s: float) -> float:
        """Seconds until ``key`` may send one request (0.0: it may now). Takes nothing."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = self._refilled(bucket, now_s)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.requests_per_s

    def _refilled(self, bucket: list[float], now_s: float) -> float:
        elapsed = now_s - bucket[1]
        if elapsed <= 0:  # a clock that went backwards refills nothing
            return bucket[0]
        return min(self.burst, bucket[0] + elapsed * self.requests_per_s)

    def _bucket(self, key: str, now_s: float) -> list[float]:
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = [self.burst, now_s]
            if len(buckets) > self.max_keys:
                buckets.popitem(last=False)
        else:
            bucket[0] = self._refilled(bucket, now_s)
            bucket[1] = max(bucket[1], now_s)
            buckets.move_to_end(key)
        self._sweep(now_s)
        return bucket

    def _sweep(self, now_s: float) -> None:
        """Drop up to two least recently used keys whose buckets are full again."""
        buckets = self._buckets
        for _ in range(_SWEEP_PER_CALL):
            oldest_key = next(iter(buckets), None)
            if oldest_key is None:
                return
            tokens, refilled_at_s = buckets[oldest_key]
            if now_s - refilled_at_s < (self.burst - tokens) / self.requests_per_s or (
                now_s <= refilled_at_s
            ):
                return
            del buckets[oldest_key]
