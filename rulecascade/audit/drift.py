"""Feature drift: new data against the calibration distribution stored in the rule file.

For every feature that has a stored summary (``RuleSet.feature_summaries``, written at fit), the
new values are counted in the same bins (numeric: the stored edges, which include every threshold
the rules use on the feature; categorical: the stored categories, plus one cell for values outside
them) and a missing cell, and the two samples are compared:

* ``test`` ``"chi2"``: Pearson's chi-squared test of homogeneity on the 2 x K table (stored counts,
  new counts; ``scipy.stats.chi2_contingency``). Adjacent numeric bins are merged, in order, until
  each holds at least ``MIN_CELL`` stored rows or ``1 / (2 * QUANTILE_BINS)`` of them (the thin
  bins that thresholds cut are merged with a neighbour); categories with fewer than ``MIN_CELL``
  stored rows are pooled with the "other" cell. Cells empty in both samples are dropped.
* ``psi``: the population stability index on the same cells, ``sum (q - p) ln(q / p)`` with both
  fractions floored at ``PSI_FLOOR``; beside the test, for reading and for the ``drift`` state.
* ``thresholds``: per threshold ``t`` the rules use, the fraction of non-missing rows ``<= t``
  in the stored and in the new data, and the difference (``moved``). ``exact`` is false for a
  threshold that is not a stored edge (a rule edited after the fit): the stored fraction then
  counts half of the bin ``t`` falls in. ``sets``: the same for each category set of the rules.

States (cut-offs ``DRIFT_P``, ``WARN_P``, ``PSI_DRIFT``):

* ``drift``: ``p_value < DRIFT_P`` (0.001) and ``psi >= PSI_DRIFT`` (0.1): a shift both
  significant and large;
* ``warn``: ``p_value < WARN_P`` (0.05) and not ``drift``;
* ``ok``: otherwise.

With no shift, a feature shows ``drift`` by chance with probability below ``DRIFT_P`` and ``warn``
or ``drift`` with probability about ``WARN_P`` (the test's level; the chi-squared approximation
wants a few expected rows per cell, so tiny chunks are less exact). Drift is reported, never a
verdict: it does not change the audit's exit code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from rules_export import FeatureSummary, RuleSet
from rules_export.reference import InputError, input_columns

from ..learn.summaries import QUANTILE_BINS, bin_counts, thresholds
from .report import plain

__all__ = [
    "DRIFT_P",
    "MIN_CELL",
    "PSI_DRIFT",
    "PSI_FLOOR",
    "WARN_P",
    "DriftReport",
    "FeatureDrift",
    "NoReferenceError",
    "SetShift",
    "ThresholdShift",
    "drift",
    "drift_from_columns",
    "status_of",
]

DRIFT_P = 0.001
WARN_P = 0.05
PSI_DRIFT = 0.1
PSI_FLOOR = 1e-4
MIN_CELL = 5
NO_REFERENCE = (
    "no reference: the rule file stores no feature summaries (written at fit since format 1.2); "
    "refit, or audit without drift"
)


class NoReferenceError(InputError):
    """Drift was asked of a rule file that stores no feature summaries."""


@dataclass(frozen=True)
class ThresholdShift:
    """The mass on the low side (``<= threshold``) of one rule threshold, stored vs new."""

    threshold: float
    reference_below: float | None
    current_below: float | None
    moved: float | None
    exact: bool


@dataclass(frozen=True)
class SetShift:
    """The mass inside one category set of the rules, stored vs new."""

    categories: tuple[str, ...]
    reference_in: float | None
    current_in: float | None
    moved: float | None


@dataclass(frozen=True)
class FeatureDrift:
    """One feature: the test, the PSI, the state, and the counts it was computed from.

    ``reference_counts`` / ``current_counts``: per stored bin (numeric, see ``edges``) or per
    stored category (``categories``); ``*_missing``: rows without a value; ``current_other``:
    values outside the stored categories (numeric: 0)."""

    feature: str
    kind: str
    test: str
    statistic: float
    p_value: float
    dof: int
    psi: float
    status: str
    rows: int
    reference_rows: int
    missing_rate: float | None
    reference_missing_rate: float | None
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    reference_counts: tuple[int, ...]
    current_counts: tuple[int, ...]
    reference_missing: int
    current_missing: int
    reference_other: int
    current_other: int
    thresholds: tuple[ThresholdShift, ...]
    sets: tuple[SetShift, ...]

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class DriftReport:
    """The drift of every summarised feature; ``reference`` false (and ``note`` says why) when
    the rule file stores no summaries."""

    reference: bool
    features: tuple[FeatureDrift, ...]
    note: str = ""

    def status(self) -> str:
        """The worst state of any feature (``ok`` when there is none)."""
        states = {f.status for f in self.features}
        return "drift" if "drift" in states else "warn" if "warn" in states else "ok"

    def drifted(self) -> tuple[FeatureDrift, ...]:
        return tuple(f for f in self.features if f.status == "drift")


def status_of(p_value: float, psi: float) -> str:
    """The state for a test's p-value and the PSI (the module doc's cut-offs)."""
    if p_value < DRIFT_P and psi >= PSI_DRIFT:
        return "drift"
    return "warn" if p_value < WARN_P else "ok"


def _numeric_groups(ref: np.ndarray) -> list[list[int]]:
    """Adjacent bins merged left to right until each group holds enough stored rows."""
    need = max(MIN_CELL, math.ceil(int(ref.sum()) / (2 * QUANTILE_BINS)))
    groups: list[list[int]] = []
    cur: list[int] = []
    acc = 0
    for i, c in enumerate(ref):
        cur.append(i)
        acc += int(c)
        if acc >= need:
            groups.append(cur)
            cur, acc = [], 0
    if cur:
        if groups:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


def _test(ref_cells: np.ndarray, cur_cells: np.ndarray) -> tuple[float, float, int, float]:
    """(chi-squared statistic, p-value, degrees of freedom, PSI) on two rows of cell counts."""
    keep = (ref_cells + cur_cells) > 0
    r, c = ref_cells[keep].astype(np.float64), cur_cells[keep].astype(np.float64)
    if r.sum() == 0 or c.sum() == 0:
        return 0.0, 1.0, 0, 0.0
    p = np.maximum(r / r.sum(), PSI_FLOOR)
    q = np.maximum(c / c.sum(), PSI_FLOOR)
    psi = float(np.sum((q - p) * np.log(q / p)))
    if r.shape[0] < 2:
        return 0.0, 1.0, 0, psi
    res = stats.chi2_contingency(np.stack([r, c]), correction=False)
    return float(res.statistic), float(res.pvalue), int(res.dof), psi


def _fraction(k: float, n: int) -> float | None:
    return k / n if n else None


def _moved(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _threshold_shifts(
    s: FeatureSummary, values: np.ndarray, cuts: Sequence[float]
) -> tuple[ThresholdShift, ...]:
    ref = np.asarray(s.counts, dtype=np.int64)
    n_ref = int(ref.sum())
    v = values[~np.isnan(values)]
    out = []
    for t in cuts:
        idx = int(np.searchsorted(s.edges, t, side="left"))
        exact = idx < len(s.edges) and s.edges[idx] == t
        below = float(ref[: idx + 1].sum()) if exact else float(ref[:idx].sum()) + ref[idx] / 2
        rb, cb = _fraction(below, n_ref), _fraction(float(np.sum(v <= t)), int(v.shape[0]))
        out.append(ThresholdShift(float(t), rb, cb, _moved(rb, cb), bool(exact)))
    return tuple(out)


def _set_shifts(rules: RuleSet, s: FeatureSummary, values: np.ndarray) -> tuple[SetShift, ...]:
    from rules_export import InSet

    sets = sorted(
        {
            c.values
            for r in rules.rules
            for c in r.conditions
            if isinstance(c, InSet) and c.feature == s.feature
        }
    )
    present = np.array([v is not None for v in values], dtype=bool)
    n_cur = int(present.sum())
    n_ref = sum(s.counts) + s.other
    index = {c: i for i, c in enumerate(s.categories)}
    out = []
    for cats in sets:
        ref_in = sum(s.counts[index[c]] for c in cats if c in index)
        chosen = set(cats)
        cur_in = sum(1 for v in values if v is not None and v in chosen)
        ri, ci = _fraction(ref_in, n_ref), _fraction(cur_in, n_cur)
        out.append(SetShift(tuple(cats), ri, ci, _moved(ri, ci)))
    return tuple(out)


def _numeric_drift(rules: RuleSet, s: FeatureSummary, values: np.ndarray) -> FeatureDrift:
    ref = np.asarray(s.counts, dtype=np.int64)
    cur, cur_missing = bin_counts(values, s.edges)
    groups = _numeric_groups(ref)
    rc = np.array([ref[g].sum() for g in groups] + [s.missing], dtype=np.int64)
    cc = np.array([cur[g].sum() for g in groups] + [cur_missing], dtype=np.int64)
    stat, p, dof, psi = _test(rc, cc)
    n = int(values.shape[0])
    return FeatureDrift(
        feature=s.feature,
        kind="numeric",
        test="chi2",
        statistic=stat,
        p_value=p,
        dof=dof,
        psi=psi,
        status=status_of(p, psi),
        rows=n,
        reference_rows=s.rows,
        missing_rate=_fraction(cur_missing, n),
        reference_missing_rate=_fraction(s.missing, s.rows),
        edges=s.edges,
        categories=(),
        reference_counts=s.counts,
        current_counts=tuple(int(v) for v in cur),
        reference_missing=s.missing,
        current_missing=cur_missing,
        reference_other=0,
        current_other=0,
        thresholds=_threshold_shifts(s, values, thresholds(rules, s.feature)),
        sets=(),
    )


def _categorical_drift(rules: RuleSet, s: FeatureSummary, values: np.ndarray) -> FeatureDrift:
    index = {c: i for i, c in enumerate(s.categories)}
    cur = np.zeros(len(s.categories), dtype=np.int64)
    missing = other = 0
    for v in values:
        if v is None:
            missing += 1
        elif v in index:
            cur[index[v]] += 1
        else:
            other += 1
    ref = np.asarray(s.counts, dtype=np.int64)
    big = ref >= MIN_CELL
    rc = np.concatenate([ref[big], [ref[~big].sum() + s.other, s.missing]])
    cc = np.concatenate([cur[big], [cur[~big].sum() + other, missing]])
    stat, p, dof, psi = _test(rc, cc)
    n = int(values.shape[0])
    return FeatureDrift(
        feature=s.feature,
        kind="categorical",
        test="chi2",
        statistic=stat,
        p_value=p,
        dof=dof,
        psi=psi,
        status=status_of(p, psi),
        rows=n,
        reference_rows=s.rows,
        missing_rate=_fraction(missing, n),
        reference_missing_rate=_fraction(s.missing, s.rows),
        edges=(),
        categories=s.categories,
        reference_counts=s.counts,
        current_counts=tuple(int(v) for v in cur),
        reference_missing=s.missing,
        current_missing=missing,
        reference_other=s.other,
        current_other=other,
        thresholds=(),
        sets=_set_shifts(rules, s, values),
    )


def drift_from_columns(rules: RuleSet, columns: dict[str, np.ndarray]) -> DriftReport:
    """Drift of each summarised feature from its column as ``input_columns`` converts it
    (float64 values, or ``str`` / ``None`` objects for a categorical feature)."""
    if not rules.feature_summaries:
        return DriftReport(False, (), NO_REFERENCE)
    out = []
    for s in rules.feature_summaries:
        if s.feature not in columns:  # a feature no rule reads any more (edited by hand)
            continue
        values = columns[s.feature]
        if s.kind == "numeric":
            out.append(_numeric_drift(rules, s, np.asarray(values, dtype=np.float64)))
        else:
            out.append(_categorical_drift(rules, s, np.asarray(values, dtype=object)))
    return DriftReport(True, tuple(out))


def drift(rules: RuleSet, X: Any, require: bool = False) -> DriftReport:
    """Drift of the features the rules read in ``X`` against the summaries stored at fit.

    A rule file without summaries gives a report with ``reference=False``, or a
    :class:`NoReferenceError` with ``require=True``."""
    if not rules.feature_summaries:
        if require:
            raise NoReferenceError(NO_REFERENCE)
        return DriftReport(False, (), NO_REFERENCE)
    cols, _ = input_columns(rules, X)
    return drift_from_columns(rules, cols)
