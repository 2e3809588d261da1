"""A host's clock offset against the operator's machine, measured over SSH."""

from __future__ import annotations

import time
from typing import Any


def measure_clock_offset(h: Any, samples: int = 3) -> tuple[float, float]:
    """Return (offset, uncertainty) in seconds of the host's clock against this machine's.

    Each sample reads the host's ``date +%s.%N`` between two local readings and takes
    the midpoint as the matching local time; the sample with the shortest round trip
    wins, its half round trip is the uncertainty.
    """
    best: tuple[float, float] | None = None
    for _ in range(samples):
        t0 = time.time()
        out = h.run("date +%s.%N")
        t1 = time.time()
        remote = float(out.stdout.strip())
        sample = (remote - (t0 + t1) / 2, (t1 - t0) / 2)
        if best is None or sample[1] < best[1]:
            best = sample
    assert best is not None
    return best
