"""The rule-set data model: frozen, validated, canonical on construction.

Semantics (every evaluator obeys them, see ``reference.py``):

* ``Interval(feature, low, high)`` holds when ``low < x <= high`` in float64; a missing side is
  unbounded. NaN satisfies no condition; +/-inf compare as numbers.
* ``InSet(feature, values)`` holds when the value is a string equal to one of ``values``.
  A missing value (None/NaN/NULL) satisfies no condition.
* A ``Rule`` is a conjunction of conditions; a ``RuleSet`` is an ordered list of rules and the
  first rule that matches a row answers it (``-1``: no rule, defer to the model).
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

FORMAT_NAME = "rulecascade.ruleset"
FORMAT_VERSION = "1.2"  # 1.1: Projection.sum_block (a 1.0 reader refuses the key, by schema)
# 1.2: RuleSet.feature_summaries (the calibration distribution of each feature the rules read)

Label = str | int | bool
FeatureKind = Literal["numeric", "categorical"]


class RuleSetError(ValueError):
    """A rule set (or a file holding one) is invalid; the message says what and where."""


MAX_STRING_CHARS = 1024 * 1024  # longest name / category / label a rule-set file may hold


def _check_text(text: str, what: str) -> str:
    """A string a rule-set file can hold: at most MAX_STRING_CHARS, encodable as UTF-8."""
    if len(text) > MAX_STRING_CHARS:
        raise RuleSetError(f"{what} is {len(text)} characters long (at most {MAX_STRING_CHARS})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RuleSetError(f"{what} {short_repr(text)} holds an unpaired surrogate") from None
    return str(text)  # str subclasses (numpy.str_) become plain str


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or name == "":
        raise RuleSetError(f"{what} must be a non-empty string, got {short_repr(name)}")
    if "\x00" in name:
        raise RuleSetError(f"{what} {short_repr(name)} contains a NUL character")
    return _check_text(name, what)


def _check_value(text: Any, what: str) -> str:
    """A category or string label: text that SQL can hold as a literal (no NUL)."""
    if isinstance(text, str) and "\x00" in text:
        raise RuleSetError(
            f"{what} {short_repr(text)} contains a NUL character (SQL strings cannot hold it)"
        )
    return _check_text(text, what)


def _check_label(label: Any, what: str) -> Label:
    if isinstance(label, str):
        return _check_value(label, what)
    if isinstance(label, bool):
        return bool(label)
    if isinstance(label, int):
        return int(label)  # int subclasses (IntEnum) become plain int
    # numpy scalars and integral floats become plain Python values
    if hasattr(label, "item"):
        return _check_label(label.item(), what)
    if isinstance(label, float) and label.is_integer():
        return int(label)
    raise RuleSetError(f"{what} must be a string, integer or boolean, got {short_repr(label)}")


def _check_threshold(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        and not hasattr(value, "item")
    ):
        raise RuleSetError(f"{what} must be a number or null, got {short_repr(value)}")
    try:
        v = float(value)
    except (OverflowError, TypeError, ValueError):
        raise RuleSetError(
            f"{what} must be a finite float64 number, got {short_repr(value)}"
        ) from None
    if not math.isfinite(v):
        raise RuleSetError(
            f"{what} must be finite (leave the side open instead), got {short_repr(v)}"
        )
    # -0.0 and 0.0 compare equal; store one of them so that equal rule sets have equal bytes
    return v + 0.0


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters: error messages stay one short line."""
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def label_key(label: Label) -> tuple[int, Any]:
    """A hashable key that tells labels apart as the format does: ``True`` and ``1`` differ."""
    return (
        (0, label)
        if isinstance(label, bool)
        else (1, label)
        if isinstance(label, int)
        else (2, label)
    )


def label_value(v: Any) -> Any:
    """A label as a plain Python value: numpy scalars unwrapped, whole floats as ``int``."""
    if isinstance(v, str):
        return str(v)  # numpy.str_ -> str
    if hasattr(v, "item") and not isinstance(v, bytes):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


@dataclass(frozen=True)
class Feature:
    """One input column: numeric (compared as float64) or categorical (compared as strings)."""

    name: str
    kind: FeatureKind = "numeric"
    categories: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", _check_name(self.name, "feature name"))
        if self.kind not in ("numeric", "categorical"):
            raise RuleSetError(
                f"feature {short_repr(self.name)}: kind must be 'numeric' or 'categorical', got {short_repr(self.kind)}"
            )
        cats = tuple(self.categories)
        if self.kind == "numeric" and cats:
            raise RuleSetError(f"numeric feature {short_repr(self.name)} cannot list categories")
        for c in cats:
            if not isinstance(c, str):
                raise RuleSetError(
                    f"feature {short_repr(self.name)}: category {short_repr(c)} is not a string"
                )
        cats = tuple(_check_value(c, f"feature {short_repr(self.name)}: category") for c in cats)
        object.__setattr__(self, "categories", tuple(sorted(set(cats))))


@dataclass(frozen=True)
class Projection:
    """Derived numeric features ``z_j = sum_i (x_i - mean_i) * weights[j][i]``.

    The sum is taken in float64 in one fixed order, which every evaluator follows so that all
    of them compute the same bits: the inputs in order, in consecutive blocks of ``sum_block``
    inputs (the last may be shorter); each block is summed left to right, and the block sums
    are added left to right. ``sum_block=None`` is one block (the whole sum left to right, as
    in format 1.0). Blocks keep SQL's nesting shallow: a left-to-right sum of ``n`` terms is an
    expression ``n`` levels deep, and DuckDB and SQLite refuse depths past 1,000.
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    mean: tuple[float, ...]
    weights: tuple[tuple[float, ...], ...]
    sum_block: int | None = None

    def __post_init__(self) -> None:
        inputs = tuple(_check_name(n, "projection input") for n in self.inputs)
        outputs = tuple(_check_name(n, "projection output") for n in self.outputs)
        if not inputs or not outputs:
            raise RuleSetError("projection needs at least one input and one output")
        if len(set(inputs)) != len(inputs) or len(set(outputs)) != len(outputs):
            raise RuleSetError("projection inputs and outputs must be unique names")
        mean = tuple(_check_threshold(m, "projection mean") for m in self.mean)
        if len(mean) != len(inputs):
            raise RuleSetError(f"projection mean has {len(mean)} values for {len(inputs)} inputs")
        weights = tuple(
            tuple(_check_threshold(w, "projection weight") for w in row) for row in self.weights
        )
        if len(weights) != len(outputs) or any(len(r) != len(inputs) for r in weights):
            raise RuleSetError(
                f"projection weights must be {len(outputs)} rows of {len(inputs)} numbers"
            )
        block = self.sum_block
        if block is not None:
            try:
                block = operator.index(block) if not isinstance(block, bool) else -1
            except TypeError:
                block = -1
            if block < 1:
                raise RuleSetError(
                    "projection sum_block must be a positive integer or None, got "
                    f"{short_repr(self.sum_block)}"
                )
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "outputs", outputs)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "weights", weights)
        # one block is the plain left-to-right sum: written as such (format 1.0)
        object.__setattr__(self, "sum_block", None if block and block >= len(inputs) else block)

    @property
    def block_size(self) -> int:
        """Inputs per block (all of them when the sum is one block)."""
        return len(self.inputs) if self.sum_block is None else self.sum_block

    def blocks(self) -> tuple[tuple[int, int], ...]:
        """The ``(start, stop)`` input ranges summed one after another."""
        n, size = len(self.inputs), self.block_size
        return tuple((a, min(a + size, n)) for a in range(0, n, size))


@dataclass(frozen=True)
class Interval:
    """Numeric condition ``low < feature <= high``; ``None`` leaves a side open."""

    feature: str
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature", _check_name(self.feature, "condition feature"))
        low = _check_threshold(self.low, f"condition on {self.feature!r}: low")
        high = _check_threshold(self.high, f"condition on {self.feature!r}: high")
        if low is None and high is None:
            raise RuleSetError(
                f"condition on {short_repr(self.feature)} has neither a low nor a high bound"
            )
        if low is not None and high is not None and not low < high:
            raise RuleSetError(
                f"condition on {short_repr(self.feature)} is empty: low {short_repr(low)} is not below high {short_repr(high)}"
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def describe(self) -> str:
        if self.low is None:
            return f"{self.feature} <= {self.high!r}"
        if self.high is None:
            return f"{self.feature} > {self.low!r}"
        return f"{self.low!r} < {self.feature} <= {self.high!r}"


@dataclass(frozen=True)
class InSet:
    """Categorical condition ``feature IN values`` (exact string comparison)."""

    feature: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature", _check_name(self.feature, "condition feature"))
        vals = tuple(self.values) if not isinstance(self.values, str) else (self.values,)
        for v in vals:
            if not isinstance(v, str):
                raise RuleSetError(
                    f"condition on {short_repr(self.feature)}: value {short_repr(v)} is not a string"
                )
        vals = tuple(
            _check_value(v, f"condition on {short_repr(self.feature)}: value") for v in vals
        )
        if not vals:
            raise RuleSetError(
                f"condition on {short_repr(self.feature)} has an empty set of values"
            )
        object.__setattr__(self, "values", tuple(sorted(set(vals))))

    def describe(self) -> str:
        return f"{self.feature} in {{{', '.join(repr(v) for v in self.values)}}}"


Condition = Interval | InSet


def _merge(a: Condition, b: Condition) -> Condition:
    if isinstance(a, Interval) and isinstance(b, Interval):
        lows = [v for v in (a.low, b.low) if v is not None]
        highs = [v for v in (a.high, b.high) if v is not None]
        return Interval(a.feature, max(lows) if lows else None, min(highs) if highs else None)
    if isinstance(a, InSet) and isinstance(b, InSet):
        common = set(a.values) & set(b.values)
        if not common:
            raise RuleSetError(f"conditions on {short_repr(a.feature)} have no value in common")
        return InSet(a.feature, tuple(common))
    raise RuleSetError(
        f"feature {short_repr(a.feature)} has both a numeric and a categorical condition"
    )


@dataclass(frozen=True)
class RuleStats:
    """Counts per class (aligned with ``RuleSet.classes``) and the precision lower bound.

    ``support`` is the number of validation rows the rule covers: the rows its bound rests on.
    """

    growth_counts: tuple[int, ...] = ()
    validation_counts: tuple[int, ...] = ()
    precision_lower_bound: float | None = None

    def __post_init__(self) -> None:
        for name in ("growth_counts", "validation_counts"):
            vals = tuple(getattr(self, name))
            for v in vals:
                if isinstance(v, bool) or not isinstance(v, int) and not hasattr(v, "item"):
                    raise RuleSetError(f"{name} must hold integers, got {short_repr(v)}")
                if int(v) < 0:
                    raise RuleSetError(f"{name} must be non-negative, got {short_repr(v)}")
            object.__setattr__(self, name, tuple(int(v) for v in vals))
        b = self.precision_lower_bound
        if b is not None:
            b = _check_threshold(b, "precision_lower_bound")
            if not 0.0 <= b <= 1.0:
                raise RuleSetError(f"precision_lower_bound must lie in [0, 1], got {short_repr(b)}")
            object.__setattr__(self, "precision_lower_bound", b)

    @property
    def support(self) -> int:
        return sum(self.validation_counts)


@dataclass(frozen=True)
class Rule:
    """``IF all conditions THEN label``. Conditions are sorted by feature, one per feature."""

    conditions: tuple[Condition, ...]
    label: Label
    stats: RuleStats = field(default_factory=RuleStats)
    provenance: str = ""

    def __post_init__(self) -> None:
        conds = tuple(self.conditions)
        if not conds:
            raise RuleSetError("a rule needs at least one condition")
        merged: dict[str, Condition] = {}
        for c in conds:
            if not isinstance(c, (Interval, InSet)):
                raise RuleSetError(f"not a condition: {short_repr(c)}")
            merged[c.feature] = _merge(merged[c.feature], c) if c.feature in merged else c
        object.__setattr__(self, "conditions", tuple(merged[k] for k in sorted(merged)))
        object.__setattr__(self, "label", _check_label(self.label, "rule label"))
        if not isinstance(self.provenance, str):
            raise RuleSetError(
                f"rule provenance must be a string, got {short_repr(self.provenance)}"
            )
        object.__setattr__(self, "provenance", _check_text(self.provenance, "rule provenance"))

    def describe(self) -> str:
        return "IF " + " AND ".join(c.describe() for c in self.conditions) + f" THEN {self.label!r}"


@dataclass(frozen=True)
class Guarantee:
    """What the rule set was fitted (and certified) for.

    ``max_error``: bound on the error of the rules on the rows they cover, holding with
    ``confidence``; ``mode`` says against what (``truth``: true labels, ``fidelity``: the model's
    outputs). ``per_class_max_error`` caps, per class, the fraction of that class's rows that a rule
    with another label answers. The remaining fields record the certification that was run.
    """

    max_error: float
    confidence: float
    mode: Literal["truth", "fidelity"] = "truth"
    per_class_max_error: tuple[tuple[Label, float], ...] = ()
    certified: bool = False
    error_upper_bound: float | None = None
    certification_rows: int = 0
    certification_covered: int = 0
    certification_errors: int = 0
    method: str = ""

    def __post_init__(self) -> None:
        for name in ("max_error", "confidence"):
            v = _check_threshold(getattr(self, name), name)
            if v is None or not 0.0 < v < 1.0:
                raise RuleSetError(
                    f"guarantee {name} must lie strictly between 0 and 1, got {short_repr(v)}"
                )
            object.__setattr__(self, name, v)
        if self.mode not in ("truth", "fidelity"):
            raise RuleSetError(
                f"guarantee mode must be 'truth' or 'fidelity', got {short_repr(self.mode)}"
            )
        pc = self.per_class_max_error
        items = pc.items() if isinstance(pc, Mapping) else pc
        caps = []
        for lab, cap in items:
            cap = _check_threshold(cap, "per-class max_error")
            if cap is None or not 0.0 < cap < 1.0:
                raise RuleSetError(
                    f"per-class max_error for {short_repr(lab)} must lie in (0, 1), got {cap}"
                )
            caps.append((_check_label(lab, "per-class label"), cap))
        object.__setattr__(
            self, "per_class_max_error", tuple(sorted(caps, key=lambda t: label_key(t[0])))
        )
        if self.error_upper_bound is not None:
            object.__setattr__(
                self,
                "error_upper_bound",
                _check_threshold(self.error_upper_bound, "error_upper_bound"),
            )
        for name in ("certification_rows", "certification_covered", "certification_errors"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise RuleSetError(
                    f"guarantee {name} must be a non-negative integer, got {short_repr(v)}"
                )
        if self.certification_covered > self.certification_rows:
            raise RuleSetError(
                f"guarantee certification_covered ({self.certification_covered}) exceeds "
                f"certification_rows ({self.certification_rows}): the rules cannot cover more "
                "rows than were certified"
            )
        if self.certification_errors > self.certification_covered:
            raise RuleSetError(
                f"guarantee certification_errors ({self.certification_errors}) exceeds "
                f"certification_covered ({self.certification_covered}): errors are counted on "
                "covered rows"
            )
        bound = self.error_upper_bound
        if bound is not None and not 0.0 <= bound <= 1.0:
            raise RuleSetError(f"guarantee error_upper_bound must lie in [0, 1], got {bound!r}")
        if not isinstance(self.method, str):
            raise RuleSetError(f"guarantee method must be a string, got {short_repr(self.method)}")
        object.__setattr__(self, "method", _check_text(self.method, "guarantee method"))
        if not isinstance(self.certified, bool):
            raise RuleSetError(
                f"guarantee certified must be true or false, got {short_repr(self.certified)}"
            )


@dataclass(frozen=True)
class FeatureSummary:
    """A compact summary of one feature's calibration distribution (never the raw rows).

    Numeric: ``counts[i]`` rows in bin ``i`` of the bins that the strictly increasing finite
    ``edges`` cut, each ``(edges[i-1], edges[i]]`` as an ``Interval`` reads it (the first bin
    open below, the last open above), so ``len(counts) == len(edges) + 1``. Categorical:
    ``counts[i]`` rows with ``categories[i]``, and ``other`` rows with a value outside them.
    ``missing``: rows without a value (null / NaN). ``rows`` = every row summarised.
    """

    feature: str
    rows: int
    missing: int = 0
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    other: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature", _check_name(self.feature, "summary feature"))
        where = f"feature summary {short_repr(self.feature)}"
        for name in ("rows", "missing", "other"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise RuleSetError(
                    f"{where}: {name} must be a non-negative integer, got {short_repr(v)}"
                )
        counts = tuple(self.counts)
        for v in counts:
            if isinstance(v, bool) or not isinstance(v, int) and not hasattr(v, "item"):
                raise RuleSetError(f"{where}: counts must hold integers, got {short_repr(v)}")
            if int(v) < 0:
                raise RuleSetError(f"{where}: counts must be non-negative, got {short_repr(v)}")
        counts = tuple(int(v) for v in counts)
        edges = tuple(_check_threshold(e, f"{where}: edge") for e in self.edges)
        if any(e is None for e in edges):
            raise RuleSetError(f"{where}: edges must be numbers")
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
            raise RuleSetError(f"{where}: edges must be strictly increasing")
        cats = tuple(_check_value(c, f"{where}: category") for c in self.categories)
        if cats and edges:
            raise RuleSetError(f"{where}: a summary has edges (numeric) or categories, not both")
        if len(set(cats)) != len(cats):
            raise RuleSetError(f"{where}: duplicate categories")
        want = len(cats) if cats else len(edges) + 1
        if len(counts) != want:
            raise RuleSetError(f"{where}: {len(counts)} counts for {want} bins")
        if sum(counts) + self.missing + self.other != self.rows:
            raise RuleSetError(f"{where}: counts, missing and other do not add up to rows")
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "categories", cats)

    @property
    def kind(self) -> FeatureKind:
        return "categorical" if self.categories else "numeric"


MAX_JSON_DEPTH = 32  # fit_params / metadata nesting (the file format allows 64 in all)


def _freeze_json(value: Any, where: str, depth: int = 0) -> Any:
    """Check that ``value`` is plain JSON data (dict/list/str/int/float/bool/None)."""
    if depth > MAX_JSON_DEPTH:
        raise RuleSetError(f"{where}: nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        return _check_text(value, f"{where}: string")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RuleSetError(f"{where}: non-finite number {short_repr(value)} is not valid JSON")
        return value
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        return _freeze_json(value.item(), where, depth)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise RuleSetError(f"{where}: key {short_repr(k)} is not a string")
            out[_check_text(k, f"{where}: key")] = _freeze_json(v, f"{where}.{k}", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_freeze_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    raise RuleSetError(
        f"{where}: {type(value).__name__} value {short_repr(value)} is not JSON data"
    )


@dataclass(frozen=True)
class RuleSet:
    """An ordered list of rules over a feature schema; the first matching rule answers a row."""

    features: tuple[Feature, ...]
    classes: tuple[Label, ...]
    rules: tuple[Rule, ...] = ()
    projection: Projection | None = None
    guarantee: Guarantee | None = None
    fit_params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    data_fingerprint: str = ""
    library_version: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    feature_summaries: tuple[FeatureSummary, ...] = ()

    def __post_init__(self) -> None:
        feats = tuple(self.features)
        for f in feats:
            if not isinstance(f, Feature):
                raise RuleSetError(f"not a Feature: {short_repr(f)}")
        dup = {n for n, k in Counter(f.name for f in feats).items() if k > 1}  # linear
        if dup:
            raise RuleSetError(f"duplicate feature names: {sorted(dup)}")
        kinds = {f.name: f.kind for f in feats}
        if self.projection is not None:
            if not isinstance(self.projection, Projection):
                raise RuleSetError(f"not a Projection: {short_repr(self.projection)}")
            for n in self.projection.inputs:
                if kinds.get(n) != "numeric":
                    raise RuleSetError(f"projection input {short_repr(n)} is not a numeric feature")
            for n in self.projection.outputs:
                if n in kinds:
                    raise RuleSetError(
                        f"projection output {short_repr(n)} clashes with a feature name"
                    )
                kinds[n] = "numeric"
        classes = tuple(_check_label(c, "class label") for c in self.classes)
        if not classes:
            raise RuleSetError("a rule set needs at least one class")
        if len({label_key(c) for c in classes}) != len(classes):
            raise RuleSetError(f"duplicate class labels in {short_repr(list(classes))}")
        rules = tuple(self.rules)
        class_keys = {label_key(c) for c in classes}
        for i, r in enumerate(rules):
            if not isinstance(r, Rule):
                raise RuleSetError(f"rule {i}: not a Rule: {short_repr(r)}")
            if label_key(r.label) not in class_keys:
                raise RuleSetError(
                    f"rule {i}: label {short_repr(r.label)} is not one of the classes"
                )
            for c in r.conditions:
                kind = kinds.get(c.feature)
                if kind is None:
                    raise RuleSetError(f"rule {i}: unknown feature {short_repr(c.feature)}")
                want = "numeric" if isinstance(c, Interval) else "categorical"
                if kind != want:
                    raise RuleSetError(
                        f"rule {i}: {want} condition on {kind} feature {short_repr(c.feature)}"
                    )
            for name in ("growth_counts", "validation_counts"):
                counts = getattr(r.stats, name)
                if counts and len(counts) != len(classes):
                    raise RuleSetError(
                        f"rule {i}: {name} has {len(counts)} entries for {len(classes)} classes"
                    )
        if self.guarantee is not None and not isinstance(self.guarantee, Guarantee):
            raise RuleSetError(f"not a Guarantee: {short_repr(self.guarantee)}")
        summaries = tuple(self.feature_summaries)
        seen: set[str] = set()
        for s in summaries:
            if not isinstance(s, FeatureSummary):
                raise RuleSetError(f"not a FeatureSummary: {short_repr(s)}")
            kind = {f.name: f.kind for f in feats}.get(s.feature)
            if kind is None:
                raise RuleSetError(f"feature summary for unknown feature {short_repr(s.feature)}")
            if s.feature in seen:
                raise RuleSetError(f"two feature summaries for {short_repr(s.feature)}")
            seen.add(s.feature)
            if kind == "numeric" and s.categories or kind == "categorical" and s.edges:
                raise RuleSetError(
                    f"feature summary for {kind} feature {short_repr(s.feature)} has the other kind"
                )
        order = {n: i for i, n in enumerate(f.name for f in feats)}
        summaries = tuple(sorted(summaries, key=lambda s: order[s.feature]))
        object.__setattr__(self, "feature_summaries", summaries)
        object.__setattr__(self, "features", feats)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "fit_params", _freeze_json(dict(self.fit_params), "fit_params"))
        object.__setattr__(self, "metadata", _freeze_json(dict(self.metadata), "metadata"))
        for name in ("data_fingerprint", "library_version"):
            if not isinstance(getattr(self, name), str):
                raise RuleSetError(f"{name} must be a string")
            object.__setattr__(self, name, _check_text(getattr(self, name), name))

    # --- convenience -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rules)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def used_features(self) -> tuple[str, ...]:
        """Input columns that evaluation reads (projection inputs included), in schema order."""
        used = {c.feature for r in self.rules for c in r.conditions}
        if self.projection is not None and used & set(self.projection.outputs):
            used |= set(self.projection.inputs)
        return tuple(n for n in self.feature_names if n in used)

    def summary(self, name: str) -> FeatureSummary | None:
        """The stored calibration summary of feature ``name`` (``None`` when the file has none)."""
        return next((s for s in self.feature_summaries if s.feature == name), None)

    def replace(self, **changes: Any) -> RuleSet:
        """A copy with some fields changed (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)

    def describe(self) -> str:
        return "\n".join(f"[{i}] {r.describe()}" for i, r in enumerate(self.rules))

    # --- evaluation and I/O (implemented in sibling modules) ------------------------------------
    def match(self, X: Any) -> Any:
        """Index of the first matching rule per row (-1: none), by the reference evaluator."""
        from .reference import match

        return match(self, X)

    def predict(self, X: Any, default: Any = None) -> Any:
        """Label of the first matching rule per row (``default`` where none matches)."""
        from .reference import predict

        return predict(self, X, default=default)

    def to_json(self) -> str:
        from .json_io import dumps

        return dumps(self)

    @classmethod
    def from_json(cls, text: str | bytes) -> RuleSet:
        from .json_io import loads

        return loads(text)

    def save(self, path: Any) -> None:
        from .json_io import save

        save(self, path)

    @classmethod
    def load(cls, path: Any) -> RuleSet:
        from .json_io import load

        return load(path)


def make_features(
    names: Sequence[str],
    categorical: Iterable[str] = (),
    categories: Mapping[str, Iterable[str]] | None = None,
) -> tuple[Feature, ...]:
    """Feature schema from column names; ``categorical`` names the string columns."""
    cat = set(categorical)
    categories = categories or {}
    return tuple(
        Feature(n, "categorical", tuple(categories.get(n, ()))) if n in cat else Feature(n)
        for n in names
    )


def required_format_version(rules: RuleSet) -> str:
    """The oldest format version that holds ``rules`` (a reader of that version reads the file):
    ``"1.2"`` with feature summaries, ``"1.1"`` for a projection summed in blocks, else
    ``"1.0"``."""
    if rules.feature_summaries:
        return "1.2"
    if rules.projection is not None and rules.projection.sum_block is not None:
        return "1.1"
    return "1.0"


def check_output_columns(
    existing: Iterable[str], rule_id_column: str, label_column: str, *, of: str, because: str
) -> None:
    """Refuse answer-column names that are empty, equal, or (in any letter case) the name of an
    ``existing`` column; ``of`` names what the existing columns are and ``because`` says which
    engines match names regardless of case, in the message."""
    have = {n.casefold(): n for n in existing}
    for out in (rule_id_column, label_column):
        if not isinstance(out, str) or not out:
            raise ValueError(f"output column names must be non-empty strings, got {out!r}")
        if out.casefold() in have:
            raise ValueError(
                f"output column {out!r} clashes with {of} {have[out.casefold()]!r} ({because}); "
                "choose another rule_id_column / label_column"
            )
    if rule_id_column.casefold() == label_column.casefold():
        raise ValueError("rule_id_column and label_column must differ (regardless of case)")


def check_label_texts(classes: Iterable[Label]) -> None:
    """Refuse classes of different types with one text (``1`` and ``"1"``): an answer column
    that holds labels as text cannot tell them apart."""
    seen: dict[str, Label] = {}
    for c in classes:
        text = str(c)
        if text in seen and type(seen[text]) is not type(c):
            raise ValueError(
                f"classes {seen[text]!r} and {c!r} have the same text {text!r}: an answer "
                "column of text cannot tell them apart (the rule index still does)"
            )
        seen[text] = c


AnswerKind = Literal["bool", "int64", "uint64", "bigint", "string"]


def answer_kind(classes: Sequence[Label]) -> AnswerKind:
    """The type of a column that holds the answers (the classes): booleans, integers that fit
    int64, uint64 or neither, or text (strings, and classes of different types, written as
    text; refused when two of those share a text, see :func:`check_label_texts`)."""
    kinds = {type(c) for c in classes}
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        if all(-(2**63) <= c < 2**63 for c in classes):  # type: ignore[operator]
            return "int64"
        if all(0 <= c < 2**64 for c in classes):  # type: ignore[operator]
            return "uint64"
        return "bigint"
    if kinds != {str}:
        check_label_texts(classes)
    return "string"
