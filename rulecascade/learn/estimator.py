"""``RuleLearner``: pure-region rules with a held-out guarantee, as a scikit-learn classifier.

>>> learner = RuleLearner(max_error=0.005, confidence=0.95, random_state=0)
>>> learner.fit(X_calib, y_calib)          # doctest: +SKIP
>>> learner.rules_                         # a rules_export.RuleSet  # doctest: +SKIP
>>> learner.match(X)                       # rule index per row, -1 = defer  # doctest: +SKIP
>>> learner.predict(X)                     # rule label where covered, fallback elsewhere  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils._param_validation import Interval as _Range
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d

from rules_export import (
    Feature,
    Guarantee,
    InSet,
    Interval,
    Projection,
    Rule,
    RuleSet,
    RuleStats,
)
from rules_export.model import label_value
from rules_export.reference import InputError

from .. import data as _data
from ..kernels.dispatch import AUTO_CUDA, DEVICES, select_device
from ..serve.compile import compile_rules as compile_rule_set
from ..serve.evaluate import match as fast_match
from .config import Config
from .pipeline import learn_rules
from .program import compile_rules, match
from .projection import SUM_BLOCK, fit_lda, fit_pca, project
from .render import CatCond
from .splits import plan_splits
from .summaries import summarise

__all__ = ["NoRulesWarning", "RuleLearner"]

METHOD = "fixed-sequence binomial (LTT)"


class NoRulesWarning(UserWarning):
    """``fit`` found no rule that qualifies: the rule set is empty and every row defers."""


def _is_frame_like(X: Any) -> bool:
    if isinstance(X, (str, os.PathLike, Mapping)):
        return True
    mod = type(X).__module__
    if mod.startswith(("pandas", "polars", "pyarrow")):
        return hasattr(X, "columns") or hasattr(X, "column_names") or hasattr(X, "schema")
    if isinstance(X, list) and X and isinstance(X[0], Mapping):
        return True
    return False


def _is_sparse(X: Any) -> bool:
    return hasattr(X, "tocsr") or type(X).__module__.startswith("scipy.sparse")


@contextlib.contextmanager
def _threads(n_jobs: int | None):
    import numba

    if n_jobs is None or n_jobs == -1:
        yield
        return
    old = numba.get_num_threads()
    n = int(n_jobs) if n_jobs > 0 else max(1, numba.config.NUMBA_NUM_THREADS + 1 + int(n_jobs))
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


class RuleLearner(ClassifierMixin, BaseEstimator):
    """Learn an ordered list of ``IF conditions THEN class`` rules that answer the easy rows.

    The calibration data is split (stratified) into growth, validation and certification rows.
    Candidate boxes are grown on the growth rows (nodes of randomized histogram trees grown to
    purity, then widened side by side while they stay within a purity budget of a quarter of
    ``max_error``, redundant conditions dropped; one-condition intervals along a nested path from
    the purest to the widest), bounded on the validation rows (one-sided Clopper-Pearson lower
    bound on precision at ``confidence``; a rule qualifies when its bound is at least
    ``1 - min(0.5, 10 * max_error)`` and its validation error rate at most ``max_error``) and
    selected greedily for new validated coverage: each pick's new rows must be clean
    (``errors + 1 <= target * rows``) and the selected union must be likely to pass
    certification at the target (its validation errors, made pessimistic, rescaled to the
    certification split). Selection runs at five targets (0.5, 1, 1.5, 2 and 3 x
    ``max_error``), one rule list each, in selection order; each list is then extended by the
    rules whose new rows are too few for that test but clean (``errors <= target * rows``), a
    tail that certification tests last. Then a second round (sequential covering): candidates
    grown and qualified on the growth and validation rows each list leaves, where a box needs
    to be clean only outside the rules before it, extend the lists, and a one-condition
    interval noisier than ``max_error`` on its own may close a list when the union stays within
    the target; the extended lists are tested after the others, like the tails.
    Certification, on rows selection never saw, walks the prefixes of the strictest list and
    then the wider prefixes of the others (Learn-then-Test, run as a fallback procedure),
    testing ``error on covered rows <= max_error`` and every per-class cap, and keeps the
    furthest step that holds. When nothing qualifies or
    certifies, ``fit`` warns (:class:`NoRulesWarning`) and the rule set is empty.

    Parameters
    ----------
    max_error : float, default=0.005
        Target bound on the error of the rules on the rows they answer.
    confidence : float, default=0.95
        Confidence of every bound and of the certification.
    per_class_max_error : None, float or dict, default=None
        Cap on the fraction of a class's rows answered by a rule with another label (protects
        rare classes such as fraud). A float applies to every class; a dict maps labels to caps.
        Set it for any class rarer than about ``10 * max_error``: the overall bound alone lets
        rules answer much of such a class with another label (``report_["warnings"]`` says
        when a fit's classes are that rare and uncapped).
    mode : {"truth", "fidelity"}, default="truth"
        Whether ``y`` holds true labels or the model's own predictions (recorded only).
    max_rules : int, default=100
        Most rules selected.
    n_trees : int, default=20
        Randomized histogram trees grown for candidates.
    max_features : int or None, default=None
        Features drawn per tree node (None: ceil(sqrt(n_features)) + 1).
    min_support : int or None, default=None
        Fewest growth rows a candidate box must hold (None: derived from the target).
    max_bins : int, default=255
        Quantile bins per numeric feature.
    categorical : list of str or None, default=None
        Columns to treat as categorical besides string columns.
    projection : {None, "pca", "lda"}, default=None
        Learn rules over a linear projection of the numeric columns, stored in the rule set:
        ``"pca"``, the top principal directions of the growth and validation rows (embeddings);
        ``"lda"``, the discriminant directions of the growth rows' classes (at most one fewer
        than the classes; fitted on growth rows only, so validation and certification rows
        stay unseen). Where classes are separated by oblique cuts (many classes, pixels,
        embeddings) boxes in these coordinates are purer than boxes on the raw columns.
    n_components : int, default=16
        Most projected features.
    keep_inputs : bool, default=False
        With a projection: learn on the numeric columns too, so rules may mix raw and
        projected conditions (without it, the projection replaces the numeric columns).
    sequential : bool, default=True
        Grow a second round of candidates on the rows the first-round rule lists leave: such a
        rule needs to be clean only where the rules before it do not answer, so it reads in
        order (``IF ... THEN``, else the next rule), and a list may end with one wide interval
        whose own error is above ``max_error`` while the list's stays within it. False: every
        rule is clean on its own.
    certify : bool, default=True
        Hold out a certification split and certify the rule list on it. With False, all data
        serves growth and validation and ``rules_.guarantee.certified`` is False.
    fallback : None or estimator, default=None
        What answers the rows no rule covers in ``predict``: None -> the most frequent class;
        an estimator -> a clone fitted on the (encoded) calibration data.
    random_state : int, RandomState instance or None, default=None
    n_jobs : int or None, default=None
        Threads for the numba kernels (None / -1: all). Results do not depend on it.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where the row passes of the fit run (binning, widening's margins, validation counts,
        selection bitsets, certification matching): ``"cuda"``, their numba.cuda twins on a
        GPU; ``"auto"``, the GPU when numba.cuda finds one and there are at least 100,000
        rows, falling back to the CPU (``GPUFallbackWarning``) when a GPU call fails. The
        candidate trees grow on the CPU. Results do not depend on it: the twins give the same
        counts, so the same rule file.

    Attributes
    ----------
    rules_ : rules_export.RuleSet
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` had string column names.
    report_ : dict
        Rows used by each stage, candidates generated, rules kept, why fitting stopped.
    fallback_ : estimator or None
    """

    _parameter_constraints: dict = {
        "max_error": [_Range(Real, 0, 1, closed="neither")],
        "confidence": [_Range(Real, 0, 1, closed="neither")],
        "per_class_max_error": [None, dict, _Range(Real, 0, 1, closed="neither")],
        "mode": [StrOptions({"truth", "fidelity"})],
        "max_rules": [_Range(Integral, 1, None, closed="left")],
        "n_trees": [_Range(Integral, 1, None, closed="left")],
        "max_features": [None, _Range(Integral, 1, None, closed="left")],
        "min_support": [None, _Range(Integral, 1, None, closed="left")],
        "max_bins": [_Range(Integral, 2, 255, closed="both")],
        "categorical": [None, list, tuple],
        "projection": [None, StrOptions({"pca", "lda"})],
        "n_components": [_Range(Integral, 1, None, closed="left")],
        "keep_inputs": ["boolean"],
        "sequential": ["boolean"],
        "certify": ["boolean"],
        "fallback": [None, HasMethods(["fit", "predict"])],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
        "device": [StrOptions(set(DEVICES))],
    }

    def __init__(
        self,
        *,
        max_error: float = 0.005,
        confidence: float = 0.95,
        per_class_max_error: float | dict | None = None,
        mode: str = "truth",
        max_rules: int = 100,
        n_trees: int = 20,
        max_features: int | None = None,
        min_support: int | None = None,
        max_bins: int = 255,
        categorical: list[str] | tuple[str, ...] | None = None,
        projection: str | None = None,
        n_components: int = 16,
        keep_inputs: bool = False,
        sequential: bool = True,
        certify: bool = True,
        fallback: Any = None,
        random_state: Any = None,
        n_jobs: int | None = None,
        device: str = "auto",
    ):
        self.max_error = max_error
        self.confidence = confidence
        self.per_class_max_error = per_class_max_error
        self.mode = mode
        self.max_rules = max_rules
        self.n_trees = n_trees
        self.max_features = max_features
        self.min_support = min_support
        self.max_bins = max_bins
        self.categorical = categorical
        self.projection = projection
        self.n_components = n_components
        self.keep_inputs = keep_inputs
        self.sequential = sequential
        self.certify = certify
        self.fallback = fallback
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        # rows no rule can certify get the fallback; with the default (most frequent class)
        # and small data sets nothing can be certified, so accuracy is that of the fallback
        tags.classifier_tags.poor_score = self.fallback is None
        return tags

    # --- input ---------------------------------------------------------------------------------
    def _read_fit(self, X: Any) -> tuple[_data.FeatureMatrix, bool]:
        """FeatureMatrix for fitting and whether X carried real column names."""
        if _is_sparse(X):
            raise TypeError(
                "sparse input is not supported by RuleLearner; pass a dense array or a frame"
            )
        categorical = tuple(self.categorical or ())
        if _is_frame_like(X):
            X, has_names = self._named_frame(X)
            fm = _data.as_matrix(X, categorical=categorical, compact=True)
        else:
            arr = self._array(X, fit=True)
            has_names = False
            if arr.dtype.kind == "O" or categorical:
                fm = _data.as_matrix(_data.to_polars(arr), categorical=categorical, compact=True)
            else:
                fm = _data.as_matrix(arr, compact=True)
        if fm.n_rows == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape=(0, {fm.n_features})) while a minimum "
                "of 1 is required."
            )
        if fm.n_features == 0:
            raise ValueError(
                f"Found array with 0 feature(s) (shape=({fm.n_rows}, 0)) while a minimum of 1 "
                "is required."
            )
        return fm, has_names

    @staticmethod
    def _named_frame(X: Any) -> tuple[Any, bool]:
        if type(X).__module__.startswith("pandas"):
            if not hasattr(X, "columns"):
                X = X.to_frame()
            cols = list(X.columns)
            if not all(isinstance(c, str) for c in cols):
                return X.set_axis([f"x{i}" for i in range(len(cols))], axis=1), False
        return X, True

    @staticmethod
    def _array(X: Any, fit: bool) -> np.ndarray:
        try:
            return check_array(
                X,
                dtype="numeric",
                ensure_all_finite=False,
                ensure_min_samples=1 if fit else 0,
                ensure_2d=True,
                estimator="RuleLearner",
            )
        except ValueError as e:
            arr = np.asarray(X) if not isinstance(X, np.ndarray) else X
            strings = "could not convert" in str(e) or "bytes/strings" in str(e)
            if arr.ndim == 2 and arr.dtype.kind in "OUS" and strings:
                # strings (numpy str or bytes arrays too) are categorical features
                return (arr.astype(str) if arr.dtype.kind == "S" else arr).astype(object)
            raise

    def _read_predict(self, X: Any) -> _data.FeatureMatrix:
        check_is_fitted(self)
        if _is_sparse(X):
            raise TypeError("sparse input is not supported by RuleLearner; pass a dense array")
        names = self._names
        fitted_with_names = hasattr(self, "feature_names_in_")
        if _is_frame_like(X):
            Xf, has_names = self._named_frame(X)
            df = _data.to_polars(Xf)
            if has_names and fitted_with_names:
                self._check_names(list(df.columns), strict=type(X).__module__.startswith("pandas"))
            else:
                if has_names:
                    warnings.warn(
                        "X has feature names, but RuleLearner was fitted without feature names",
                        UserWarning,
                        stacklevel=3,
                    )
                if df.width != len(names):
                    raise ValueError(
                        f"X has {df.width} features, but RuleLearner is expecting "
                        f"{len(names)} features as input."
                    )
                df = df.rename(dict(zip(df.columns, names, strict=True)))
        else:
            arr = self._array(X, fit=False)
            if fitted_with_names:
                warnings.warn(
                    "X does not have valid feature names, but RuleLearner was fitted with "
                    "feature names",
                    UserWarning,
                    stacklevel=3,
                )
            if arr.shape[1] != len(names):
                raise ValueError(
                    f"X has {arr.shape[1]} features, but RuleLearner is expecting "
                    f"{len(names)} features as input."
                )
            if arr.dtype.kind != "O" and all(k == _data.NUMERIC for k in self._kinds):
                return _data.FeatureMatrix(
                    names,
                    self._kinds,
                    np.asfortranarray(arr, dtype=np.float64),
                    self._categories,
                )
            df = _data.to_polars(arr, names)
        kinds = dict(zip(names, self._kinds, strict=True))
        return _data.encode(df, names, kinds, self._categories)

    def _check_names(self, got: list[str], strict: bool) -> None:
        want = list(self._names)
        if got == want or (not strict and set(want) <= set(got)):
            return
        msg = "The feature names should match those that were passed during fit.\n"
        unseen = [n for n in got if n not in set(want)]
        missing = [n for n in want if n not in set(got)]
        if strict and unseen:
            msg += "Feature names unseen at fit time:\n"
            msg += "".join(f"- {n}\n" for n in unseen[:5])
        if missing:
            msg += "Feature names seen at fit time, yet now missing:\n"
            msg += "".join(f"- {n}\n" for n in sorted(missing)[:5])
        if not unseen and not missing:
            msg += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(msg)

    def _read_y(self, y: Any, n_rows: int) -> np.ndarray:
        if y is None:
            raise ValueError("RuleLearner requires y to be passed, but the target y is None")
        mod = type(y).__module__
        if mod.startswith(("polars", "pyarrow")):
            y = _data.as_labels(y, n_rows)
        else:
            y = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
            if y.ndim == 2 and y.shape[1] == 1:
                y = column_or_1d(y, warn=True)
            y = _data.as_labels(y, None)
        if y.shape[0] != n_rows:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"[{n_rows}, {y.shape[0]}]"
            )
        check_classification_targets(y)
        return y

    # --- fit -----------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> RuleLearner:
        """Learn and certify the rules on calibration data ``X``, ``y``; returns ``self``."""
        self._validate_params()
        fm, has_names = self._read_fit(X)
        y = self._read_y(y, fm.n_rows)
        classes, y_idx = np.unique(y, return_inverse=True)
        y_idx = y_idx.astype(np.int64)
        n_classes = classes.shape[0]
        bad = next((c for c in classes if isinstance(c, str) and "\x00" in c), None)
        if bad is not None:
            raise InputError(
                f"label {str(bad)!r} contains a NUL character, which SQL strings cannot hold"
            )
        caps = self._class_caps(classes)
        rs = check_random_state(self.random_state)
        rng = np.random.default_rng(int(rs.randint(0, 2**31 - 1)))
        cfg = Config(
            max_error=float(self.max_error),
            confidence=float(self.confidence),
            class_caps=tuple(caps),
            max_rules=int(self.max_rules),
            n_trees=int(self.n_trees),
            max_features=self.max_features,
            min_support=self.min_support,
            max_bins=int(self.max_bins),
            certify=bool(self.certify),
            residual_rounds=1 if self.sequential else 0,
            device=self._fit_device(fm.n_rows),
        )
        self._names = fm.names
        self._kinds = fm.kinds
        self._categories = dict(fm.categories)
        splits = plan_splits(y_idx, n_classes, cfg, rng)

        learn_names, values, is_cat, n_cats, proj = self._learning_matrix(fm, y_idx, splits, rng)
        with _threads(self.n_jobs):
            res = learn_rules(values, is_cat, n_cats, y_idx, n_classes, cfg, rng, splits)

        self.classes_ = classes
        self.n_features_in_ = fm.n_features
        if has_names:
            self.feature_names_in_ = np.asarray(fm.names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self._learn_names = learn_names
        self._proj = proj
        self._n_cats = n_cats
        self._program = compile_rules(res.conditions, n_cats)
        self._rule_labels = res.labels.astype(np.int64)
        self.report_ = dict(res.report)
        self.report_["device"] = "cpu" if cfg.device == "cpu" else "cuda"
        self.report_["rules"] = len(res.conditions)
        counts = np.bincount(y_idx, minlength=n_classes)
        capped = {c for c, _ in caps}
        rare = [
            label_value(classes[c])
            for c in range(n_classes)
            if c not in capped and counts[c] < min(10 * float(self.max_error), 0.1) * counts.sum()
        ]
        if rare:  # an overall error bound lets rules answer these rows with another label
            self.report_["warnings"] = [
                f"classes {rare} are rarer than 10 x max_error (or 10%): rules may answer many of "
                "their rows with another label within the overall error bound; set "
                "per_class_max_error for them to cap that"
            ]
        self.rules_ = self._rule_set(fm, y, classes, res, learn_names, proj, caps)
        # the calibration distribution of each feature the rules read: the audit's drift reference
        columns = {n: fm.values[:, j] for j, n in enumerate(fm.names)}
        self.rules_ = self.rules_.replace(feature_summaries=summarise(self.rules_, columns))
        # the shared fast evaluator answers numeric inputs at predict time
        self._compiled = compile_rule_set(self.rules_) if len(self.rules_) else None
        counts = np.bincount(y_idx, minlength=n_classes)
        self._prior = counts / counts.sum()
        self._majority = int(np.argmax(counts))
        if self.fallback is not None:
            # float64, as at predict time (the fit may hold float32 values)
            self.fallback_ = clone(self.fallback).fit(fm.values.astype(np.float64), y)
        else:
            self.fallback_ = None
        if not res.conditions:
            warnings.warn(
                f"RuleLearner found no rule to keep; the rule set is empty and every row "
                f"defers to the fallback. Reason: {self.report_.get('stop_reason', 'unknown')}",
                NoRulesWarning,
                stacklevel=2,
            )
        return self

    def _class_caps(self, classes: np.ndarray) -> list[tuple[int, float]]:
        pc = self.per_class_max_error
        if pc is None:
            return []
        if isinstance(pc, Real):
            return [(c, float(pc)) for c in range(classes.shape[0])]
        caps = []
        lookup = {label_value(c): i for i, c in enumerate(classes)}
        for lab, cap in pc.items():
            key = label_value(lab)
            if key not in lookup:
                raise ValueError(
                    f"per_class_max_error names label {lab!r}, which is not among the classes "
                    f"{[label_value(c) for c in classes]}"
                )
            cap = float(cap)
            if not 0.0 < cap < 1.0:
                raise ValueError(f"per_class_max_error for {lab!r} must lie in (0, 1), got {cap}")
            caps.append((lookup[key], cap))
        return sorted(caps)

    def _fit_device(self, n_rows: int) -> str:
        """The device the fit's kernels run on (a GPU chosen by "auto" may fall back)."""
        device = select_device(self.device, n_rows)
        return AUTO_CUDA if device == "cuda" and self.device == "auto" else device

    def _learning_matrix(self, fm: _data.FeatureMatrix, y_idx: np.ndarray, splits, rng):
        is_cat_raw = fm.categorical_mask
        if self.keep_inputs and self.projection is None:
            raise ValueError("keep_inputs=True needs a projection ('pca' or 'lda')")
        if self.projection is None:
            n_cats = np.array([len(fm.categories.get(n, ())) for n in fm.names], np.int64)
            return fm.names, fm.values, is_cat_raw, n_cats, None
        num_idx = np.flatnonzero(~is_cat_raw)
        if num_idx.size == 0:
            raise ValueError(f"projection={self.projection!r} needs at least one numeric column")
        raw = np.asfortranarray(fm.values[:, num_idx], dtype=np.float64)
        if self.projection == "lda":  # labels: growth rows only, so validation stays honest
            mean, weights = fit_lda(raw, splits[0], y_idx, int(self.n_components), rng)
            prefix = "ld"
        else:
            fit_rows = np.concatenate(splits[:2])
            mean, weights = fit_pca(raw, fit_rows, int(self.n_components), rng)
            prefix = "pc"
        used = set(fm.names)
        outs = []
        for j in range(weights.shape[0]):
            name = f"{prefix}{j}"
            while name in used:
                name = "_" + name
            used.add(name)
            outs.append(name)
        proj = Projection(
            inputs=tuple(fm.names[i] for i in num_idx),
            outputs=tuple(outs),
            mean=tuple(float(v) for v in mean),
            weights=tuple(tuple(float(v) for v in row) for row in weights),
            sum_block=SUM_BLOCK if num_idx.size > SUM_BLOCK else None,
        )
        z = project(raw, proj)
        # learning columns: the projected ones, then the raw columns kept beside them
        keep = np.arange(fm.n_features) if self.keep_inputs else np.flatnonzero(is_cat_raw)
        values = np.asfortranarray(np.concatenate([z, fm.values[:, keep]], axis=1))
        names = tuple(outs) + tuple(fm.names[i] for i in keep)
        is_cat = np.concatenate([np.zeros(len(outs), bool), is_cat_raw[keep]])
        n_cats = np.array(
            [0] * len(outs) + [len(fm.categories.get(fm.names[i], ())) for i in keep], np.int64
        )
        return names, values, is_cat, n_cats, proj

    def _rule_set(self, fm, y, classes, res, learn_names, proj, caps) -> RuleSet:
        labels = [label_value(c) for c in classes]
        features = tuple(
            Feature(n, k, tuple(fm.categories.get(n, ())) if k == _data.CATEGORICAL else ())
            for n, k in zip(fm.names, fm.kinds, strict=True)
        )
        rules = []
        for k, conds in enumerate(res.conditions):
            out = []
            for c in conds:
                name = learn_names[c.feature]
                if isinstance(c, CatCond):
                    cats = fm.categories[name]
                    out.append(InSet(name, tuple(cats[i] for i in c.codes)))
                else:
                    out.append(Interval(name, c.low, c.high))
            rules.append(
                Rule(
                    tuple(out),
                    labels[int(res.labels[k])],
                    RuleStats(
                        tuple(int(v) for v in res.growth_counts[k]),
                        tuple(int(v) for v in res.validation_counts[k]),
                        float(res.bounds[k]),
                    ),
                )
            )
        cert = res.certification
        guarantee = Guarantee(
            max_error=float(self.max_error),
            confidence=float(self.confidence),
            mode=self.mode,
            per_class_max_error=tuple((labels[c], cap) for c, cap in caps),
            certified=bool(cert is not None and cert.kept > 0),
            error_upper_bound=None if cert is None else cert.error_upper_bound,
            certification_rows=0 if cert is None else int(cert.rows),
            certification_covered=0 if cert is None else int(cert.covered),
            certification_errors=0 if cert is None else int(cert.errors),
            method=METHOD if self.certify else "",
        )
        from .. import __version__

        return RuleSet(
            features=features,
            classes=tuple(labels),
            rules=tuple(rules),
            projection=proj,
            guarantee=guarantee,
            fit_params=self._json_params(),
            data_fingerprint=_data.fingerprint(fm, np.asarray(y)),
            library_version=__version__,
            metadata={
                "rows": res.report.get("rows", {}),
                "stop_reason": res.report.get("stop_reason", ""),
            },
        )

    def _json_params(self) -> dict:
        out = {}
        for k, v in self.get_params(deep=False).items():
            if k in ("n_jobs", "device"):  # never change the result: keep the bytes identical
                continue
            if k == "random_state" and not isinstance(v, (int, type(None))):
                v = repr(type(v).__name__)
            elif k == "fallback":
                v = None if v is None else type(v).__name__
            elif k == "per_class_max_error" and isinstance(v, Mapping):
                v = [[label_value(a), float(b)] for a, b in v.items()]
            elif isinstance(v, tuple):
                v = list(v)
            elif hasattr(v, "item"):
                v = v.item()
            out[k] = v
        return out

    # --- prediction ----------------------------------------------------------------------------
    def _learn_values(self, fm: _data.FeatureMatrix) -> np.ndarray:
        if self._proj is None:
            return fm.values
        p = self._proj
        idx = [fm.names.index(n) for n in p.inputs]
        z = project(np.asfortranarray(fm.values[:, idx]), p)
        raw = [fm.names.index(n) for n in self._learn_names[len(p.outputs) :]]
        return np.asfortranarray(np.concatenate([z, fm.values[:, raw]], axis=1))

    def match(self, X: Any) -> np.ndarray:
        """Index (int64) of the first rule matching each row; -1 where no rule matches."""
        fm = self._read_predict(X)
        return self._match_fm(fm)

    def _match_fm(self, fm: _data.FeatureMatrix) -> np.ndarray:
        if len(self._rule_labels) == 0:
            return np.full(fm.n_rows, -1, np.int64)
        with _threads(self.n_jobs):
            if not any(k == _data.CATEGORICAL for k in fm.kinds):
                fast = self._evaluator()
                if fast is not None:  # rulecascade.serve: the shared fast evaluator
                    return fast(fm.values)
            return match(self._learn_values(fm), self._program)

    def _evaluator(self):
        """``rulecascade.serve.match`` on the rule set compiled at fit time, if available."""
        compiled = getattr(self, "_compiled", None)
        if compiled is None:
            return None
        return lambda X: np.asarray(fast_match(compiled, X, device="cpu"), np.int64)

    def predict(self, X: Any) -> np.ndarray:
        """The covering rule's label where a rule matches; the fallback's answer elsewhere."""
        fm = self._read_predict(X)
        idx = self._match_fm(fm)
        out = np.empty(fm.n_rows, dtype=np.int64)
        cov = idx >= 0
        out[cov] = self._rule_labels[idx[cov]]
        rest = ~cov
        if rest.any():
            if self.fallback_ is None:
                out[rest] = self._majority
            else:
                pred = np.asarray(self.fallback_.predict(fm.values[rest]))
                out[rest] = np.searchsorted(self.classes_, pred)
        return self.classes_[out]

    def predict_proba(self, X: Any) -> np.ndarray:
        """One-hot for rows a rule answers; the fallback's probabilities (or the class
        frequencies of the calibration data) elsewhere."""
        fm = self._read_predict(X)
        idx = self._match_fm(fm)
        n_classes = self.classes_.shape[0]
        out = np.zeros((fm.n_rows, n_classes))
        cov = idx >= 0
        out[np.flatnonzero(cov), self._rule_labels[idx[cov]]] = 1.0
        rest = ~cov
        if rest.any():
            if self.fallback_ is None:
                out[rest] = self._prior
            elif hasattr(self.fallback_, "predict_proba"):
                p = np.asarray(self.fallback_.predict_proba(fm.values[rest]))
                cols = np.searchsorted(self.classes_, self.fallback_.classes_)
                sub = np.zeros((p.shape[0], n_classes))
                sub[:, cols] = p
                out[rest] = sub
            else:
                pred = np.asarray(self.fallback_.predict(fm.values[rest]))
                out[np.flatnonzero(rest), np.searchsorted(self.classes_, pred)] = 1.0
        return out
