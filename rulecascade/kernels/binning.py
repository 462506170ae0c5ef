"""Binning kernels: float64 feature values -> uint8 bin codes (255 = missing).

Flat arrays in, flat arrays out; no Python objects. Every numeric feature ``j`` has
``n_edges[j]`` sorted finite upper edges in ``edges[j, :n_edges[j]]``; a value ``v`` gets the
number of edges strictly below it (``v <= edges[0]`` -> 0, ``+inf`` -> ``n_edges``), so bin ``b``
holds ``edges[b-1] < v <= edges[b]``, matching the rule semantics ``low < x <= high``. A
categorical feature maps its integer category code ``c`` to ``cat_map[j, c]``; unseen (-1) and
missing (NaN) values get ``MISSING``: like NaN, an unseen category satisfies no condition.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

MISSING = 255


@njit(cache=True, parallel=True)
def bin_columns(values, rows, is_cat, edges, n_edges, cat_map, n_cat_map, out):
    """Fill ``out[i, j]`` (uint8) with the bin of ``values[i, j]`` for each row ``i`` in
    ``rows`` (other rows of ``out`` are left as they are); parallel over features."""
    n_features = values.shape[1]
    for j in prange(n_features):
        if is_cat[j]:
            m = n_cat_map[j]
            for r in range(rows.shape[0]):
                i = rows[r]
                v = values[i, j]
                if np.isnan(v) or v < 0.0 or v >= m:
                    out[i, j] = MISSING
                else:
                    out[i, j] = cat_map[j, np.int64(v)]
        else:
            ne = n_edges[j]
            e = edges[j]
            for r in range(rows.shape[0]):
                i = rows[r]
                v = values[i, j]
                if np.isnan(v):
                    out[i, j] = MISSING
                    continue
                if ne == 0:
                    out[i, j] = 0
                    continue
                # branchless lower bound: the number of edges strictly below v
                base = 0
                m = ne
                while m > 1:
                    half = m >> 1
                    base = base + half if e[base + half] < v else base
                    m -= half
                out[i, j] = base + (1 if e[base] < v else 0)


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
