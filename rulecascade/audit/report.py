"""Re-measure a fitted rule set on new labelled data: does each rule, and the set, keep its bound?

Two count tables hold everything (``AuditCounts``; rows x classes, plus a column for labels that
are not classes of the rule set):

* ``answered``: rows per (rule that ANSWERS the row, class). The first matching rule answers a
  row (the cascade's semantics); the last table row counts rows no rule matches. The set's
  coverage and error, and the per-class caps, are measured on it - as the certification was.
* ``covers``: rows per (rule whose conditions hold, class), order ignored. A rule's precision
  bound and its support were measured this way at fit (on the validation split), so the claim
  test and the coverage drift of a rule use this table: like is compared with like, and a rule
  that later rules overlap does not show spurious drift.

``audit_sql`` computes both tables in ONE aggregate SQL query, for data that lives in a warehouse.

Tests (one-sided, exact binomial; Clopper-Pearson bounds are their duals):

* rule ``i`` claims a precision lower bound ``L_i`` (``stats.precision_lower_bound``). It is
  **broken** when the new data reject ``precision_i >= L_i``: with ``k`` correct of the ``n``
  rows it covers, ``P(Binomial(n, L_i) <= k) < alpha_test``, i.e. the upper Clopper-Pearson
  bound of its precision at level ``alpha_test`` lies below ``L_i``. A precision a little under
  ``L_i`` by chance does not break it; a rule with no rows never breaks.
* the set was fitted for ``max_error`` (``rules.guarantee``): the error of the rules on the rows
  they answer (vs the labels given: true labels for a ``truth`` guarantee, the model's outputs
  for ``fidelity``). It is **broken** when ``P(Binomial(covered, max_error) >= errors) <
  alpha_test``: the lower bound of the error at level ``alpha_test`` exceeds ``max_error``.
* each per-class cap ``(c, eps_c)``: the fraction of the rows of class ``c`` that a rule with
  another label answers. Broken when ``P(Binomial(rows_c, eps_c) >= wrong_c) < alpha_test``.

``alpha`` is family-wise: ``alpha_test = alpha / m`` (Bonferroni) over the ``m`` tests that have
rows, so when every claim holds, the chance that an audit reports any breakage is at most
``alpha`` - a nightly job does not fail on noise.

Also reported, for reading, not for the verdict: each rule's precision and its lower
Clopper-Pearson bound at the guarantee's confidence (what a refit on this data would claim), the
precision on the rows it answers, the set's error upper bound at that confidence
(``recertified``: within ``max_error``), and coverage drift: the fraction of rows a rule covers
now minus the fraction at fit (``support`` / validation rows; the split sizes come from
``rules.metadata["split_rows"]`` or the learner's ``rules.metadata["rows"]``; ``None`` when
unknown), and the set's coverage now against its coverage on the certification split.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import stats as _st

from rules_export import RuleSet
from rules_export.model import label_key, label_value
from rules_export.reference import InputError

from ..data import check_labels_present
from ..learn.bounds import binomial_pvalue, error_upper_bound, precision_lower_bound
from ..serve.evaluate import match

__all__ = [
    "AuditCounts",
    "AuditReport",
    "ClassCapAudit",
    "RuleAudit",
    "SetAudit",
    "audit",
    "audit_counts",
    "audit_from_counts",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "cover_masks",
    "cover_masks_from_columns",
    "label_indices",
    "split_rows",
]

DEFAULT_ALPHA = 0.05
DEFAULT_CONFIDENCE = 0.95


# --- bounds (the learner's, with "unknown" where there are no rows) ---------------------------
def clopper_pearson_lower(k: int, n: int, confidence: float) -> float | None:
    """One-sided lower bound of a binomial proportion (``k`` successes of ``n``)."""
    return None if n <= 0 else float(precision_lower_bound(k, n, confidence))


def clopper_pearson_upper(k: int, n: int, confidence: float) -> float | None:
    """One-sided upper bound of a binomial proportion (``k`` successes of ``n``)."""
    return None if n <= 0 else float(error_upper_bound(k, n, confidence))


def _p_at_most(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k): small when ``k`` is too low for a proportion >= p."""
    return float(binomial_pvalue(k, n, p))


def _p_at_least(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k): small when ``k`` is too high for a proportion <= p."""
    return 1.0 if k <= 0 else float(_st.binom.sf(k - 1, n, p))


# --- labels ------------------------------------------------------------------------------------
def label_indices(rules: RuleSet, y: Any) -> np.ndarray:
    """Each label's index in ``rules.classes`` (int64); ``len(classes)`` for any other label."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(f"labels must be one-dimensional, got shape {arr.shape}")
    lookup = {label_key(c): i for i, c in enumerate(rules.classes)}
    other = len(rules.classes)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        uniq, inverse = np.unique(arr, return_inverse=True)
    except TypeError:  # mixed object values: no order
        return np.fromiter(
            (lookup.get(label_key(label_value(v)), other) for v in arr),
            dtype=np.int64,
            count=arr.size,
        )
    codes = np.array([lookup.get(label_key(label_value(u)), other) for u in uniq], dtype=np.int64)
    idx = codes[inverse.reshape(-1)]
    if np.all(idx == other):
        seen = ", ".join(repr(label_value(u)) for u in uniq[:5])
        raise InputError(
            f"none of the labels ({seen}{', ...' if len(uniq) > 5 else ''}) is a class of the "
            f"rule set {list(rules.classes)!r}"
        )
    return idx


# --- counting ----------------------------------------------------------------------------------
def cover_masks(rules: RuleSet, X: Any) -> list[np.ndarray]:
    """Per rule, the rows where all its conditions hold (rule order ignored)."""
    from rules_export.reference import input_columns

    return cover_masks_from_columns(rules, *input_columns(rules, X))


def cover_masks_from_columns(
    rules: RuleSet, cols: Mapping[str, np.ndarray], n_rows: int
) -> list[np.ndarray]:
    """:func:`cover_masks` from the columns ``rules_export.reference.input_columns`` gives."""
    from rules_export.reference import condition_mask

    masks = []
    for r in rules.rules:
        m = np.ones(n_rows, dtype=bool)
        for c in r.conditions:
            m &= condition_mask(c, cols[c.feature])
        masks.append(m)
    return masks


@dataclass(frozen=True)
class AuditCounts:
    """The two count tables an audit is computed from (see the module doc).

    ``answered``: shape ``(n_rules + 1, n_classes + 1)``; row ``i`` = rows rule ``i`` answers,
    the last row = rows no rule matches. ``covers``: shape ``(n_rules, n_classes + 1)``; row
    ``i`` = rows where rule ``i``'s conditions hold. Column ``c`` is ``rules.classes[c]``; the
    last column counts labels that are not classes of the rule set.
    """

    answered: np.ndarray
    covers: np.ndarray

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AuditCounts)
            and np.array_equal(self.answered, other.answered)
            and np.array_equal(self.covers, other.covers)
        )

    __hash__ = None  # type: ignore[assignment]


def audit_counts(rules: RuleSet, X: Any, y: Any, rule_ids: Any = None) -> AuditCounts:
    """Count rows per (rule, class), as answered (first match) and as covered (any order).

    ``rule_ids`` (the first matching rule per row, ``-1`` for none) skips evaluating the rule
    order again.
    """
    ids = match(rules, X) if rule_ids is None else np.asarray(rule_ids, dtype=np.int64)
    check_labels_present(np.asarray(y))
    cls = label_indices(rules, y)
    if cls.shape[0] != ids.shape[0]:
        raise InputError(f"got {cls.shape[0]} labels for {ids.shape[0]} rows")
    n_rules, n_cols = len(rules.rules), len(rules.classes) + 1
    row = np.where(ids < 0, n_rules, ids)
    flat = np.bincount(row * n_cols + cls, minlength=(n_rules + 1) * n_cols)
    answered = flat.reshape(n_rules + 1, n_cols).astype(np.int64)
    covers = np.zeros((n_rules, n_cols), dtype=np.int64)
    for i, m in enumerate(cover_masks(rules, X) if n_rules else ()):
        covers[i] = np.bincount(cls[m], minlength=n_cols)
    return AuditCounts(answered, covers)


# --- report ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleAudit:
    """One rule on the new data.

    ``rows``/``coverage``/``correct``/``answered_precision``: the rows it answers (first match).
    ``covers``/``covers_fraction``/``covers_correct``/``precision`` and the bounds: the rows its
    conditions hold on, as at fit; the claim test and the drift use these.
    """

    index: int
    rule: str
    label: Any
    rows: int
    coverage: float
    correct: int
    answered_precision: float | None
    covers: int
    covers_fraction: float
    covers_correct: int
    precision: float | None
    precision_lower_bound: float | None
    precision_upper_bound: float | None
    claimed_lower_bound: float | None
    p_value: float | None
    broken: bool
    fit_rows: int | None
    fit_coverage: float | None
    coverage_drift: float | None
    coverage_ratio: float | None
    class_counts: tuple[int, ...]


@dataclass(frozen=True)
class ClassCapAudit:
    """A per-class cap: rows of class ``label`` answered by a rule with another label."""

    label: Any
    max_error: float
    rows: int
    wrong: int
    error: float | None
    error_lower_bound: float | None
    error_upper_bound: float | None
    p_value: float | None
    broken: bool


@dataclass(frozen=True)
class SetAudit:
    """The rule set: coverage and the error on covered rows against the guarantee.

    ``certified``: whether the fit certified ``max_error`` (and the per-class caps). An
    uncertified guarantee (``certify=False``, or written by hand) is the target the rules were
    made for: it is tested the same way, and the report says it was not certified."""

    rows: int
    covered: int
    coverage: float
    errors: int
    error: float | None
    error_lower_bound: float | None
    error_upper_bound: float | None
    max_error: float | None
    mode: str | None
    p_value: float | None
    broken: bool
    recertified: bool | None
    fit_coverage: float | None
    coverage_drift: float | None
    per_class: tuple[ClassCapAudit, ...]
    certified: bool | None = None


@dataclass(frozen=True)
class AuditReport:
    """Everything ``audit`` measured; ``holds`` is the verdict, ``to_dict`` the exact record."""

    rows: int
    classes: tuple[Any, ...]
    alpha: float
    tests: int
    alpha_per_test: float
    confidence: float
    rules: tuple[RuleAudit, ...]
    set: SetAudit
    uncovered_class_counts: tuple[int, ...]
    other_label_rows: int

    @property
    def broken_rules(self) -> tuple[int, ...]:
        return tuple(r.index for r in self.rules if r.broken)

    @property
    def holds(self) -> bool:
        """No rule, set bound or per-class cap is broken."""
        return (
            not self.broken_rules
            and not self.set.broken
            and not any(c.broken for c in self.set.per_class)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "broken_rules": list(self.broken_rules),
            **{f.name: plain(getattr(self, f.name)) for f in fields(self)},
        }

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, shortest float repr), ending in a newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, allow_nan=False) + "\n"


def plain(v: Any) -> Any:
    """``v`` as JSON data: dataclasses as dicts, tuples as lists, non-finite floats as ``None``."""
    if hasattr(v, "__dataclass_fields__"):
        return {f.name: plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def split_rows(rules: RuleSet) -> dict[str, int]:
    """Rows per fit stage (growth, validation, certification, ...) as the learner recorded them
    in ``rules.metadata`` (``"split_rows"``, or the learner's ``"rows"``); empty when unknown."""
    for key in ("split_rows", "rows"):
        split = rules.metadata.get(key)
        if isinstance(split, Mapping) and split:
            return {
                str(k): v
                for k, v in split.items()
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0
            }
    return {}


def _validation_rows(rules: RuleSet) -> int | None:
    v = split_rows(rules).get("validation")
    return v if v else None


def audit_from_counts(
    rules: RuleSet, counts: AuditCounts, alpha: float = DEFAULT_ALPHA
) -> AuditReport:
    """Build the report from the count tables (from :func:`audit_counts` or from SQL)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    answered = np.asarray(counts.answered, dtype=np.int64)
    covers = np.asarray(counts.covers, dtype=np.int64)
    n_rules, n_classes = len(rules.rules), len(rules.classes)
    if answered.shape != (n_rules + 1, n_classes + 1) or covers.shape != (
        n_rules,
        n_classes + 1,
    ):
        raise ValueError(
            f"count tables must have shapes {(n_rules + 1, n_classes + 1)} and "
            f"{(n_rules, n_classes + 1)}, got {answered.shape} and {covers.shape}"
        )
    g = rules.guarantee
    confidence = g.confidence if g is not None else DEFAULT_CONFIDENCE
    class_index = {label_key(c): i for i, c in enumerate(rules.classes)}
    n_rows = int(answered.sum())
    val_rows = _validation_rows(rules)

    # Bonferroni over the tests that can reject (those with rows)
    cover_rows = covers.sum(axis=1)
    covered = int(answered[:n_rules].sum())
    class_rows = answered.sum(axis=0)
    caps = g.per_class_max_error if g is not None else ()
    tests = sum(
        1
        for i, r in enumerate(rules.rules)
        if r.stats.precision_lower_bound is not None and cover_rows[i] > 0
    )
    tests += int(g is not None and covered > 0)
    tests += sum(1 for lab, _ in caps if _lab_rows(class_index, class_rows, lab) > 0)
    a_test = alpha / max(tests, 1)

    rule_reports = []
    errors = 0
    wrong_by_class = np.zeros(n_classes + 1, dtype=np.int64)
    for i, r in enumerate(rules.rules):
        ci = class_index[label_key(r.label)]
        row = answered[i]
        n, k = int(row.sum()), int(row[ci])
        wrong = row.copy()
        wrong[ci] = 0
        wrong_by_class += wrong
        errors += n - k
        nc, kc = int(cover_rows[i]), int(covers[i, ci])
        claimed = r.stats.precision_lower_bound
        p = _p_at_most(kc, nc, claimed) if claimed is not None and nc > 0 else None
        fit_rows = r.stats.support if r.stats.validation_counts else None
        fit_cov = _ratio(fit_rows, val_rows) if fit_rows is not None else None
        cov_frac = nc / n_rows if n_rows else 0.0
        rule_reports.append(
            RuleAudit(
                index=i,
                rule=r.describe(),
                label=r.label,
                rows=n,
                coverage=n / n_rows if n_rows else 0.0,
                correct=k,
                answered_precision=k / n if n else None,
                covers=nc,
                covers_fraction=cov_frac,
                covers_correct=kc,
                precision=kc / nc if nc else None,
                precision_lower_bound=clopper_pearson_lower(kc, nc, confidence),
                precision_upper_bound=clopper_pearson_upper(kc, nc, 1.0 - a_test),
                claimed_lower_bound=claimed,
                p_value=p,
                broken=p is not None and p < a_test,
                fit_rows=fit_rows,
                fit_coverage=fit_cov,
                coverage_drift=cov_frac - fit_cov if fit_cov is not None else None,
                coverage_ratio=_ratio(cov_frac, fit_cov),
                class_counts=tuple(int(v) for v in row),
            )
        )

    per_class = []
    for lab, cap in caps:
        n_c = _lab_rows(class_index, class_rows, lab)
        w = int(wrong_by_class[class_index[label_key(lab)]]) if label_key(lab) in class_index else 0
        p = _p_at_least(w, n_c, cap) if n_c > 0 else None
        per_class.append(
            ClassCapAudit(
                label=lab,
                max_error=cap,
                rows=n_c,
                wrong=w,
                error=w / n_c if n_c else None,
                error_lower_bound=clopper_pearson_lower(w, n_c, 1.0 - a_test),
                error_upper_bound=clopper_pearson_upper(w, n_c, confidence),
                p_value=p,
                broken=p is not None and p < a_test,
            )
        )

    max_error = g.max_error if g is not None else None
    set_p = _p_at_least(errors, covered, max_error) if max_error is not None and covered else None
    upper = clopper_pearson_upper(errors, covered, confidence)
    fit_cov = (
        g.certification_covered / g.certification_rows
        if g is not None and g.certification_rows > 0
        else None
    )
    coverage = covered / n_rows if n_rows else 0.0
    set_report = SetAudit(
        rows=n_rows,
        covered=covered,
        coverage=coverage,
        errors=errors,
        error=errors / covered if covered else None,
        error_lower_bound=clopper_pearson_lower(errors, covered, 1.0 - a_test),
        error_upper_bound=upper,
        max_error=max_error,
        mode=g.mode if g is not None else None,
        p_value=set_p,
        broken=set_p is not None and set_p < a_test,
        recertified=(upper <= max_error) if upper is not None and max_error is not None else None,
        fit_coverage=fit_cov,
        coverage_drift=coverage - fit_cov if fit_cov is not None else None,
        per_class=tuple(per_class),
        certified=bool(g.certified) if g is not None else None,
    )
    return AuditReport(
        rows=n_rows,
        classes=tuple(rules.classes),
        alpha=float(alpha),
        tests=tests,
        alpha_per_test=a_test,
        confidence=confidence,
        rules=tuple(rule_reports),
        set=set_report,
        uncovered_class_counts=tuple(int(v) for v in answered[n_rules]),
        other_label_rows=int(class_rows[n_classes]),
    )


def _lab_rows(class_index: Mapping[Any, int], class_rows: np.ndarray, label: Any) -> int:
    i = class_index.get(label_key(label))
    return int(class_rows[i]) if i is not None else 0


def audit(
    rules: RuleSet, X: Any, y: Any, alpha: float = DEFAULT_ALPHA, rule_ids: Any = None
) -> AuditReport:
    """Audit ``rules`` on features ``X`` and labels ``y`` (see the module doc for the tests)."""
    return audit_from_counts(rules, audit_counts(rules, X, y, rule_ids=rule_ids), alpha=alpha)


# --- SQL ---------------------------------------------------------------------------------------
