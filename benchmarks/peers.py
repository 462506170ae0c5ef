"""Peer methods for the quality benchmark, each reduced to "which rows does it answer, with which label".

Every peer has ``fit(X, y)`` and ``answer(X) -> (covered_mask, labels)`` on a float64 numpy matrix
(categoricals as ordinal codes, no NaN: see ``benchmarks/_common.py``) and integer labels
``0..K-1``. A rule list or rule set answers the rows some rule fires on and defers the rest.

* :class:`TreeLeaves`     scikit-learn DecisionTreeClassifier grown to purity; a row is answered
                          when it lands in a leaf that is pure on the training rows.
* :class:`SkopeRules`     skope-rules 1.0.1 (shimmed for Python 3.10+ / scikit-learn >= 1.2, see
                          :func:`import_skope_rules`). Rules for the positive class; ``ovr`` fits
                          one rule set per class.
* :class:`ImodelsSkope`   imodels' SkopeRulesClassifier (the maintained port), same reduction.
* :class:`GreedyRuleList` imodels' GreedyRuleListClassifier; a rule (or the final else) answers
                          when its training purity is at least ``purity``.
* :class:`Ripper`         wittgenstein's RIPPER; ``pos``: rules for class 1, ``ovr``: per class.
* :class:`ConfidenceCascade`  IDK-style: a logistic regression answers when max proba >= tau.

For one-vs-rest rule sets a row fired on by the rules of exactly one class is answered with
that class; a row fired on by rules of several classes is deferred (the conservative choice).
"""

from __future__ import annotations

import collections
import collections.abc
import re
import sys
import types
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

__all__ = [
    "ConfidenceCascade",
    "GreedyRuleList",
    "ImodelsSkope",
    "Peer",
    "Ripper",
    "SkopeRules",
    "TreeLeaves",
    "default_peers",
    "import_skope_rules",
    "peer_versions",
]


def peer_versions() -> dict[str, str]:
    """Installed versions of the peer packages (``"-"`` when absent)."""
    out = {}
    for dist in ("scikit-learn", "skope-rules", "imodels", "wittgenstein", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


# --------------------------------------------------------------------------- skope-rules shim


def _bool_mask_bagging(base):
    """A Bagging* subclass whose ``estimators_samples_`` are boolean masks (as before sklearn 0.24).

    skope-rules computes out-of-bag rows as ``~samples``; modern scikit-learn returns integer
    indices there, and ``~indices`` silently indexes from the end of the array.
    """

    class _Masked(base):
        def fit(self, X, y, sample_weight=None, **kw):
            self._rc_n_rows = X.shape[0]
            return super().fit(X, y, sample_weight=sample_weight, **kw)

        @property
        def estimators_samples_(self):
            masks = []
            for idx in super().estimators_samples_:
                m = np.zeros(self._rc_n_rows, dtype=bool)
                m[idx] = True
                masks.append(m)
            return masks

    _Masked.__name__ = _Masked.__qualname__ = f"Masked{base.__name__}"
    return _Masked


def import_skope_rules():
    """Import ``skrules.SkopeRules`` on a modern stack, patching what it needs first.

    skope-rules 1.0.1 (the last release, 2019) needs, and gets here:
    ``collections.Iterable`` (removed in Python 3.10) -> ``collections.abc.Iterable``;
    ``sklearn.externals.six`` (removed in scikit-learn 0.23) -> a stub with ``string_types``;
    ``Bagging*(base_estimator=...)`` (renamed ``estimator`` in scikit-learn 1.2, removed in 1.4)
    -> factories translating the keyword; ``estimators_samples_`` as boolean masks (indices since
    scikit-learn 0.24) -> :func:`_bool_mask_bagging`.
    """
    if not hasattr(collections, "Iterable"):
        collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]
    if "sklearn.externals.six" not in sys.modules:
        import sklearn.externals

        six = types.ModuleType("sklearn.externals.six")
        six.string_types = (str,)  # type: ignore[attr-defined]
        sys.modules["sklearn.externals.six"] = six
        sklearn.externals.six = six  # type: ignore[attr-defined]
    import skrules.skope_rules as sr
    from sklearn.ensemble import BaggingClassifier, BaggingRegressor

    if not getattr(sr, "_rulecascade_shim", False):
        clf_cls = _bool_mask_bagging(BaggingClassifier)
        reg_cls = _bool_mask_bagging(BaggingRegressor)

        def bagging_classifier(base_estimator=None, **kw):
            return clf_cls(estimator=base_estimator, **kw)

        def bagging_regressor(base_estimator=None, **kw):
            return reg_cls(estimator=base_estimator, **kw)

        sr.BaggingClassifier = bagging_classifier
        sr.BaggingRegressor = bagging_regressor
        sr._rulecascade_shim = True
    return sr.SkopeRules


# --------------------------------------------------------------------------- rule helpers

_TERM = re.compile(r"^\s*([^\s<>=]+)\s*(<=|>=|<|>|==)\s*(\S+)\s*$")


def parse_conjunction(text: str, names: dict[str, int]) -> list[tuple[int, str, float]]:
    """``"a <= 1.5 and b > 2"`` -> ``[(index_of_a, "<=", 1.5), (index_of_b, ">", 2.0)]``."""
    terms = []
    for part in text.split(" and "):
        m = _TERM.match(part)
        if m is None:
            raise ValueError(f"cannot parse rule term {part!r} in {text!r}")
        name, op, value = m.groups()
        terms.append((names[name], op, float(value)))
    return terms


def conjunction_mask(X: np.ndarray, terms: list[tuple[int, str, float]]) -> np.ndarray:
    mask = np.ones(X.shape[0], dtype=bool)
    for j, op, t in terms:
        col = X[:, j]
        if op == "<=":
            mask &= col <= t
        elif op == "<":
            mask &= col < t
        elif op == ">":
            mask &= col > t
        elif op == ">=":
            mask &= col >= t
        else:
            mask &= col == t
    return mask


def n_conditions(terms) -> int:
    """Conditions as rulecascade counts them: one interval (or set) per feature."""
    return len({t[0] for t in terms})


def combine_ovr(masks_by_class: dict[int, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Answer rows fired on by the rules of exactly one class; defer conflicts and misses."""
    hits = np.zeros(n, dtype=np.int64)
    labels = np.full(n, -1, dtype=np.int64)
    for k, m in masks_by_class.items():
        hits += m
        labels[m] = k
    covered = hits == 1
    labels[~covered] = -1
    return covered, labels


# --------------------------------------------------------------------------- peers


@dataclass
class Peer:
    """Base: a named configuration. ``max_rows`` caps the training rows (stratified subsample)."""

    family: str = ""
    config: str = ""
    max_rows: int | None = None
    random_state: int = 0
    n_rules: int | None = field(default=None, init=False)
    conditions_per_rule: float | None = field(default=None, init=False)
    rows_used: int = field(default=0, init=False)

    @property
    def name(self) -> str:
        return f"{self.family} {self.config}".strip()

    def fit(self, X: np.ndarray, y: np.ndarray) -> Peer:
        X, y = self._cap(X, y)
        self.rows_used = X.shape[0]
        self.classes_ = np.unique(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._fit(X, y)
        return self

    def answer(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            covered, labels = self._answer(X)
        covered = np.asarray(covered, dtype=bool)
        labels = np.where(covered, np.asarray(labels), -1).astype(np.int64)
        return covered, labels

    def _cap(self, X, y):
        if self.max_rows is None or X.shape[0] <= self.max_rows:
            return X, y
        from sklearn.model_selection import train_test_split

        idx, _ = train_test_split(
            np.arange(X.shape[0]),
            train_size=self.max_rows,
            stratify=y,
            random_state=self.random_state,
        )
        idx = np.sort(idx)
        return X[idx], y[idx]

    def _set_rule_stats(self, rule_terms: list) -> None:
        self.n_rules = len(rule_terms)
        self.conditions_per_rule = (
            float(np.mean([n_conditions(t) for t in rule_terms])) if rule_terms else 0.0
        )

    def _fit(self, X, y):  # pragma: no cover - abstract
        raise NotImplementedError

    def _answer(self, X):  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class TreeLeaves(Peer):
    """Leaves of one CART tree grown until pure (bounded by ``min_samples_leaf``)."""

    min_samples_leaf: int = 5
    family: str = "sklearn pure leaves"

    def __post_init__(self):
        self.config = self.config or f"min_samples_leaf={self.min_samples_leaf}"

    def _fit(self, X, y):
        from sklearn.tree import DecisionTreeClassifier

        self.tree_ = DecisionTreeClassifier(
            min_samples_leaf=self.min_samples_leaf, random_state=self.random_state
        ).fit(X, y)
        t = self.tree_.tree_
        value = t.value[:, 0, :]
        frac = value / value.sum(axis=1, keepdims=True)
        leaf = t.children_left == -1
        self.pure_ = leaf & (frac.max(axis=1) >= 1.0 - 1e-12)
        self.leaf_label_ = self.tree_.classes_[frac.argmax(axis=1)].astype(np.int64)
        # conditions per pure leaf: distinct features on its path
        feats: dict[int, frozenset] = {0: frozenset()}
        stack = [0]
        while stack:
            node = stack.pop()
            if t.children_left[node] != -1:
                f = feats[node] | {int(t.feature[node])}
                for child in (t.children_left[node], t.children_right[node]):
                    feats[int(child)] = f
                    stack.append(int(child))
        pure_nodes = np.flatnonzero(self.pure_)
        self.n_rules = len(pure_nodes)
        self.conditions_per_rule = (
            float(np.mean([len(feats[int(n)]) for n in pure_nodes])) if len(pure_nodes) else 0.0
        )

    def _answer(self, X):
        leaves = self.tree_.apply(X)
        return self.pure_[leaves], self.leaf_label_[leaves]


@dataclass
class _PositiveRuleSet(Peer):
    """A learner of rules for one positive class; ``mode`` 'pos' (class 1) or 'ovr' (per class)."""

    mode: str = "pos"

    def _binary_rules(self, X, ybin) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit(self, X, y):
        classes = self.classes_
        if self.mode == "pos":
            if len(classes) != 2:
                raise ValueError("mode 'pos' needs a binary target; use 'ovr'")
            targets = [int(classes[1])]
        else:
            targets = [int(k) for k in classes]
        self.rules_ = {k: self._binary_rules(X, (y == k).astype(np.int64)) for k in targets}
        self._set_rule_stats(self._all_terms())

    def _all_terms(self) -> list:
        return [t for rules in self.rules_.values() for t in rules]

    def _class_mask(self, X, rules) -> np.ndarray:
        m = np.zeros(X.shape[0], dtype=bool)
        for terms in rules:
            m |= conjunction_mask(X, terms)
        return m

    def _answer(self, X):
        masks = {k: self._class_mask(X, rules) for k, rules in self.rules_.items()}
        if self.mode == "pos":
            ((k, m),) = masks.items()
            return m, np.full(X.shape[0], k, dtype=np.int64)
        return combine_ovr(masks, X.shape[0])


@dataclass
class SkopeRules(_PositiveRuleSet):
    """skope-rules' SkopeRules (shimmed). ``precision_min`` is its out-of-bag precision floor."""

    precision_min: float = 0.95
    recall_min: float = 0.01
    n_estimators: int = 10
    max_depth: int = 3
    max_depth_duplication: int | None = None
    n_jobs: int = 1
    family: str = "skope-rules"

    def __post_init__(self):
        self.config = self.config or f"{self.mode} precision_min={self.precision_min}"

    def _binary_rules(self, X, ybin):
        cls = import_skope_rules()
        if ybin.min() == ybin.max():
            return []
        m = cls(
            precision_min=self.precision_min,
            recall_min=self.recall_min,
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            max_depth_duplication=self.max_depth_duplication,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
        ).fit(X, ybin)
        names = {f"__C__{j}": j for j in range(X.shape[1])}
        return [parse_conjunction(r, names) for r, _ in m.rules_without_feature_names_]


@dataclass
class ImodelsSkope(_PositiveRuleSet):
    """imodels' SkopeRulesClassifier (its maintained fork of skope-rules)."""

    precision_min: float = 0.95
    recall_min: float = 0.01
    n_estimators: int = 10
    max_depth: int = 3
    family: str = "imodels SkopeRules"

    def __post_init__(self):
        self.config = self.config or f"{self.mode} precision_min={self.precision_min}"

    def _binary_rules(self, X, ybin):
        from imodels import SkopeRulesClassifier

        if ybin.min() == ybin.max():
            return []
        names = [f"f{j}" for j in range(X.shape[1])]
        m = SkopeRulesClassifier(
            precision_min=self.precision_min,
            recall_min=self.recall_min,
            n_estimators=self.n_estimators,
            max_depth=self.max_depth,
            random_state=self.random_state,
        ).fit(X, ybin, feature_names=names)
        index = {n: j for j, n in enumerate(names)}
        return [parse_conjunction(r.rule, index) for r in m.rules_]


@dataclass
class Ripper(_PositiveRuleSet):
    """wittgenstein's RIPPER; rows are matched by wittgenstein's own ``predict`` (its binning)."""

    k: int = 2
    family: str = "RIPPER"

    def __post_init__(self):
        self.config = self.config or f"{self.mode}"

    @staticmethod
    def _frame(X):
        import pandas as pd

        return pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])

    def _binary_rules(self, X, ybin):
        import wittgenstein as lw

        if ybin.min() == ybin.max():
            return None
        m = lw.RIPPER(k=self.k, random_state=self.random_state)
        m.fit(self._frame(X), ybin, pos_class=1)
        return m

    def _all_terms(self) -> list:
        return [
            [(c.feature, "", 0.0) for c in rule.conds]
            for m in self.rules_.values()
            if m is not None
            for rule in m.ruleset_.rules
        ]

    def _class_mask(self, X, model) -> np.ndarray:
        if model is None:
            return np.zeros(X.shape[0], dtype=bool)
        return np.asarray(model.predict(self._frame(X)), dtype=bool)


@dataclass
class GreedyRuleList(Peer):
    """imodels' GreedyRuleListClassifier (binary); a rule answers if its training purity >= purity."""

    max_depth: int = 5
    purity: float = 1.0
    family: str = "imodels GreedyRuleList"

    def __post_init__(self):
        self.config = self.config or f"max_depth={self.max_depth} purity>={self.purity}"

    def _fit(self, X, y):
        from imodels import GreedyRuleListClassifier

        if len(self.classes_) != 2:
            raise ValueError("GreedyRuleList is binary only")
        self.model_ = GreedyRuleListClassifier(max_depth=self.max_depth).fit(X, y)
        rules = self.model_.rules_
        self.n_rules = sum(self._answers(p) for p in self._probs())
        # a rule list's j-th rule holds the negations of the j earlier ones
        conds = [
            len({int(r["index_col"]) for r in rules[: j + 1] if "index_col" in r})
            for j in range(len(rules))
        ]
        used = [c for c, p in zip(conds, self._probs(), strict=True) if self._answers(p)]
        self.conditions_per_rule = float(np.mean(used)) if used else 0.0

    def _probs(self) -> list[float]:
        """P(class 1) of each rule's region, mirroring imodels' predict_proba (last = else)."""
        rules = self.model_.rules_
        return [float(r["val_right"]) for r in rules[:-1]] + [float(rules[-1]["val"])]

    def _answers(self, p: float) -> bool:
        return max(p, 1.0 - p) >= self.purity - 1e-12

    def _answer(self, X):
        rules = self.model_.rules_
        n = X.shape[0]
        region = np.full(n, len(rules) - 1, dtype=np.int64)
        open_ = np.ones(n, dtype=bool)
        for j, r in enumerate(rules[:-1]):
            col = X[:, int(r["index_col"])]
            cond = col < r["cutoff"] if r["flip"] else col >= r["cutoff"]
            hit = open_ & cond
            region[hit] = j
            open_ &= ~cond
        probs = np.array(self._probs())
        p = probs[region]
        covered = np.maximum(p, 1.0 - p) >= self.purity - 1e-12
        labels = np.where(p >= 0.5, self.classes_[1], self.classes_[0])
        return covered, labels


@dataclass
class ConfidenceCascade(Peer):
    """IDK cascade: standardised logistic regression answering when max predict_proba >= tau."""

    tau: float = 0.95
    family: str = "IDK logistic"

    def __post_init__(self):
        self.config = self.config or f"tau={self.tau}"

    def _fit(self, X, y):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model_ = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)

    def _answer(self, X):
        proba = self.model_.predict_proba(X)
        labels = self.model_.classes_[proba.argmax(axis=1)]
        return proba.max(axis=1) >= self.tau, labels


def default_peers(n_classes: int, quick: bool = False, n_rows: int = 0) -> list[Peer]:
    """The peer configurations of the benchmark.

    ``n_rows`` (calibration rows) sets the row caps of the slow peers: RIPPER (wittgenstein is
    pure pandas) at 10k rows, the skope-rules family at 100k, GreedyRuleList at 50k.
    """
    binary = n_classes == 2
    ripper_cap = 5_000 if quick else 10_000
    skope_cap = 20_000 if quick else 100_000
    peers: list[Peer] = [TreeLeaves(min_samples_leaf=k) for k in (1, 5, 20)]
    precisions = (0.9, 0.99) if quick else (0.9, 0.95, 0.99)
    modes = ("pos", "ovr") if binary else ("ovr",)
    for mode in modes:
        peers += [SkopeRules(precision_min=p, mode=mode, max_rows=skope_cap) for p in precisions]
    if not quick:
        peers += [ImodelsSkope(precision_min=p, mode="ovr", max_rows=skope_cap) for p in precisions]
    if binary:
        purities = (0.95, 1.0) if quick else (0.9, 0.95, 1.0)
        peers += [GreedyRuleList(purity=q, max_rows=50_000) for q in purities]
    peers += [Ripper(mode=m, max_rows=ripper_cap) for m in modes]
    peers += [ConfidenceCascade(tau=t) for t in (0.9, 0.95, 0.99)]
    for p in peers:
        if p.max_rows is not None and n_rows <= p.max_rows:
            p.max_rows = None
    return peers
