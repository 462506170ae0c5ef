"""Quantile binning of a FeatureMatrix into uint8 codes (bin 255 = missing or unseen).

Numeric features get at most ``max_bins`` bins whose upper edges are data values (quantiles of a
sample), so bin ``b`` holds ``edges[b-1] < x <= edges[b]`` and -inf / +inf fall in the first /
last bin. Categorical features keep one bin per category; above 255 categories the 254 most
frequent keep their own bin and the rest share bin 254 ("other").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels.binning import MISSING, bin_columns, bin_value_range
from ..kernels.dispatch import twin

__all__ = ["MISSING", "Binner"]


def float_dtype(values: np.ndarray) -> type:
    """The float type the kernels read ``values`` in: float32 as they are (compared in
    float64, exactly), anything else as float64."""
    return np.float32 if values.dtype == np.float32 else np.float64


@dataclass(frozen=True)
class Binner:
    is_cat: np.ndarray  # (F,) bool
    edges: np.ndarray  # (F, 254) float64, numeric upper edges
    n_edges: np.ndarray  # (F,) int64
    cat_map: np.ndarray  # (F, K) uint8: category code -> bin
    n_cat_map: np.ndarray  # (F,) int64: number of category codes
    n_bins: np.ndarray  # (F,) int64

    @classmethod
    def fit(
        cls,
        values: np.ndarray,
        is_cat: np.ndarray,
        n_categories: np.ndarray,
        rows: np.ndarray,
        max_bins: int = 255,
        sample_size: int = 200_000,
        rng: np.random.Generator | None = None,
    ) -> Binner:
        """Bin edges from ``values[rows]`` (a random sample of at most ``sample_size`` rows)."""
        max_bins = int(min(max(max_bins, 2), 255))
        n_features = values.shape[1]
        if rows.shape[0] > sample_size:
            rng = rng if rng is not None else np.random.default_rng(0)
            sample = np.sort(rng.choice(rows, size=sample_size, replace=False))
        else:
            sample = rows
        edges = np.full((n_features, 254), np.inf)
        n_edges = np.zeros(n_features, np.int64)
        kmax = int(max([1, *[int(k) for k in n_categories]]))
        cat_map = np.full((n_features, kmax), MISSING, np.uint8)
        n_cat_map = np.zeros(n_features, np.int64)
        n_bins = np.ones(n_features, np.int64)
        for j in range(n_features):
            if is_cat[j]:
                k = int(n_categories[j])
                n_cat_map[j] = k
                if k <= 255:
                    cat_map[j, :k] = np.arange(k, dtype=np.uint8)
                    n_bins[j] = max(k, 1)
                else:
                    col = values[rows, j]
                    col = col[(col >= 0) & ~np.isnan(col)].astype(np.int64)
                    freq = np.bincount(col, minlength=k)
                    top = np.sort(np.lexsort((np.arange(k), -freq))[:254])
                    cat_map[j, :k] = 254
                    cat_map[j, top] = np.arange(254, dtype=np.uint8)
                    n_bins[j] = 255
                continue
            col = values[sample, j]
            col = np.sort(col[np.isfinite(col)])
            if col.size == 0:
                continue
            uniq = col[np.concatenate(([True], col[1:] != col[:-1]))]
            if uniq.size <= max_bins:
                e = uniq[:-1]
            else:
                pos = (np.arange(1, max_bins) * col.size) // max_bins
                e = np.unique(col[pos])
                e = e[e < uniq[-1]]
            n_edges[j] = e.size
            edges[j, : e.size] = e
            n_bins[j] = e.size + 1
        return cls(np.asarray(is_cat, bool), edges, n_edges, cat_map, n_cat_map, n_bins)

    def transform(
        self, values: np.ndarray, rows: np.ndarray | None = None, device: str = "cpu"
    ) -> np.ndarray:
        """uint8 codes, (n_rows, n_features), Fortran order; with ``rows``, only those rows
        are binned (the others read as missing); ``device``: "cpu" or "cuda"."""
        if rows is None:
            out = np.empty(values.shape, dtype=np.uint8, order="F")
            rows = np.arange(values.shape[0], dtype=np.int64)
        else:
            out = np.full(values.shape, MISSING, dtype=np.uint8, order="F")
        if rows.shape[0] and values.shape[1]:
            twin(bin_columns, device)(
                np.asfortranarray(values, dtype=float_dtype(values)),
                np.asarray(rows, np.int64),
                self.is_cat.astype(np.uint8),
                self.edges,
                self.n_edges,
                self.cat_map,
                self.n_cat_map,
                out,
            )
        return out

    def value_range(
        self, values: np.ndarray, codes: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per feature and bin, the smallest and largest value among ``rows`` (NaN if empty)."""
        lo = np.full((values.shape[1], 256), np.nan)
        hi = np.full((values.shape[1], 256), np.nan)
        if rows.size:
            bin_value_range(values, codes, rows.astype(np.int64), lo, hi)
        return lo, hi
