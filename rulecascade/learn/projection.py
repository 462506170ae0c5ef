"""Linear projections (PCA, LDA) of numeric columns, computed exactly as the rule-set semantics do.

``z_j = sum_i (x_i - mean_i) * weights[j][i]`` in float64, in the order ``Projection`` defines
(blocks of inputs, each left to right, then the block sums): the same operations in the same order
as ``rules_export.reference``, so every evaluator gets the same bits.
"""

from __future__ import annotations

import warnings

import numpy as np

from rules_export.model import Projection
from rules_export.reference import project_columns

__all__ = ["fit_lda", "fit_pca", "project"]


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
    rows, mean, sub = _sample(values, rows, rng, max_rows)
    xc = sub - mean
    cov = xc.T @ xc / max(rows.size - 1, 1)
    w, v = np.linalg.eigh(cov)
    k = int(min(n_components, d))
    top = _fix_signs(v[:, np.argsort(-w, kind="stable")[:k]].T.copy())
    return mean.astype(np.float64), np.ascontiguousarray(top, dtype=np.float64)


def _fix_signs(top: np.ndarray) -> np.ndarray:
    """Each direction flipped so that its largest absolute weight is positive."""
    for j in range(top.shape[0]):
        i = int(np.argmax(np.abs(top[j])))
        if top[j, i] < 0:
            top[j] = -top[j]
    return top


def _sample(
    values: np.ndarray, rows: np.ndarray, rng: np.random.Generator, max_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At most ``max_rows`` of ``rows`` (drawn with ``rng``, sorted), the mean over the finite
    values of ``values`` on them, and those rows of ``values`` with the rest set to the mean."""
    if rows.size > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    sub = values[rows]
    finite = np.isfinite(sub)
    cnt = finite.sum(axis=0)
    mean = np.where(cnt > 0, np.where(finite, sub, 0.0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
    return rows, mean, np.where(finite, sub, mean)


def fit_lda(
    values: np.ndarray,
    rows: np.ndarray,
    y: np.ndarray,
    n_components: int,
    rng: np.random.Generator,
    max_rows: int = 50_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and weights (k, d) of the discriminant directions of ``values[rows]`` given the
    class indices ``y[rows]`` (k <= classes - 1; shrunk within-class covariance, Ledoit-Wolf).

    Each direction has unit variance under the shrunk within-class covariance. Missing and infinite
    values are ignored for the mean and replaced by it for the directions.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rows, mean, sub = _sample(values, np.unique(rows), rng, max_rows)  # a row given twice once
    labels = y[rows]
    present = np.unique(labels)
    if present.size < 2:
        raise ValueError(
            "projection='lda' needs at least two classes among the rows it is fitted on"
        )
    keep = sub.std(axis=0) > 0  # constant columns carry no direction (weight 0)
    k = int(min(n_components, present.size - 1, max(int(keep.sum()), 1)))
    top = np.zeros((k, values.shape[1]), dtype=np.float64)
    if keep.any():
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
        with warnings.catch_warnings():  # a class with one row: its covariance is shrunk to 0
            warnings.filterwarnings("ignore", "Only one sample available", UserWarning)
            lda.fit(sub[:, keep] - mean[keep], labels)
        top[:, keep] = lda.scalings_[:, :k].T
    return mean.astype(np.float64), np.ascontiguousarray(_fix_signs(top), dtype=np.float64)


#: a fitted projection of more inputs than this sums in blocks of this many (Projection.sum_block):
#: exported SQL nests one level per term of a block, and DuckDB and SQLite stop at 1,000 levels
SUM_BLOCK = 256


def project(values: np.ndarray, proj: Projection) -> np.ndarray:
    """(n, k) projected values of the projection's input columns ``values``, Fortran order."""
    z = project_columns(proj, [values[:, i] for i in range(values.shape[1])], values.shape[0])
    out = np.empty((values.shape[0], len(z)), dtype=np.float64, order="F")
    for j, col in enumerate(z):
        out[:, j] = col
    return out
