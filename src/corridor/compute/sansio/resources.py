"""What a job asks for and what a site has: CPUs, memory and GPUs, with the arithmetic on them.

GPUs are whole or a fraction below one (several small jobs share a device; a job never gets 1.5
devices). Sums and differences of fractions drift (0.1 + 0.2 != 0.3), so ``fits`` allows a
tolerance far below any fraction a person would ask for: a site with 0.3 GPUs left after two
0.35 jobs still admits a 0.3 job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from corridor.compute.sansio.units import MAX_MEMORY_BYTES, format_bytes, format_gpus
from corridor.errors import InvalidInput

# Bounds past which a request is a typo, not a job (a million cores, ten thousand GPUs).
MAX_CPUS = 1_000_000.0
MAX_GPUS = 10_000.0
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Resources:
    """CPUs (fractional allowed), memory in bytes and GPUs (whole, or a fraction below one)."""

    cpus: float = 1.0
    memory_bytes: int = 0
    gpus: float = 0.0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus + other.cpus, self.memory_bytes + other.memory_bytes, self.gpus + other.gpus
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpus - other.cpus, self.memory_bytes - other.memory_bytes, self.gpus - other.gpus
        )

    def fits(self, free: Resources) -> bool:
        """True if this request fits in ``free`` (each dimension, within float tolerance)."""
        return (
            self.cpus <= free.cpus + EPSILON
            and self.memory_bytes <= free.memory_bytes
            and self.gpus <= free.gpus + EPSILON
        )

    def scaled(self, n: int) -> Resources:
        """The total for ``n`` workers that each ask for this."""
        return Resources(self.cpus * n, self.memory_bytes * n, self.gpus * n)

    def clamped(self) -> Resources:
        """Negative dimensions (over-subscription after a capacity shrink) read as zero free."""
        return Resources(max(self.cpus, 0.0), max(self.memory_bytes, 0), max(self.gpus, 0.0))

    def is_zero(self) -> bool:
        """True when nothing at all is left in every dimension that a job can ask for."""
        return self.cpus <= EPSILON and self.memory_bytes <= 0 and self.gpus <= EPSILON

    def check(self, what: str = "resources") -> Resources:
        """Return self, or raise InvalidInput naming the first impossible dimension."""
        if isinstance(self.memory_bytes, bool) or not isinstance(self.memory_bytes, int):
            raise InvalidInput(f"{what}: memory must be a whole number of bytes")
        for name, value, top in (
            ("cpus", self.cpus, MAX_CPUS),
            ("gpus", self.gpus, MAX_GPUS),
            ("memory", float(self.memory_bytes), float(MAX_MEMORY_BYTES)),
        ):
            if isinstance(value, bool) or not math.isfinite(value):
                raise InvalidInput(f"{what}: {name} must be a finite number, not {value!r}")
            if value < 0:
                raise InvalidInput(f"{what}: {name} must be zero or more, not {value:g}")
            if value > top:
                raise InvalidInput(f"{what}: {name} {value:g} is more than any cluster has")
        if self.gpus > 1 and not float(self.gpus).is_integer():
            raise InvalidInput(
                f"{what}: gpus {self.gpus:g} is neither whole nor a fraction below one; "
                "ask for a whole number of GPUs or a share of one (e.g. 0.5)"
            )
        return self

    def describe(self) -> str:
        """``2 cpus, 4.0 GiB, 1 gpu``: for messages and listings."""
        parts = [f"{self.cpus:g} cpus", format_bytes(self.memory_bytes)]
        if self.gpus:
            parts.append(f"{format_gpus(self.gpus)} gpu{'s' if self.gpus != 1 else ''}")
        return ", ".join(parts)


NOTHING = Resources(0.0, 0, 0.0)
