"""What changed between two rule sets (``rulecascade diff A B``).

Rules are paired by their conditions: first rules with identical conditions (same features,
thresholds and value sets), then, among the rest, rules on the same features (same kinds) whose
thresholds moved - the closest pairs first. A paired rule is *changed* when its thresholds, label,
precision bound or validation counts differ; unpaired rules are *removed* (only in A) or *added*
(only in B). Because the first matching rule answers a row, a different relative order of the
paired rules is a difference too.

Beyond the rules: the feature schema (added, removed, changed kind or categories), the projection,
the classes, the guarantee (every field), the fit parameters and the data fingerprint. The library
version and the free-form metadata (timings, split sizes) are reported but do not make two rule
sets different: a refit of the same data with the same parameters is identical.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from rules_export import Feature, Guarantee, InSet, Interval, Projection, Rule, RuleSet

__all__ = ["RuleChange", "RuleSetDiff", "diff"]


@dataclass(frozen=True)
class RuleChange:
    """A rule present in both sets (``a_index`` in A, ``b_index`` in B) and what differs."""

    a_index: int
    b_index: int
    rule_a: str
    rule_b: str
    conditions: tuple[dict[str, Any], ...] = ()
    label: dict[str, Any] | None = None
    precision_lower_bound: dict[str, Any] | None = None
    validation_counts: dict[str, Any] | None = None

    @property
    def changed(self) -> bool:
        return bool(
            self.conditions or self.label or self.precision_lower_bound or self.validation_counts
        )


@dataclass(frozen=True)
class RuleSetDiff:
    """The differences between rule sets A and B; ``identical`` when there are none."""

    added: tuple[dict[str, Any], ...] = ()
    removed: tuple[dict[str, Any], ...] = ()
    changed: tuple[RuleChange, ...] = ()
    unchanged: int = 0
    reordered: bool = False
    features: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, Any] | None = None
    projection: dict[str, Any] | None = None
    guarantee: dict[str, Any] = field(default_factory=dict)
    fit_params: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: dict[str, Any] | None = None
    library_version: dict[str, Any] | None = None
    metadata_keys: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        return not (
            self.added
            or self.removed
            or self.changed
            or self.reordered
            or self.features
            or self.classes
            or self.projection
            or self.guarantee
            or self.fit_params
            or self.data_fingerprint
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"identical": self.identical}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "changed":
                v = [{g.name: getattr(c, g.name) for g in fields(c)} for c in v]
            out[f.name] = _plain(v)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, allow_nan=False) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _same(x: Any, y: Any) -> bool:
    """Equal as JSON: 1, 1.0 and true are three different values, as in the rule file."""
    return json.dumps(x, sort_keys=True, default=repr) == json.dumps(
        y, sort_keys=True, default=repr
    )


def _ab(a: Any, b: Any) -> dict[str, Any] | None:
    return None if _same(a, b) else {"a": a, "b": b}


def _cond_dict(c: Interval | InSet) -> dict[str, Any]:
    if isinstance(c, Interval):
        return {"feature": c.feature, "low": c.low, "high": c.high}
    return {"feature": c.feature, "in": list(c.values)}


def _shape(r: Rule) -> tuple[tuple[str, str], ...]:
    return tuple((c.feature, type(c).__name__) for c in r.conditions)


def _side(a: float | None, b: float | None) -> float:
    if a is None and b is None:
        return 0.0
    if a is None or b is None:
        return 1.0
    return abs(a - b) / max(abs(a), abs(b), 1e-300) if a != b else 0.0


def _distance(a: Rule, b: Rule) -> float:
    """How far apart two rules on the same features are (0: same conditions)."""
    d = 0.0
    for ca, cb in zip(a.conditions, b.conditions, strict=True):
        if isinstance(ca, Interval) and isinstance(cb, Interval):
            d += _side(ca.low, cb.low) + _side(ca.high, cb.high)
        elif isinstance(ca, InSet) and isinstance(cb, InSet):
            sa, sb = set(ca.values), set(cb.values)
            d += 1.0 - len(sa & sb) / len(sa | sb)
    return d + (0.0 if _same(a.label, b.label) else 0.5)


def _pair(a: RuleSet, b: RuleSet) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    free_b = set(range(len(b.rules)))
    free_a = []
    by_conditions: dict[Any, list[int]] = {}
    for j, r in enumerate(b.rules):
        by_conditions.setdefault(r.conditions, []).append(j)
    for i, r in enumerate(a.rules):
        same = by_conditions.get(r.conditions)
        if same:
            j = same.pop(0)
            pairs.append((i, j))
            free_b.discard(j)
        else:
            free_a.append(i)
    candidates = sorted(
        (_distance(a.rules[i], b.rules[j]), i, j)
        for i in free_a
        for j in free_b
        if _shape(a.rules[i]) == _shape(b.rules[j])
    )
    used_a: set[int] = set()
    for _, i, j in candidates:
        if i in used_a or j not in free_b:
            continue
        pairs.append((i, j))
        used_a.add(i)
        free_b.discard(j)
    return sorted(pairs)


def _rule_change(a: Rule, b: Rule, i: int, j: int) -> RuleChange:
    conds = tuple(
        {
            "feature": ca.feature,
            "a": _cond_dict(ca),
            "b": _cond_dict(cb),
            "a_text": ca.describe(),
            "b_text": cb.describe(),
        }
        for ca, cb in zip(a.conditions, b.conditions, strict=True)
        if ca != cb
    )
    return RuleChange(
        a_index=i,
        b_index=j,
        rule_a=a.describe(),
        rule_b=b.describe(),
        conditions=conds,
        label=_ab(a.label, b.label),
        precision_lower_bound=_ab(a.stats.precision_lower_bound, b.stats.precision_lower_bound),
        validation_counts=_ab(list(a.stats.validation_counts), list(b.stats.validation_counts)),
    )


def _feature_dict(f: Feature) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": f.kind}
    if f.kind == "categorical":
        d["categories"] = list(f.categories)
    return d


def _features(a: RuleSet, b: RuleSet) -> dict[str, Any]:
    fa = {f.name: f for f in a.features}
    fb = {f.name: f for f in b.features}
    out: dict[str, Any] = {}
    added = [{"name": n, **_feature_dict(fb[n])} for n in b.feature_names if n not in fa]
    removed = [{"name": n, **_feature_dict(fa[n])} for n in a.feature_names if n not in fb]
    changed = [
        {"name": n, "a": _feature_dict(fa[n]), "b": _feature_dict(fb[n])}
        for n in a.feature_names
        if n in fb and fa[n] != fb[n]
    ]
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    if changed:
        out["changed"] = changed
    common_a = [n for n in a.feature_names if n in fb]
    common_b = [n for n in b.feature_names if n in fa]
    if common_a != common_b:
        out["order"] = {"a": list(a.feature_names), "b": list(b.feature_names)}
    return out


def _guarantee_dict(g: Guarantee | None) -> dict[str, Any] | None:
    if g is None:
        return None
    d = {f.name: getattr(g, f.name) for f in fields(g)}
    d["per_class_max_error"] = [[lab, cap] for lab, cap in g.per_class_max_error]
    return d


def _projection(a: Projection | None, b: Projection | None) -> dict[str, Any] | None:
    """None when equal; else whether each set has one and which of its parts differ."""
    if a == b:
        return None
    parts = ["inputs", "outputs", "mean", "weights", "sum_block"]
    differ = [p for p in parts if a is None or b is None or getattr(a, p) != getattr(b, p)]
    return {"a": a is not None, "b": b is not None, "changed": differ}


def _guarantee(a: Guarantee | None, b: Guarantee | None) -> dict[str, Any]:
    da, db = _guarantee_dict(a), _guarantee_dict(b)
    if da is None or db is None:
        return {} if da == db else {"guarantee": {"a": da, "b": db}}
    return {k: {"a": da[k], "b": db[k]} for k in da if not _same(da[k], db[k])}


def _dict_diff(a: Any, b: Any) -> dict[str, Any]:
    keys = sorted(set(a) | set(b))
    return {
        k: {"a": a.get(k), "b": b.get(k)}
        for k in keys
        if k not in a or k not in b or not _same(a[k], b[k])
    }


def diff(a: RuleSet, b: RuleSet) -> RuleSetDiff:
    """Compare rule set ``a`` (old) with ``b`` (new)."""
    pairs = _pair(a, b)
    changes = [_rule_change(a.rules[i], b.rules[j], i, j) for i, j in pairs]
    paired_a = {i for i, _ in pairs}
    paired_b = {j for _, j in pairs}
    b_order = [j for _, j in pairs]
    return RuleSetDiff(
        added=tuple(
            {"index": j, "rule": r.describe()} for j, r in enumerate(b.rules) if j not in paired_b
        ),
        removed=tuple(
            {"index": i, "rule": r.describe()} for i, r in enumerate(a.rules) if i not in paired_a
        ),
        changed=tuple(c for c in changes if c.changed),
        unchanged=sum(1 for c in changes if not c.changed),
        reordered=b_order != sorted(b_order),
        features=_features(a, b),
        classes=_ab(list(a.classes), list(b.classes)),
        projection=_projection(a.projection, b.projection),
        guarantee=_guarantee(a.guarantee, b.guarantee),
        fit_params=_dict_diff(a.fit_params, b.fit_params),
        data_fingerprint=_ab(a.data_fingerprint, b.data_fingerprint),
        library_version=_ab(a.library_version, b.library_version),
        metadata_keys=tuple(sorted(_dict_diff(a.metadata, b.metadata))),
    )
