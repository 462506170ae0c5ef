"""Binning kernels: float64 (or float32) feature values -> uint8 bin codes (255 = missing).

Flat arrays in, flat arrays out; no Python objects. Every numeric feature ``j`` has
``n_edges[j]`` sorted finite upper edges in ``edges[j, :n_edges[j]]``; a value ``v`` gets the
number of edges strictly below it (``v <= edges[0]`` -> 0, ``+inf`` -> ``n_edges``), so bin ``b``
holds ``edges[b-1] < v <= edges[b]``, matching the rule semantics ``low < x <= high``. A
categorical feature maps its integer category code ``c`` to ``cat_map[j, c]``; unseen (-1) and
missing (NaN) values get ``MISSING``: like NaN, an unseen category satisfies no condition.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .jit import njit

MISSING = 255


def bin_value(v, is_cat, e, ne, cat_map_row, m):
    """The bin code of one value ``v`` of a feature (see the module docstring): numeric, the
    number of its ``ne`` edges ``e`` strictly below ``v``; categorical, ``cat_map_row[v]`` for
    codes ``0 <= v < m``. Plain Python: the CPU and GPU kernels compile this one body."""
    if v != v:  # NaN (missing)
        return MISSING
    if is_cat:
        if v < 0.0 or v >= m:
            return MISSING
        return cat_map_row[int(v)]
    if ne == 0:
        return 0
    # branchless lower bound: the number of edges strictly below v
    base = 0
    n = ne
    while n > 1:
        half = n >> 1
        base = base + half if e[base + half] < v else base
        n -= half
    return base + (1 if e[base] < v else 0)


_bin_value = njit(cache=True)(bin_value)


@njit(cache=True, parallel=True)
def bin_columns(values, rows, is_cat, edges, n_edges, cat_map, n_cat_map, out):
    """Fill ``out[i, j]`` (uint8) with the bin of ``values[i, j]`` for each row ``i`` in
    ``rows`` (other rows of ``out`` are left as they are); parallel over features."""
    n_features = values.shape[1]
    for j in prange(n_features):
        c = is_cat[j]
        ne = n_edges[j]
        e = edges[j]
        cm = cat_map[j]
        m = n_cat_map[j]
        for r in range(rows.shape[0]):
            i = rows[r]
            out[i, j] = _bin_value(values[i, j], c, e, ne, cm, m)


@njit(cache=True, parallel=True)
def bin_value_range(values, codes, rows, out_min, out_max):
    """Per feature and bin: smallest and largest value among ``rows`` (NaN where the bin is empty).

    ``out_min``/``out_max`` are (n_features, 256) float64, pre-filled by the caller with NaN.
    """
    n_features = values.shape[1]
    for j in prange(n_features):
        for r in range(rows.shape[0]):
            i = rows[r]
            b = codes[i, j]
            if b == MISSING:
                continue
            v = values[i, j]
            if np.isnan(out_min[j, b]) or v < out_min[j, b]:
                out_min[j, b] = v
            if np.isnan(out_max[j, b]) or v > out_max[j, b]:
                out_max[j, b] = v
