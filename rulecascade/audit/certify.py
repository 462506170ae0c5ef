"""Re-certify a rule set edited by hand (a rule deleted, a threshold tightened, rules reordered).

The edited set is tested as one hypothesis on fresh labelled rows with the exact test the fit
uses (``rulecascade.learn.bounds``): ``H: error on the rows the rules answer > max_error`` is
rejected when ``binomial_pvalue(errors, covered, max_error) <= 1 - confidence``, and each
per-class cap ``(c, eps_c)`` likewise on the rows of class ``c`` answered with another label
(intersection-union: every test must reject). Rows whose label is not a class of the set count as
errors where a rule answers them. No prefix is searched and nothing is dropped: the set as
edited is certified, or refused with the figures. ``rows_needed`` says how many error-free covered
rows the bound needs at the least.

A certified set is returned with a new :class:`Guarantee` (``certified``, the error's upper
bound, the rows it was certified on), each rule's counts and precision lower bound measured on
the same rows, and ``metadata["certified_on"]`` naming the data (its fingerprint and row count).
The feature summaries stored at fit are kept: they stay the drift reference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from rules_export import Guarantee, RuleSet, RuleStats
from rules_export.model import label_key
from rules_export.reference import InputError, input_columns

from ..learn.bounds import binomial_pvalue, error_upper_bound, precision_lower_bound, rows_needed
from .report import audit_counts

__all__ = ["METHOD", "CapCheck", "Recertification", "certify_rules", "data_fingerprint"]

METHOD = "certify: exact binomial test of the edited set (one hypothesis)"


@dataclass(frozen=True)
class CapCheck:
    """One per-class cap on the certification rows."""

    label: Any
    max_error: float
    rows: int
    wrong: int
    p_value: float
    holds: bool


@dataclass(frozen=True)
class Recertification:
    """The outcome: ``holds`` and the figures; ``rules`` is the certified set (``None`` when
    refused)."""

    holds: bool
    reason: str
    rows: int
    covered: int
    errors: int
    max_error: float
    confidence: float
    p_value: float
    error_upper_bound: float | None
    rows_needed: int
    per_class: tuple[CapCheck, ...]
    rules: RuleSet | None

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "rules"}


def _plain(v: Any) -> Any:
    if hasattr(v, "__dataclass_fields__"):
        return {f.name: _plain(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def data_fingerprint(rules: RuleSet, X: Any, y: Any) -> str:
    """A content hash (sha256) of the columns the rules read and of the labels."""
    cols, n = input_columns(rules, X)
    h = hashlib.sha256(repr((sorted(cols), n)).encode())
    for name in sorted(cols):
        c = cols[name]
        h.update(c.tobytes() if c.dtype.kind == "f" else repr(c.tolist()).encode())
    yy = np.asarray(y)
    h.update(yy.tobytes() if yy.dtype.kind != "O" else repr(yy.tolist()).encode())
    return "sha256:" + h.hexdigest()


def certify_rules(
    rules: RuleSet,
    X: Any,
    y: Any,
    *,
    max_error: float | None = None,
    confidence: float | None = None,
    source: str = "",
    rule_ids: Any = None,
) -> Recertification:
    """Test the rule set as edited on labelled rows ``X``, ``y`` (see the module doc).

    ``max_error`` / ``confidence`` default to the set's guarantee; a set without one needs them.
    """
    g = rules.guarantee
    eps = max_error if max_error is not None else g.max_error if g is not None else None
    conf = confidence if confidence is not None else g.confidence if g is not None else None
    if eps is None or conf is None:
        raise InputError("the rule set has no guarantee: give max_error and confidence")
    if not (0.0 < eps < 1.0 and 0.0 < conf < 1.0):
        raise InputError(
            f"max_error and confidence must lie strictly between 0 and 1, got {eps}, {conf}"
        )
    if not rules.rules:
        raise InputError("the rule set has no rules to certify")
    counts = audit_counts(rules, X, y, rule_ids=rule_ids)
    answered, covers = counts.answered, counts.covers
    n_rules, n_classes = len(rules.rules), len(rules.classes)
    class_index = {label_key(c): j for j, c in enumerate(rules.classes)}
    rows = int(answered.sum())
    covered = int(answered[:n_rules].sum())
    wrong_by_class = np.zeros(n_classes + 1, dtype=np.int64)
    for i, r in enumerate(rules.rules):
        w = answered[i].copy()
        w[class_index[label_key(r.label)]] = 0
        wrong_by_class += w
    errors = int(wrong_by_class.sum())
    level = 1.0 - conf
    p = float(binomial_pvalue(errors, covered, eps))
    class_rows = answered.sum(axis=0)
    caps = []
    for lab, cap in g.per_class_max_error if g is not None else ():
        j = class_index.get(label_key(lab))
        n_c = int(class_rows[j]) if j is not None else 0
        w_c = int(wrong_by_class[j]) if j is not None else 0
        pc = float(binomial_pvalue(w_c, n_c, cap))
        caps.append(CapCheck(lab, cap, n_c, w_c, pc, pc <= level))
    need = rows_needed(eps, conf)
    ub = float(error_upper_bound(errors, covered, conf)) if covered else None
    holds = covered > 0 and p <= level and all(c.holds for c in caps)
    if holds:
        reason = (
            f"certified: {errors} errors on {covered} covered rows of {rows}; error <= "
            f"{ub:.4g} at confidence {conf:g} (max_error {eps:g}, p = {p:.3g} <= {level:.3g})"
        )
    elif covered == 0:
        reason = f"refused: the rules cover none of the {rows} rows"
    elif p > level:
        reason = (
            f"refused: {errors} errors on {covered} covered rows of {rows} (error "
            f"{errors / covered:.4g}, upper bound {ub:.4g}) do not show error <= {eps:g} at "
            f"confidence {conf:g} (p = {p:.3g} > {level:.3g})"
            + (f"; even with no error, {need} covered rows are needed" if covered < need else "")
        )
    else:
        bad = next(c for c in caps if not c.holds)
        reason = (
            f"refused: class {bad.label!r}: {bad.wrong} of its {bad.rows} rows answered with "
            f"another label do not show the cap {bad.max_error:g} (p = {bad.p_value:.3g} > "
            f"{level:.3g})"
        )
    certified = None
    if holds:
        new_rules = []
        for i, r in enumerate(rules.rules):
            ci = class_index[label_key(r.label)]
            nc, kc = int(covers[i].sum()), int(covers[i, ci])
            stats = RuleStats(
                r.stats.growth_counts,
                tuple(int(v) for v in covers[i, :n_classes]),
                float(precision_lower_bound(kc, nc, conf)),
            )
            new_rules.append(type(r)(r.conditions, r.label, stats, r.provenance))
        meta = dict(rules.metadata)
        meta["certified_on"] = {
            "data": source,
            "rows": rows,
            "data_fingerprint": data_fingerprint(rules, X, y),
        }
        meta["split_rows"] = {"validation": rows, "certification": rows}
        meta.pop("rows", None)
        certified = rules.replace(
            rules=tuple(new_rules),
            guarantee=Guarantee(
                max_error=eps,
                confidence=conf,
                mode=g.mode if g is not None else "truth",
                per_class_max_error=g.per_class_max_error if g is not None else (),
                certified=True,
                error_upper_bound=ub,
                certification_rows=rows,
                certification_covered=covered,
                certification_errors=errors,
                method=METHOD,
            ),
            metadata=meta,
        )
    return Recertification(
        holds=holds,
        reason=reason,
        rows=rows,
        covered=covered,
        errors=errors,
        max_error=eps,
        confidence=conf,
        p_value=p,
        error_upper_bound=ub,
        rows_needed=need,
        per_class=tuple(caps),
        rules=certified,
    )
