"""Linear projection (PCA) of numeric columns, computed exactly as the rule-set semantics do.

``z_j = sum_i (x_i - mean_i) * weights[j][i]``, summed over inputs in order, in float64: the same
operations in the same order as ``rules_export.reference``, so every evaluator gets the same bits.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_pca", "project"]


def fit_pca(
    values: np.ndarray,
    rows: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    max_rows: int = 50_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and weights (k, d) of the top principal directions of ``values[rows]``.

    Missing and infinite values are ignored for the mean and replaced by the mean for the
    directions. Signs are fixed (largest absolute weight positive) so the result is reproducible.
    """
    d = values.shape[1]
    if rows.size > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    sub = values[rows]
    finite = np.isfinite(sub)
    cnt = finite.sum(axis=0)
    mean = np.where(cnt > 0, np.where(finite, sub, 0.0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
    xc = np.where(finite, sub - mean, 0.0)
    cov = xc.T @ xc / max(rows.size - 1, 1)
    w, v = np.linalg.eigh(cov)
    k = int(min(n_components, d))
    top = v[:, np.argsort(-w, kind="stable")[:k]].T.copy()
    for j in range(k):
        i = int(np.argmax(np.abs(top[j])))
        if top[j, i] < 0:
            top[j] = -top[j]
    return mean.astype(np.float64), np.ascontiguousarray(top, dtype=np.float64)


def project(values: np.ndarray, mean: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(n, k) projected values, Fortran order."""
    n = values.shape[0]
    acc = np.zeros((n, weights.shape[0]), dtype=np.float64, order="F")
    for j in range(weights.shape[0]):
        col = np.zeros(n, dtype=np.float64)
        for i in range(weights.shape[1]):
            col = col + (values[:, i] - mean[i]) * weights[j, i]
        acc[:, j] = col
    return acc
