"""Re-measure a fitted rule set on new labelled data: does each rule, and the set, keep its bound?

Counting. Each row is answered by the FIRST rule that matches it (the cascade's semantics), so a
rule's rows, precision and coverage are those of the rows it answers; rows no rule matches go to
the model. ``audit_counts`` is the one table everything is derived from: rows per (rule, class),
one extra row for "no rule" and one extra column for labels that are not classes of the rule set.
``audit_sql`` computes the same table as one aggregate SQL query, for data that lives in a
warehouse.

Tests (all one-sided, exact binomial; Clopper-Pearson bounds are their duals):

* rule ``i`` claims a precision lower bound ``L_i`` (``stats.precision_lower_bound``). It is
  **broken** when the new data reject ``precision_i >= L_i``: with ``k`` correct of the ``n``
  rows it answers, ``P(Binomial(n, L_i) <= k) < alpha_test``, i.e. the upper Clopper-Pearson
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

Also reported, for reading not for the verdict: each rule's precision and its lower Clopper-Pearson
bound at the guarantee's confidence (what a refit on this data would claim), the set's error upper
bound at that confidence (``recertified``: it is within ``max_error``), and coverage drift: the
fraction of rows a rule answers now against the fraction at fit (``support`` / validation rows, the
split sizes the learner records in ``rules.metadata["split_rows"]``; ``None`` when unknown).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from scipy import stats as _st
from sqlglot import exp

from rules_export import RuleSet
from rules_export.reference import InputError

__all__ = [
    "AuditReport",
    "ClassCapAudit",
    "RuleAudit",
    "SetAudit",
    "audit",
    "audit_counts",
    "audit_from_counts",
    "audit_sql",
    "counts_from_sql_rows",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "label_indices",
]

DEFAULT_ALPHA = 0.05
DEFAULT_CONFIDENCE = 0.95


# --- bounds ------------------------------------------------------------------------------------
def clopper_pearson_lower(k: int, n: int, confidence: float) -> float | None:
    """One-sided lower bound of a binomial proportion (``k`` successes of ``n``)."""
    if n <= 0:
        return None
    if k <= 0:
        return 0.0
    return float(_st.beta.ppf(1.0 - confidence, k, n - k + 1))


def clopper_pearson_upper(k: int, n: int, confidence: float) -> float | None:
    """One-sided upper bound of a binomial proportion (``k`` successes of ``n``)."""
    if n <= 0:
        return None
    if k >= n:
        return 1.0
    return float(_st.beta.ppf(confidence, k + 1, n - k))


def _p_at_most(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k): small when ``k`` is too low for a proportion >= p."""
    return float(_st.binom.cdf(k, n, p))


def _p_at_least(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= k): small when ``k`` is too high for a proportion <= p."""
    return 1.0 if k <= 0 else float(_st.binom.sf(k - 1, n, p))


# --- labels ------------------------------------------------------------------------------------
def _norm_label(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _key(v: Any) -> tuple[int, Any]:
    # True == 1 in Python, but they are different labels
    return (0, v) if isinstance(v, bool) else (1, v) if isinstance(v, int) else (2, v)


def label_indices(rules: RuleSet, y: Any) -> np.ndarray:
    """Each label's index in ``rules.classes`` (int64); ``len(classes)`` for any other label."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise InputError(f"labels must be one-dimensional, got shape {arr.shape}")
    lookup = {_key(c): i for i, c in enumerate(rules.classes)}
    other = len(rules.classes)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    try:
        uniq, inverse = np.unique(arr, return_inverse=True)
    except TypeError:  # mixed object values: no order
        return np.fromiter(
            (lookup.get(_key(_norm_label(v)), other) for v in arr), dtype=np.int64, count=arr.size
        )
    codes = np.array([lookup.get(_key(_norm_label(u)), other) for u in uniq], dtype=np.int64)
    idx = codes[inverse.reshape(-1)]
    if np.all(idx == other):
        seen = ", ".join(repr(_norm_label(u)) for u in uniq[:5])
        raise InputError(
            f"none of the labels ({seen}{', ...' if len(uniq) > 5 else ''}) is a class of the "
            f"rule set {list(rules.classes)!r}"
        )
    return idx


# --- counting ----------------------------------------------------------------------------------
def _match(rules: RuleSet, X: Any) -> np.ndarray:
    from rules_export.reference import match

    return np.asarray(match(rules, X), dtype=np.int64)


def audit_counts(rules: RuleSet, X: Any, y: Any, rule_ids: Any = None) -> np.ndarray:
    """Rows per (rule, class): shape ``(len(rules) + 1, len(classes) + 1)``.

    Row ``i`` is rule ``i``; the last row counts rows no rule matches. Column ``c`` is class
    ``rules.classes[c]``; the last column counts labels that are not classes of the rule set.
    ``rule_ids`` (the first matching rule per row, ``-1`` for none) skips evaluating the rules.
    """
    ids = _match(rules, X) if rule_ids is None else np.asarray(rule_ids, dtype=np.int64)
    cls = label_indices(rules, y)
    if cls.shape[0] != ids.shape[0]:
        raise InputError(f"got {cls.shape[0]} labels for {ids.shape[0]} rows")
    n_rules, n_cols = len(rules.rules), len(rules.classes) + 1
    row = np.where(ids < 0, n_rules, ids)
    flat = np.bincount(row * n_cols + cls, minlength=(n_rules + 1) * n_cols)
    return flat.reshape(n_rules + 1, n_cols).astype(np.int64)


# --- report ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleAudit:
    """One rule on the new data (rows: the rows it answers, first match wins)."""

    index: int
    rule: str
    label: Any
    rows: int
    coverage: float
    correct: int
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
    """The rule set: coverage and the error on covered rows against the guarantee."""

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
            **{f.name: _plain(getattr(self, f.name)) for f in fields(self)},
        }

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys, shortest float repr), ending in a newline."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, allow_nan=False) + "\n"


def _plain(v: Any) -> Any:
    if hasattr(v, "__dataclass_fields__"):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def audit_from_counts(rules: RuleSet, counts: Any, alpha: float = DEFAULT_ALPHA) -> AuditReport:
    """Build the report from the ``audit_counts`` table (from Python or from SQL)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    counts = np.asarray(counts, dtype=np.int64)
    n_rules, n_classes = len(rules.rules), len(rules.classes)
    if counts.shape != (n_rules + 1, n_classes + 1):
        raise ValueError(
            f"counts must have shape {(n_rules + 1, n_classes + 1)}, got {counts.shape}"
        )
    g = rules.guarantee
    confidence = g.confidence if g is not None else DEFAULT_CONFIDENCE
    class_index = {_key(c): i for i, c in enumerate(rules.classes)}
    n_rows = int(counts.sum())
    split_rows = rules.metadata.get("split_rows", {})
    val_rows = split_rows.get("validation") if isinstance(split_rows, Mapping) else None
    val_rows = val_rows if isinstance(val_rows, int) and val_rows > 0 else None

    # how many tests can reject: Bonferroni over those
    rule_rows = counts[:n_rules].sum(axis=1)
    tests = sum(
        1
        for i, r in enumerate(rules.rules)
        if r.stats.precision_lower_bound is not None and rule_rows[i] > 0
    )
    covered = int(rule_rows.sum())
    if g is not None and covered > 0:
        tests += 1
    class_rows = counts.sum(axis=0)
    caps = g.per_class_max_error if g is not None else ()
    tests += sum(1 for lab, _ in caps if _lab_rows(class_index, class_rows, lab) > 0)
    a_test = alpha / max(tests, 1)

    rule_reports = []
    errors = 0
    wrong_by_class = np.zeros(n_classes + 1, dtype=np.int64)
    for i, r in enumerate(rules.rules):
        row = counts[i]
        n = int(row.sum())
        ci = class_index[_key(r.label)]
        k = int(row[ci])
        wrong = row.copy()
        wrong[ci] = 0
        wrong_by_class += wrong
        errors += n - k
        claimed = r.stats.precision_lower_bound
        p = _p_at_most(k, n, claimed) if claimed is not None and n > 0 else None
        fit_rows = r.stats.support if r.stats.validation_counts else None
        fit_cov = _ratio(fit_rows, val_rows) if fit_rows is not None else None
        cov = n / n_rows if n_rows else 0.0
        rule_reports.append(
            RuleAudit(
                index=i,
                rule=r.describe(),
                label=r.label,
                rows=n,
                coverage=cov,
                correct=k,
                precision=k / n if n else None,
                precision_lower_bound=clopper_pearson_lower(k, n, confidence),
                precision_upper_bound=clopper_pearson_upper(k, n, 1.0 - a_test),
                claimed_lower_bound=claimed,
                p_value=p,
                broken=p is not None and p < a_test,
                fit_rows=fit_rows,
                fit_coverage=fit_cov,
                coverage_drift=cov - fit_cov if fit_cov is not None else None,
                coverage_ratio=_ratio(cov, fit_cov),
                class_counts=tuple(int(v) for v in row),
            )
        )

    per_class = []
    for lab, cap in caps:
        n_c = _lab_rows(class_index, class_rows, lab)
        w = int(wrong_by_class[class_index[_key(lab)]]) if _key(lab) in class_index else 0
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
        uncovered_class_counts=tuple(int(v) for v in counts[n_rules]),
        other_label_rows=int(class_rows[n_classes]),
    )


def _lab_rows(class_index: Mapping[Any, int], class_rows: np.ndarray, label: Any) -> int:
    i = class_index.get(_key(label))
    return int(class_rows[i]) if i is not None else 0


def audit(
    rules: RuleSet, X: Any, y: Any, alpha: float = DEFAULT_ALPHA, rule_ids: Any = None
) -> AuditReport:
    """Audit ``rules`` on features ``X`` and labels ``y`` (see the module doc for the tests)."""
    return audit_from_counts(rules, audit_counts(rules, X, y, rule_ids=rule_ids), alpha=alpha)


# --- SQL ---------------------------------------------------------------------------------------
def _class_column(i: int) -> str:
    return f"n_class_{i}"


def _label_literal(label: Any) -> exp.Expression:
    if isinstance(label, bool):
        return exp.Boolean(this=label)
    if isinstance(label, int):
        lit = exp.Literal.number(abs(label))
        return exp.Neg(this=lit) if label < 0 else lit
    return exp.Literal.string(str(label))


def audit_sql(
    rules: RuleSet,
    table: str | exp.Expression,
    target: str,
    dialect: str = "duckdb",
    *,
    pretty: bool = False,
) -> str:
    """The ``audit_counts`` table as ONE aggregate query, for data in a warehouse.

    ``SELECT rule_id, COUNT(*) AS n_rows, SUM(CASE WHEN target = <class 0> ...) AS n_class_0, ...
    FROM (SELECT <rule-id expression> AS rule_id, target FROM table) GROUP BY rule_id``, where
    the rule-id expression is ``rules_export``'s (the same semantics as every evaluator). Feed the
    result rows to :func:`counts_from_sql_rows` and then :func:`audit_from_counts`. ``table`` is
    a name (quoted as one identifier) or a sqlglot expression (e.g. a ``read_parquet(...)`` call).
    The target column must hold the classes' type (integers for integer classes, and so on).
    """
    from rules_export.sql import get_dialect, rule_id_expression

    d = get_dialect(dialect)
    rid = exp.to_identifier("rule_id", quoted=True)
    tgt = exp.to_identifier("target", quoted=True)
    source = (
        exp.Table(this=exp.to_identifier(table, quoted=True)) if isinstance(table, str) else table
    )
    inner = exp.select(
        exp.alias_(rule_id_expression(rules, d), rid.copy()),
        exp.alias_(exp.column(exp.to_identifier(target, quoted=True)), tgt.copy()),
    ).from_(exp.alias_(source, "audit_input", table=True, quoted=True))
    per_class = [
        exp.alias_(
            exp.Sum(
                this=exp.Case(
                    ifs=[
                        exp.If(
                            this=exp.EQ(this=exp.column(tgt.copy()), expression=_label_literal(c)),
                            true=exp.Literal.number(1),
                        )
                    ],
                    default=exp.Literal.number(0),
                )
            ),
            exp.to_identifier(_class_column(i), quoted=True),
        )
        for i, c in enumerate(rules.classes)
    ]
    query = (
        exp.select(
            exp.column(rid.copy()),
            exp.alias_(exp.Count(this=exp.Star()), exp.to_identifier("n_rows", quoted=True)),
            *per_class,
        )
        .from_(exp.alias_(exp.Subquery(this=inner), "audit_rows", table=True, quoted=True))
        .group_by(exp.column(rid.copy()))
        .order_by(exp.column(rid.copy()))
    )
    return query.sql(dialect=d, pretty=pretty)


def counts_from_sql_rows(rules: RuleSet, rows: Sequence[Sequence[Any]]) -> np.ndarray:
    """The ``audit_counts`` table from the rows of ``audit_sql``'s query.

    Each row is ``(rule_id, rows, n_class_0, ..., n_class_{C-1})``; ``rule_id`` -1 is "no rule".
    """
    n_rules, n_classes = len(rules.rules), len(rules.classes)
    out = np.zeros((n_rules + 1, n_classes + 1), dtype=np.int64)
    for row in rows:
        rid, total, *per_class = (int(v) if v is not None else 0 for v in row)
        if len(per_class) != n_classes:
            raise ValueError(f"expected {n_classes} class counts per row, got {len(per_class)}")
        if not -1 <= rid < n_rules:
            raise ValueError(f"rule_id {rid} out of range for {n_rules} rules")
        r = n_rules if rid < 0 else rid
        out[r, :n_classes] += per_class
        out[r, n_classes] += total - sum(per_class)
    return out
