"""The calibration distribution of each feature the rules read, stored in the rule file
(``FeatureSummary``): the reference that the audit's drift tests compare new data with.

Numeric features: counts in the bins cut at the calibration data's quantiles (``QUANTILE_BINS``
of them) and at every threshold the rules use on the feature, so the mass on each side of a
threshold is exact. Categorical features: counts per category. Both: the missing count. Only
counts are stored, never rows; the same data give the same summary (no sampling).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from rules_export import FeatureSummary, Interval, RuleSet

__all__ = [
    "QUANTILE_BINS",
    "bin_counts",
    "categorical_summary",
    "numeric_summary",
    "summarise",
    "thresholds",
]

QUANTILE_BINS = 20


def thresholds(rules: RuleSet, feature: str) -> tuple[float, ...]:
    """The thresholds the rules' intervals use on ``feature``, sorted, without repeats."""
    out = {
        v
        for r in rules.rules
        for c in r.conditions
        if isinstance(c, Interval) and c.feature == feature
        for v in (c.low, c.high)
        if v is not None
    }
    return tuple(sorted(out))


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> tuple[np.ndarray, int]:
    """Counts of the non-missing ``values`` in the bins ``(edges[i-1], edges[i]]`` (the first
    open below, the last above), and the number of missing (NaN) values."""
    v = np.asarray(values, dtype=np.float64)
    nan = np.isnan(v)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), v[~nan], side="left")
    return np.bincount(idx, minlength=len(edges) + 1).astype(np.int64), int(nan.sum())


def numeric_summary(
    name: str, values: np.ndarray, cuts: Iterable[float] = (), bins: int = QUANTILE_BINS
) -> FeatureSummary:
    """Quantile bins (plus the ``cuts``) of a numeric column; NaN counts as missing."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    qs = (
        np.quantile(finite, np.arange(1, bins) / bins, method="inverted_cdf")
        if finite.size
        else np.zeros(0)
    )
    edges = np.unique(np.concatenate([qs, np.asarray(list(cuts), dtype=np.float64)]))
    edges = edges[np.isfinite(edges)]
    counts, missing = bin_counts(v, edges)
    return FeatureSummary(
        feature=name,
        rows=int(v.shape[0]),
        missing=missing,
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
    )


def categorical_summary(name: str, codes: np.ndarray, categories: Sequence[str]) -> FeatureSummary:
    """Counts per category of a column of category codes (NaN: missing, other codes: other)."""
    c = np.asarray(codes, dtype=np.float64)
    nan = np.isnan(c)
    known = ~nan & (c >= 0) & (c < len(categories))
    counts = np.bincount(c[known].astype(np.int64), minlength=len(categories))
    return FeatureSummary(
        feature=name,
        rows=int(c.shape[0]),
        missing=int(nan.sum()),
        counts=tuple(int(v) for v in counts),
        categories=tuple(categories),
        other=int((~nan & ~known).sum()),
    )


def summarise(rules: RuleSet, columns: dict[str, np.ndarray]) -> tuple[FeatureSummary, ...]:
    """Summaries of the schema features that the rules' conditions name, from ``columns``
    (numeric values, or category codes for categorical features, per name)."""
    named = {c.feature for r in rules.rules for c in r.conditions}
    out = []
    for f in rules.features:
        if f.name not in named or f.name not in columns:
            continue
        if f.kind == "categorical":
            out.append(categorical_summary(f.name, columns[f.name], f.categories))
        else:
            out.append(numeric_summary(f.name, columns[f.name], thresholds(rules, f.name)))
    return tuple(out)
