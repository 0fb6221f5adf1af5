"""Hourly series (carbon intensity, energy price) as a step function over epoch seconds.

Each point ``(epoch_s, value)`` holds from its timestamp until the next point's; before the
first point the first value holds and after the last the last value holds, so a short forecast
degrades to "assume it stays as it is". A prefix integral makes ``mean_over`` two binary
searches, which matters because time shifting evaluates the mean over many candidate windows.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from corridor.errors import InvalidInput


class HourlyTrace:
    """An immutable step function built from sorted, unique ``(epoch_s, value)`` points."""

    __slots__ = ("_prefix", "_times", "_values")

    def __init__(self, points: Iterable[tuple[float, float]]) -> None:
        times: list[float] = []
        values: list[float] = []
        for t, v in points:
            if not (math.isfinite(t) and math.isfinite(v)):
                raise InvalidInput(f"trace point ({t!r}, {v!r}) is not a pair of finite numbers")
            if times and t <= times[-1]:
                raise InvalidInput(f"trace timestamps must increase: {t:g} follows {times[-1]:g}")
            times.append(float(t))
            values.append(float(v))
        if not times:
            raise InvalidInput("a trace needs at least one point")
        prefix = [0.0]
        for i in range(1, len(times)):
            prefix.append(prefix[-1] + values[i - 1] * (times[i] - times[i - 1]))
        self._times = tuple(times)
        self._values = tuple(values)
        self._prefix = tuple(prefix)

    @classmethod
    def constant(cls, value: float, at: float = 0.0) -> HourlyTrace:
        """A trace that is ``value`` at every time."""
        return cls([(at, value)])

    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        """The points as given, in time order."""
        return tuple(zip(self._times, self._values, strict=True))

    @property
    def start_s(self) -> float:
        return self._times[0]

    @property
    def end_s(self) -> float:
        """The last point's timestamp (its value holds after it)."""
        return self._times[-1]

    def __len__(self) -> int:
        return len(self._times)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HourlyTrace):
            return NotImplemented
        return self._times == other._times and self._values == other._values

    def __hash__(self) -> int:
        return hash((self._times, self._values))

    def __repr__(self) -> str:
        return f"HourlyTrace({len(self)} points from {self.start_s:g} to {self.end_s:g})"

    def value_at(self, t: float) -> float:
        """The value holding at ``t``."""
        i = bisect_right(self._times, t) - 1
        return self._values[max(i, 0)]

    def integral_to(self, t: float) -> float:
        """The integral of the step function from the first point to ``t`` (negative before it)."""
        i = bisect_right(self._times, t) - 1
        if i < 0:
            return (t - self._times[0]) * self._values[0]
        return self._prefix[i] + (t - self._times[i]) * self._values[i]

    def mean_over(self, t0: float, t1: float) -> float:
        """The time-weighted mean over ``[t0, t1)``; the value at ``t0`` when the span is empty."""
        if t1 <= t0:
            return self.value_at(t0)
        return (self.integral_to(t1) - self.integral_to(t0)) / (t1 - t0)

    def boundaries(self, t0: float, t1: float) -> tuple[float, ...]:
        """The timestamps where the value may change, strictly inside ``(t0, t1)``."""
        return self._times[bisect_right(self._times, t0) : bisect_left(self._times, t1)]

    def window(self, t0: float, t1: float) -> HourlyTrace:
        """The trace restricted to ``[t0, t1)``, starting with the value holding at ``t0``."""
        if t1 <= t0:
            raise InvalidInput(f"an empty window: {t0:g} is not before {t1:g}")
        inside = [(t, self.value_at(t)) for t in self.boundaries(t0, t1)]
        return HourlyTrace([(t0, self.value_at(t0)), *inside])
