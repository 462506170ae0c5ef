"""Stratified growth / validation / certification splits of the calibration rows."""

from __future__ import annotations

import numpy as np

from .bounds import (
    rows_needed,
)
from .config import Config


def stratified_split(
    y: np.ndarray, n_classes: int, fractions: tuple[float, ...], rng
) -> list[np.ndarray]:
    """Stratified split of row indices into parts with the given fractions (sorted indices)."""
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    cum = np.cumsum(fractions)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        bounds = np.round(cum * idx.size).astype(np.int64)
        start = 0
        for p, b in enumerate(bounds):
            parts[p].append(idx[start:b])
            start = b
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def plan_splits(
    y: np.ndarray, n_classes: int, cfg: Config, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (growth, validation, certification) row indices.

    The certification share is sized from the target: enough rows that about half of them,
    covered without error, certify ``max_error`` (at the Bonferroni level of two fixed
    sequences), between 40% and 50% of the rows (``cfg.cert_shares``; the test's power decides
    what can be kept, so it gets more than growth needs). Growth gets ``cfg.growth_share`` (two
    thirds) of the rest, at most ``max_growth_rows`` (more rows buy little there), and
    validation the remainder, at most ``max_validation_rows`` (the rows past it go to
    certification); with ``small_rows`` set, on sets with fewer rows left no
    validation split is held out: the validation array is the growth array itself, and
    selection works on growth rows (the guarantee comes from certification alone). Without
    ``certify`` validation gets the certification share too, up to its cap (the rest is left
    out: a sample).
    """
    n = y.shape[0]
    if cfg.certify:
        need = rows_needed(cfg.max_error, 1.0 - (1.0 - cfg.confidence) / 2)
        c = float(np.clip(need / (0.5 * max(n, 1)), *cfg.cert_shares))
        rest = 1.0 - c
        if rest * n < cfg.small_rows:
            grow, cert = stratified_split(y, n_classes, (rest, c), rng)
            return grow, grow, cert
        g = min(rest * cfg.growth_share, cfg.max_growth_rows / max(n, 1))
        v = min(rest - g, cfg.max_validation_rows / max(n, 1))
        fr = (g, v, 1.0 - g - v)
    else:
        g = min(0.6, cfg.max_growth_rows / max(n, 1))
        fr = (g, min(1.0 - g, cfg.max_validation_rows / max(n, 1)), 0.0)
    grow, val, cert = stratified_split(y, n_classes, fr, rng)
    return grow, val, cert
