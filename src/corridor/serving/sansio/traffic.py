"""Which version answers a request: canary weights, sticky keys, explicit versions, shadows.

Interface (randomness is passed in, so every decision is reproducible in tests)::

    split = TrafficSplit([("mlp/3", 90.0), ("mlp/4", 10.0)], shadow=("mlp/5", 5.0))
    key = split.pick(sticky_key, random.random())           # "mlp/3" or "mlp/4"
    key = split.pick(None, 0.0, version="mlp/5")            # explicit: any route or the shadow
    mirror = split.shadow_for(sticky_key, random.random())  # "mlp/5" for ~5% of requests, or None

Version keys are opaque strings chosen by the caller (e.g. ``"model/version"``).

Invariants:

- A route of weight 0 is never picked by weight (it still answers when asked for explicitly).
- Over many uniform draws each route's share converges to ``weight / sum(weights)``.
- Sticky: a key is mapped to a point in [0, 1) by BLAKE2b (stable across processes and
  restarts, unlike ``hash()``) and picks by that point instead of the draw, so the same key
  gets the same version while the weights stand. Routes own consecutive slices of [0, 1) in
  the order given, so moving weight between two routes moves only the keys in the slice that
  changed hands: raising a canary from 10% to 20% keeps every key already on the canary there.
- Shadow: with a key, the decision is stable per key too (a different hash salt, so it does
  not correlate with the route pick); without one, the draw decides.

Cost: ``pick`` is one bisect over the cumulative weights (plus one BLAKE2b of a short key when
sticky): well under a microsecond of work, fine for the gateway's hot path.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence

from corridor.errors import InvalidInput, NotFound

_SCALE = float(1 << 64)


def key_point(key: str, salt: bytes = b"route") -> float:
    """A stable point in [0, 1) for ``key`` (BLAKE2b, the same in every process)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8, person=salt[:16]).digest()
    return int.from_bytes(digest, "big") / _SCALE


class TrafficSplit:
    """The routes of one deployment revision, with their weights, and an optional shadow."""

    def __init__(
        self,
        routes: Sequence[tuple[str, float]],
        shadow: tuple[str, float] | None = None,
    ) -> None:
        if not routes:
            raise InvalidInput("a traffic split needs at least one route")
        keys = [key for key, _ in routes]
        if len(set(keys)) != len(keys):
            raise InvalidInput(f"each version may appear in the routes once, got {keys}")
        if any(weight < 0 for _, weight in routes):
            raise InvalidInput(f"route weights must not be negative, got {list(routes)}")
        live = [(key, float(weight)) for key, weight in routes if weight > 0]
        if not live:
            raise InvalidInput("at least one route needs a weight above 0")
        total = sum(weight for _, weight in live)
        self.routes: tuple[tuple[str, float], ...] = tuple(routes)
        self._live_keys = [key for key, _ in live]
        # Upper bounds of each live route's slice of [0, 1); the last is exactly 1.0.
        bounds: list[float] = []
        running = 0.0
        for _, weight in live:
            running += weight
            bounds.append(running / total)
        bounds[-1] = 1.0
        self._bounds = bounds
        if shadow is not None and not 0 < shadow[1] <= 100:
            raise InvalidInput(f"the shadow's percent must be in (0, 100], got {shadow[1]}")
        self.shadow = shadow
        self._known = set(keys) | ({shadow[0]} if shadow else set())

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version key that can answer: the routes (weight 0 included) and the shadow."""
        keys = tuple(key for key, _ in self.routes)
        if self.shadow is not None and self.shadow[0] not in keys:
            keys += (self.shadow[0],)
        return keys

    def pick(self, sticky_key: str | None, draw: float, version: str | None = None) -> str:
        """The version for one request. ``draw``: a uniform number in [0, 1), used when there
        is no sticky key; ``version``: an explicit choice, which wins (`NotFound` if unknown)."""
        if version is not None:
            if version not in self._known:
                known = ", ".join(sorted(self._known))
                raise NotFound(f"version {version!r} is not served here; the versions are {known}")
            return version
        point = key_point(sticky_key) if sticky_key is not None else draw
        index = bisect.bisect_right(self._bounds, point)
        # A draw of exactly 1.0 (or more) would fall off the end: the last route takes it.
        return self._live_keys[min(index, len(self._live_keys) - 1)]

    def shadow_for(self, sticky_key: str | None, draw: float) -> str | None:
        """The version that gets a mirrored copy of this request, or None."""
        if self.shadow is None:
            return None
        target, percent = self.shadow
        point = key_point(sticky_key, b"shadow") if sticky_key is not None else draw
        return target if point * 100.0 < percent else None
