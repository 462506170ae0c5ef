"""Rule conditions on bin codes, and their rendering as thresholds on the raw values."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .binning import Binner
from .thresholds import shortest_decimal


@dataclass(frozen=True)
class NumCond:
    feature: int
    low: float | None
    high: float | None


@dataclass(frozen=True)
class CatCond:
    feature: int
    codes: tuple[int, ...]  # category codes (indices into the feature's category list)


def gap_tables(binner: Binner, mins: np.ndarray, maxs: np.ndarray):
    """below[f, b]: largest value in bins <= b; above[f, b]: smallest value in bins >= b."""
    with np.errstate(invalid="ignore"):
        below = np.fmax.accumulate(maxs, axis=1)
        above = np.fmin.accumulate(mins[:, ::-1], axis=1)[:, ::-1]
    return below, above


def cut_value(below: np.ndarray, above: np.ndarray, f: int, b: int) -> float | None:
    """A short threshold t with (values in bins <= b) <= t < (values in bins > b)."""
    lo = below[f, b]
    hi = above[f, b + 1]
    if np.isnan(lo) and np.isnan(hi):
        return None
    if np.isnan(hi):
        hi = math.inf
    if np.isnan(lo) or lo == -math.inf:
        if not math.isfinite(hi):
            return None
        lo = hi - max(1.0, abs(hi))
    if lo == math.inf or not lo < hi:
        return None
    return shortest_decimal(float(lo), float(hi))


def render_rule(
    mask: np.ndarray,
    binner: Binner,
    below: np.ndarray,
    above: np.ndarray,
    no_missing: np.ndarray | None = None,
) -> list[NumCond | CatCond] | None:
    """Conditions of one box (None if a condition cannot be written; empty list: no condition).

    A box with no condition (the whole space) is written as ``x > t`` below the smallest value
    of the first numeric feature without missing values among the fitting rows
    (``no_missing``), else as "in every category" of the first such categorical feature, as
    rule sets need one condition per rule; empty if there is none."""
    conds: list[NumCond | CatCond] = []
    all_ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    for f in range(mask.shape[0]):
        if np.all(mask[f] == all_ones):
            continue
        nb = int(binner.n_bins[f])
        bits = np.unpackbits(mask[f].view(np.uint8), bitorder="little")[:nb].astype(bool)
        if binner.is_cat[f]:
            k = int(binner.n_cat_map[f])
            codes = np.flatnonzero(bits[binner.cat_map[f, :k]]) if k else np.zeros(0, int)
            if codes.size == 0:
                return None
            conds.append(CatCond(f, tuple(int(c) for c in codes)))
            continue
        on = np.flatnonzero(bits)
        if on.size == 0:
            return None
        lo_b, hi_b = int(on[0]), int(on[-1])
        low = high = None
        if lo_b > 0:
            low = cut_value(below, above, f, lo_b - 1)
            if low is None:
                return None
        if hi_b < nb - 1:
            high = cut_value(below, above, f, hi_b)
            if high is None:
                return None
        if low is None and high is None:  # full non-missing range: x > t below the minimum
            vmin = above[f, 0]
            vmax = below[f, nb - 1]
            if np.isfinite(vmin):
                low = shortest_decimal(vmin - max(1.0, abs(vmin)), vmin)
            elif np.isfinite(vmax):
                high = shortest_decimal(vmax, math.inf)
            else:
                return None
        conds.append(NumCond(f, low, high))
    if not conds and no_missing is not None:  # the whole space: one always-true condition
        for f in np.flatnonzero(no_missing & ~binner.is_cat.astype(bool)):
            vmin = above[f, 0]
            if np.isfinite(vmin):
                return [NumCond(int(f), shortest_decimal(vmin - max(1.0, abs(vmin)), vmin), None)]
        for f in np.flatnonzero(no_missing & binner.is_cat.astype(bool)):
            k = int(binner.n_cat_map[f])
            if k:
                return [CatCond(int(f), tuple(range(k)))]
    return conds
