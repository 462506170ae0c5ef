"""Exact binomial bounds and the fixed-sequence (Learn-then-Test) certification.

* :func:`precision_lower_bound`: one-sided Clopper-Pearson lower bound on a rule's precision.
* :func:`error_upper_bound`: one-sided Clopper-Pearson upper bound on an error rate.
* :func:`binomial_pvalue`: exact p-value of ``H: rate > eps`` after ``k`` events in ``n`` trials,
  ``P(Binom(n, eps) <= k)``; small when the observed rate is well below ``eps``.
* :func:`fixed_sequence`: walk hypotheses in a fixed order, reject while ``p <= alpha``.
* :func:`certify`: the prefixes of an ordered rule list, each tested on held-out rows for the
  overall error cap and every per-class cap (intersection-union: all must reject).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "Certification",
    "binomial_pvalue",
    "certify",
    "error_upper_bound",
    "failing_tests",
    "fallback_procedure",
    "fixed_sequence",
    "min_certifiable",
    "precision_lower_bound",
    "prefix_counts",
    "rows_needed",
    "sequence_pvalues",
]


def precision_lower_bound(correct, n, confidence: float) -> np.ndarray:
    """Clopper-Pearson one-sided lower bound on ``correct / n`` at ``confidence`` (0 if n == 0)."""
    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = stats.beta.ppf(1.0 - confidence, k, n - k + 1.0)
    b = np.where(k <= 0, 0.0, b)
    return np.clip(np.nan_to_num(b, nan=0.0), 0.0, 1.0)


def error_upper_bound(errors, n, confidence: float) -> np.ndarray:
    """Clopper-Pearson one-sided upper bound on ``errors / n`` at ``confidence`` (1 if n == 0)."""
    e = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = stats.beta.ppf(confidence, e + 1.0, n - e)
    b = np.where(e >= n, 1.0, b)
    return np.clip(np.nan_to_num(b, nan=1.0), 0.0, 1.0)


def binomial_pvalue(errors, n, max_error: float) -> np.ndarray:
    """Exact p-value of ``H: error rate > max_error`` given ``errors`` in ``n`` (1 if n == 0)."""
    e = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    p = stats.binom.cdf(e, n, max_error)
    return np.where(n <= 0, 1.0, np.clip(p, 0.0, 1.0))


def count_text(n: int) -> str:
    """A row count for a message: ``12,345``, or ``about 3.0e+301`` past a trillion."""
    return f"{n:,}" if n < 10**12 else f"about {float(n):.1e}"


def rows_needed(max_error: float, confidence: float) -> int:
    """Error-free rows needed to bound an error rate by ``max_error``: ``(1-eps)^m <= 1-conf``.

    A ``ValueError`` when no number of rows does (``confidence`` rounds to 1, or
    ``max_error`` to 0, in float64)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.log(1.0 - confidence) / np.log1p(-max_error)
    if not np.isfinite(m):
        raise ValueError(
            f"confidence={confidence!r} with max_error={max_error!r}: no number of rows can "
            "certify that (confidence too close to 1, or max_error to 0)"
        )
    return int(np.ceil(m))


def min_certifiable(rows: int, confidence: float) -> float:
    """Smallest ``max_error`` that ``rows`` error-free covered rows certify (inverse of
    :func:`rows_needed`): ``1 - (1 - confidence) ** (1 / rows)``."""
    return float(-np.expm1(np.log(1.0 - confidence) / max(rows, 1)))


def fixed_sequence(pvalues: np.ndarray, alpha: float, start: int = 0) -> int:
    """Fixed-sequence testing: hypotheses ``start, start+1, ...`` in order, each at level alpha.

    ``pvalues`` is (n_hypotheses,) or (n_hypotheses, n_tests); a hypothesis is rejected when all
    its tests have ``p <= alpha`` (intersection-union). Returns the number of hypotheses rejected
    from ``start`` on before the first failure; the family-wise error stays below ``alpha``
    because testing stops at the first hypothesis that is not rejected.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    k = 0
    for i in range(start, p.shape[0]):
        if np.all(p[i] <= alpha):
            k += 1
        else:
            break
    return k


def fallback_procedure(
    pvalues: np.ndarray, weights: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """The fallback procedure (Wiens 2003): hypotheses tested in a fixed order, hypothesis ``i``
    at level ``alpha * weights[i]`` plus the level of hypothesis ``i - 1`` when that one was
    rejected. With one weight of 1 it is fixed-sequence testing from that hypothesis; unlike
    fixed-sequence testing, a hypothesis with its own weight is still tested after a failure.
    The family-wise error stays below ``alpha`` when ``sum(weights) <= 1``.

    ``pvalues``: (n_hypotheses,) or (n_hypotheses, n_tests), all tests of a hypothesis must
    pass (intersection-union). Returns (level per hypothesis, rejected per hypothesis)."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    w = np.asarray(weights, dtype=np.float64)
    if w.shape[0] != p.shape[0] or np.any(w < 0) or w.sum() > 1.0 + 1e-12:
        raise ValueError("weights: one non-negative weight per hypothesis, summing to <= 1")
    levels = np.zeros(p.shape[0])
    rejected = np.zeros(p.shape[0], dtype=bool)
    carry = 0.0
    for i in range(p.shape[0]):
        levels[i] = alpha * w[i] + carry
        rejected[i] = levels[i] > 0 and bool(np.all(p[i] <= levels[i]))
        carry = levels[i] if rejected[i] else 0.0
    return levels, rejected


def failing_tests(p_row: np.ndarray, level: float, class_caps: Sequence[tuple[int, float]]) -> str:
    """Names of the tests of one hypothesis whose p-value is above ``level``."""
    return ", ".join(
        "overall error" if j == 0 else f"class {class_caps[j - 1][0]} cap"
        for j in range(p_row.shape[0])
        if p_row[j] > level
    )


@dataclass(frozen=True)
class Certification:
    kept: int  # number of rules kept (a prefix of the ordered list)
    start: int  # first prefix length tested
    rows: int
    covered: int
    errors: int
    error_upper_bound: float | None
    pvalues: tuple[float, ...]  # overall p-value per tested prefix
    reason: str


def prefix_counts(
    first_rule: np.ndarray,
    rule_labels: np.ndarray,
    y: np.ndarray,
    class_caps: Sequence[tuple[int, float]] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per prefix ``k`` (index ``k - 1``) of an ordered rule list: rows covered, rows answered
    wrongly, and per ``class_caps`` entry the rows of that class answered with another label
    (shape ``(n_rules, len(class_caps))``). ``first_rule[i]``: first rule matching row ``i``."""
    n_rules = int(rule_labels.shape[0])
    covered = first_rule >= 0
    r = first_rule[covered]
    yc = y[covered]
    wrong = rule_labels[r] != yc
    m = np.cumsum(np.bincount(r, minlength=n_rules))
    e = np.cumsum(np.bincount(r[wrong], minlength=n_rules))
    x = np.zeros((n_rules, len(class_caps)), np.int64)
    for j, (c, _) in enumerate(class_caps):
        x[:, j] = np.cumsum(np.bincount(r[wrong & (yc == c)], minlength=n_rules))
    return m, e, x


def sequence_pvalues(
    covered: np.ndarray,
    errors: np.ndarray,
    class_errors: np.ndarray,
    class_rows: Sequence[int],
    max_error: float,
    class_caps: Sequence[tuple[int, float]] = (),
) -> np.ndarray:
    """``(n_hypotheses, 1 + len(class_caps))`` exact p-values: the overall error test, then one
    per class cap (``class_rows[j]`` rows of the capped class)."""
    tests = [binomial_pvalue(errors, covered, max_error)]
    for j, (_, cap) in enumerate(class_caps):
        tests.append(
            binomial_pvalue(class_errors[:, j], np.full(covered.shape[0], class_rows[j]), cap)
        )
    return np.stack(tests, axis=1)


def certify(
    first_rule: np.ndarray,
    rule_labels: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    max_error: float,
    confidence: float,
    class_caps: Sequence[tuple[int, float]] = (),
    start: int = 1,
) -> Certification:
    """Certify the longest prefix of an ordered rule list on held-out rows.

    ``first_rule[i]``: index of the first rule matching held-out row ``i`` (-1: none);
    ``rule_labels[r]``: class index rule ``r`` answers; ``y``: class indices of the rows.
    Prefix ``k`` (rules ``0..k-1``) is tested for ``H_k: error on covered rows > max_error``
    (exact binomial tail) and, for each ``(c, eps_c)`` in ``class_caps``, ``H_kc: fraction of
    class-c rows answered with another label > eps_c``. Prefixes ``start, start+1, ...`` are
    tested in order (fixed sequence, level ``1 - confidence``); the longest run of rejected
    prefixes from ``start`` is kept.
    """
    n_rules = int(rule_labels.shape[0])
    alpha = 1.0 - confidence
    n_rows = int(y.shape[0])
    if n_rules == 0:
        return Certification(0, start, n_rows, 0, 0, None, (), "no rules to certify")
    start = int(min(max(start, 1), n_rules))
    m, e, x = prefix_counts(first_rule, rule_labels, y, class_caps)
    class_rows = [int(np.sum(y == c)) for c, _ in class_caps]
    p = sequence_pvalues(m, e, x, class_rows, max_error, class_caps)
    kept_run = fixed_sequence(p, alpha, start=start - 1)
    kept = start - 1 + kept_run if kept_run else 0
    tested = p[start - 1 : start - 1 + kept_run + 1, 0]
    if kept:
        cov, err = int(m[kept - 1]), int(e[kept - 1])
        ub = float(error_upper_bound(err, cov, confidence))
        reason = (
            f"certified {kept} of {n_rules} rules"
            if kept == n_rules
            else f"certified the first {kept} of {n_rules} rules; prefix {kept + 1} failed"
        )
    else:
        cov, err, ub = 0, 0, None
        i = start - 1
        reason = (
            f"no prefix certified: prefix {start} ({int(m[i])} covered rows, {int(e[i])} "
            f"errors) fails the {failing_tests(p[i], alpha, class_caps)} test at level {alpha:.3g}"
        )
    return Certification(kept, start, n_rows, cov, err, ub, tuple(float(v) for v in tested), reason)
