"""How many replicas a deployment version should run. Pure logic fed by metrics; no clock.

Interface (the driver samples its replicas every fraction of a second and passes the time)::

    scaler = Autoscaler(spec.autoscaling)
    scaler.observe(now_s, in_flight=sum(r.outstanding for r in replicas), queued=len(queue))
    target = scaler.desired(now_s, current=len(replicas))   # start or stop replicas to match

The rules, as Ray Serve's (with the same names as `corridor.serving.spec.Autoscaling`):

- Load is ``in_flight + queued`` requests, averaged over the last ``look_back_s`` seconds of
  observations (so one burst does not start a replica and one lull does not stop one).
- The wanted count is ``ceil(load / target_concurrency)``, clamped to
  ``[min_replicas, max_replicas]``.
- Scaling up waits until the wanted count has stayed above the current one for
  ``upscale_delay_s``; scaling down until it has stayed below for ``downscale_delay_s``.
  Either wait restarts whenever the wanted count crosses back.
- Scale to zero (``min_replicas == 0``): once there has been no load at all for
  ``downscale_delay_s``, the wanted count is 0.
- Scale from zero: with no replica and a request waiting, the answer is at least 1 *at once*
  (no delay: the driver holds those requests until the replica is up).
- A current count outside ``[min_replicas, max_replicas]`` is corrected at once.

Cost: ``observe`` appends to a bounded deque and keeps a running sum; ``desired`` is O(1)
amortised. Memory: at most ``max_samples`` observations.
"""

from __future__ import annotations

import math
from collections import deque

from corridor.serving.spec import Autoscaling


class Autoscaler:
    """Turns observed load into a wanted replica count, with hysteresis in time."""

    def __init__(
        self, policy: Autoscaling, *, look_back_s: float = 10.0, max_samples: int = 4096
    ) -> None:
        self.policy = policy
        self.look_back_s = look_back_s
        # (time, load) observations within the look-back window, oldest first.
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self._sum = 0.0
        self._queued = 0
        # When the wanted count last went above / below the current one (None: it is not).
        self._above_since: float | None = None
        self._below_since: float | None = None
        # The last time any load was seen (None: never).
        self._last_load_s: float | None = None
        self._first_seen_s: float | None = None

    def observe(self, now_s: float, in_flight: float, queued: int) -> None:
        """Record the load now: requests being answered and requests waiting for a replica."""
        load = max(0.0, float(in_flight)) + max(0, queued)
        samples = self._samples
        if len(samples) == samples.maxlen:
            self._sum -= samples[0][1]
        samples.append((now_s, load))
        self._sum += load
        self._queued = max(0, queued)
        if self._first_seen_s is None:
            self._first_seen_s = now_s
        if load > 0:
            self._last_load_s = now_s
        self._expire(now_s)

    def average_load(self, now_s: float) -> float:
        """The mean observed load over the look-back window (0.0 with no observations)."""
        self._expire(now_s)
        return self._sum / len(self._samples) if self._samples else 0.0

    def wanted(self, now_s: float) -> int:
        """The replica count the load asks for now, within the bounds, before any delay."""
        policy = self.policy
        load = self.average_load(now_s)
        count = math.ceil(load / policy.target_concurrency - 1e-9) if load > 0 else 0
        if count == 0 and policy.min_replicas == 0 and not self._idle_long_enough(now_s):
            count = 1  # a lull shorter than downscale_delay_s keeps one replica
        return max(policy.min_replicas, min(policy.max_replicas, count))

    def desired(self, now_s: float, current: int) -> int:
        """The replica count to run now, given ``current`` running (or starting) ones."""
        policy = self.policy
        if current < policy.min_replicas or current > policy.max_replicas:
            self._reset()
            return max(policy.min_replicas, min(policy.max_replicas, current))
        if current == 0 and self._queued > 0:
            self._reset()
            return max(1, self.wanted(now_s))
        wanted = self.wanted(now_s)
        if wanted == 0:  # idle for downscale_delay_s already: that was the wait
            self._reset()
            return 0
        if wanted > current:
            self._below_since = None
            if self._above_since is None:
                self._above_since = now_s
            if now_s - self._above_since >= policy.upscale_delay_s:
                self._reset()
                return wanted
        elif wanted < current:
            self._above_since = None
            if self._below_since is None:
                self._below_since = now_s
            if now_s - self._below_since >= policy.downscale_delay_s:
                self._reset()
                return wanted
        else:
            self._reset()
        return current

    def _idle_long_enough(self, now_s: float) -> bool:
        quiet_since = self._last_load_s if self._last_load_s is not None else self._first_seen_s
        if quiet_since is None:
            return True  # nothing observed yet: nothing asks for a replica
        return now_s - quiet_since >= self.policy.downscale_delay_s

    def _reset(self) -> None:
        self._above_since = None
        self._below_since = None

    def _expire(self, now_s: float) -> None:
        samples = self._samples
        horizon = now_s - self.look_back_s
        # Keep the newest sample even when it is old: it is the last known load.
        while len(samples) > 1 and samples[0][0] < horizon:
            self._sum -= samples.popleft()[1]
        if len(samples) <= 1:  # re-anchor the running sum, so float error cannot build up
            self._sum = samples[0][1] if samples else 0.0
