"""Thresholds as short decimals: the shortest decimal in a gap between neighbouring data values."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal, localcontext

__all__ = ["shortest_decimal"]


def shortest_decimal(lo: float, hi: float) -> float:
    """The float64 ``t`` with ``lo <= t < hi`` whose shortest repr has the fewest digits.

    Tries multiples of 10**p from the coarsest ``p`` down: the first multiple of 10**p at or
    above ``lo`` that is still below ``hi`` wins (``[51999.73828125, 52001)`` -> ``52000.0``).
    The result parses back from its ``repr`` to the same float64. ``lo`` is returned when the
    gap holds nothing shorter. ``hi`` may be +inf (then the gap is ``[lo, lo + max(1, |lo|))``).
    """
    lo = float(lo)
    hi = float(hi)
    if not math.isfinite(lo) or math.isnan(hi) or not lo < hi:
        raise ValueError(f"need finite lo < hi, got [{lo!r}, {hi!r})")
    if math.isinf(hi):
        hi = lo + max(1.0, abs(lo))
        if math.isinf(hi):
            return lo
    if lo <= 0.0 < hi:
        return 0.0
    top = max(abs(lo), abs(hi))
    start = int(math.floor(math.log10(top))) + 1
    with localcontext() as ctx:
        ctx.prec = 1200
        d_lo = Decimal(lo)
        for p in range(start, -400, -1):
            step = Decimal(1).scaleb(p)
            up = (d_lo / step).to_integral_value(rounding=ROUND_CEILING)
            # the multiple just below lo may still round to a float >= lo (0.1 -> 0.1)
            for c in (up - 1, up):
                t = float(c * step)
                if lo <= t < hi:
                    return t
    return lo
