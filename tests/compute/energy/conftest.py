"""Real busy processes for the energy meters to measure."""

from __future__ import annotations

import subprocess
import sys

BURN_CPU_S = 0.3
# CPU times are counted in clock ticks and summed as floats: 0.3 s can read 0.29999999999999716.
TICK_S = 0.01
# Burns a fixed amount of CPU time (not of wall time), so what a meter must see is known.
BURN = "import time\nwhile time.process_time() < float(__import__('sys').argv[1]):\n    pass\n"


def burn(cpu_s: float = BURN_CPU_S) -> None:
    """Run a child that uses at least ``cpu_s`` CPU seconds, and reap it."""
    subprocess.run([sys.executable, "-c", BURN, str(cpu_s)], check=True)
