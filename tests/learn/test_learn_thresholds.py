"""Thresholds are the shortest decimals inside the gap and keep the partition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rulecascade.learn.thresholds import shortest_decimal


def _sig_digits(t: float) -> int:
    m = repr(t).lower().split("e")[0].replace("-", "").replace(".", "").strip("0")
    return max(1, len(m))


@pytest.mark.parametrize(
    "lo, hi, want",
    [
        (51999.73828125, 52001.0, 52000.0),
        (3.0, 4.0, 3.0),
        (0.1, 0.2, 0.1),
        (95.0, 130.0, 100.0),
        (-5.3, -5.1, -5.3),
        (-0.5, 0.5, 0.0),
        (1.0, math.nextafter(1.0, 2.0), 1.0),
        (0.30000000000000004, 0.31, 0.301),
        (1e-300, 2e-300, 1e-300),
        (123456.789, math.inf, 200000.0),
    ],
)
def test_examples(lo, hi, want):
    assert shortest_decimal(lo, hi) == want


@settings(max_examples=300, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    st.floats(min_value=1e-9, max_value=1e6),
)
def test_in_gap_short_and_round_trips(lo, width):
    hi = lo + width
    assume(lo < hi)
    t = shortest_decimal(lo, hi)
    assert lo <= t < hi
    assert float(repr(t)) == t
    # no decimal with fewer significant digits lies in the gap
    d = _sig_digits(t)
    if d > 1 and t != 0.0:
        e = math.floor(math.log10(abs(t)))
        step = 10.0 ** (e - d + 2)
        for c in (math.floor(lo / step) * step, math.ceil(lo / step) * step):
            c = float(f"{c:.{max(0, -(e - d + 2))}f}") if step < 1 else c
            assert not (lo <= c < hi and _sig_digits(c) < d)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=50, unique=True))
def test_partition_unchanged(values):
    x = np.sort(np.asarray(values))
    for i in range(x.size - 1):
        t = shortest_decimal(x[i], x[i + 1])
        assert np.array_equal(x <= t, x <= x[i])


def test_bad_gap():
    with pytest.raises(ValueError):
        shortest_decimal(1.0, 1.0)
    with pytest.raises(ValueError):
        shortest_decimal(math.nan, 1.0)
