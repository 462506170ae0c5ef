"""``EarlyExit``: rules (or linear probes) on pooled activations answer rows inside a network.

>>> ee = EarlyExit(model, exits=["block1", "block2"], max_error=0.01, random_state=0)  # doctest: +SKIP
>>> ee.fit(X_calib)                     # unlabeled: the model labels its rows itself  # doctest: +SKIP
>>> y, exit_ = ee.predict(X, return_exit=True)  # exit index per row, -1: the full model  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval as _Range
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from rules_export import RuleSet, make_features

from .certify import CascadeCertificate, certify_sequence
from .flops import probe_flops, rule_flops
from .pooling import feature_names, pool, pool_flops
from .probe import Probe

__all__ = ["EarlyExit", "TooFewRowsWarning"]

MIN_FIT_ROWS = 20  # fewer rows left for an exit: it is not fitted (answers nothing)
N_THRESHOLDS = 100  # probe thresholds tested, from high to low
# the walk starts at the first setting the fit rows expect to answer this many times the rows
# an error-free bound needs (a setting answering fewer rows cannot pass the test)
START_MARGIN = 2.0


class TooFewRowsWarning(UserWarning):
    """The certification split is too small to certify ``max_error`` at ``confidence``."""


def _is_onnx(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike)) or type(model).__module__.startswith("onnx")


class EarlyExit(BaseEstimator):
    """Exits after named layers of a network answer the rows whose answer is already decided.

    At each exit the activation is pooled (per-channel mean and max of a convolution map, a
    vector as is); an exit's rules (``kind="rules"``, a :class:`rulecascade.RuleLearner` in
    fidelity mode) or linear probe (``kind="probe"``, answering when its top probability passes
    one threshold shared by all exits) answer some rows, and the rest of the network runs on
    the activation already computed for the others only. ``fit`` labels the calibration rows
    with the model itself, holds out ``certification_fraction`` of them, fits the exits in order
    on the rows earlier exits leave, and certifies the union of answered rows on the held-out
    rows: of the rows any exit answers, at most ``max_error`` disagree with the full model, with
    probability ``confidence`` (a fixed-sequence binomial test over exit prefixes, or over
    thresholds from high to low). Exits past the certified setting answer nothing.

    Parameters
    ----------
    model : torch.nn.Module, or an ONNX file path / ModelProto (see :meth:`from_onnx`)
    exits : sequence of str
        Submodule names (torch; in forward order) or tensor names (ONNX) after which to exit.
    max_error, confidence : float
        The certified target (disagreement with the full model on answered rows).
    kind : {"rules", "probe"}, default="rules"
    projection : {None, "pca", "lda"}, n_components : int
        Passed to each exit's RuleLearner (rules read projected activations).
    exit_max_error : float or None, default=None
        Target of each exit's RuleLearner (None: ``max_error / 2``, leaving room for the
        cascade's own test on the held-out rows).
    certification_fraction : float, default=0.3
        Share of the calibration rows held out to certify the cascade.
    batch_size : int, default=4096
        Rows per forward pass in fit, predict and flops_saved.
    learner_params : dict or None
        More RuleLearner parameters (``n_trees``, ``max_rules``, ...).
    random_state : int, RandomState instance or None
    providers : sequence of str or None
        onnxruntime execution providers (ONNX only; default CPU).

    Attributes
    ----------
    rules_ : list of rules_export.RuleSet (kind="rules")
        One per exit; an exit past the certified prefix has an empty rule set.
    probes_ : list of Probe (kind="probe")
    threshold_ : float or None (kind="probe")
    certificate_ : CascadeCertificate
    flops_ : dict
        FLOPs per row: ``stages`` (one per stage), ``exits`` (pooling and rules/probe, per exit),
        ``model`` (the whole network).
    report_ : dict
        Rows per split and per exit, exits fitted and kept, warnings.
    """

    _parameter_constraints: dict = {
        "max_error": [_Range(Real, 0, 1, closed="neither")],
        "confidence": [_Range(Real, 0, 1, closed="neither")],
        "kind": [StrOptions({"rules", "probe"})],
        "projection": [None, StrOptions({"pca", "lda"})],
        "n_components": [_Range(Integral, 1, None, closed="left")],
        "exit_max_error": [None, _Range(Real, 0, 1, closed="neither")],
        "certification_fraction": [_Range(Real, 0, 1, closed="neither")],
        "batch_size": [_Range(Integral, 1, None, closed="left")],
        "learner_params": [None, dict],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        model: Any,
        exits: Sequence[str],
        *,
        max_error: float = 0.01,
        confidence: float = 0.95,
        kind: str = "rules",
        projection: str | None = None,
        n_components: int = 16,
        exit_max_error: float | None = None,
        certification_fraction: float = 0.3,
        batch_size: int = 4096,
        learner_params: dict | None = None,
        random_state: Any = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        self.model = model
        self.exits = exits
        self.max_error = max_error
        self.confidence = confidence
        self.kind = kind
        self.projection = projection
        self.n_components = n_components
        self.exit_max_error = exit_max_error
        self.certification_fraction = certification_fraction
        self.batch_size = batch_size
        self.learner_params = learner_params
        self.random_state = random_state
        self.providers = providers

    @classmethod
    def from_onnx(cls, path: Any, exits: Sequence[str], **params: Any) -> EarlyExit:
        """Exits at named tensors of an ONNX model, run as onnxruntime sessions."""
        if not _is_onnx(path):
            raise TypeError(
                f"from_onnx takes an ONNX file path or ModelProto, got {type(path).__name__}"
            )
        return cls(path, exits, **params)

    # --- the network ---------------------------------------------------------------------------
    def _network(self) -> Any:
        exits = self.exits
        if isinstance(exits, str) or not isinstance(exits, Sequence):
            raise TypeError(f"exits must be a list of names, got {exits!r}")
        if _is_onnx(self.model):
            from .onnx_graph import OnnxNetwork

            return OnnxNetwork(self.model, list(exits), self.providers)
        from .torch_net import TorchNetwork

        return TorchNetwork(self.model, list(exits))

    def _rows(self, X: Any, net: Any, what: str) -> int:
        shape = getattr(X, "shape", None)
        if shape is None or not hasattr(X, "dtype"):
            raise TypeError(f"X must be a torch tensor or a numpy array, got {type(X).__name__}")
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2:
            raise ValueError(f"X must hold rows (a batch axis first), got shape {shape}")
        if shape[0] == 0:
            raise ValueError(f"X has no rows (an empty batch, shape {shape}); {what} needs rows")
        want = net.row_shape
        if want is not None and shape[1:] != tuple(want):
            raise ValueError(
                f"X has rows of shape {shape[1:]}, but the network takes rows of shape "
                f"{tuple(want)}"
            )
        return shape[0]

    def _forward(self, net: Any, X: Any) -> tuple[list[np.ndarray], np.ndarray]:
        """Pooled features at every exit and the full model's label, for every row of X."""
        n = X.shape[0]
        feats: list[list[np.ndarray]] = [[] for _ in net.exits]
        labels = []
        for i in range(0, n, int(self.batch_size)):
            a = net.as_batch(X[i : i + int(self.batch_size)])
            for k in range(len(net.exits)):
                a = net.run(k, a)
                feats[k].append(pool(a))
            labels.append(net.labels(net.run(len(net.exits), a)))
        return [np.concatenate(f) for f in feats], np.concatenate(labels)

    # --- fit -----------------------------------------------------------------------------------
    def fit(self, X: Any, y: None = None) -> EarlyExit:
        """Label ``X`` with the model, fit the exits in order and certify the cascade."""
        self._validate_params()
        net = self._network()
        net.check_ready()
        self._rows(X, net, "fit")
        if net.row_shape is None:
            net.row_shape = tuple(int(s) for s in X.shape[1:])
        example = net.as_batch(X[:1])
        stage_flops, shapes, n_classes = net.profile(example)
        F, labels = self._forward(net, X)
        n = labels.shape[0]
        self.network_, self.n_classes_ = net, n_classes
        self.feature_names_ = [feature_names(e, s) for e, s in zip(net.exits, shapes, strict=True)]
        rs = check_random_state(self.random_state)
        rng = np.random.default_rng(int(rs.randint(0, 2**31 - 1)))
        perm = rng.permutation(n)
        n_cert = int(round(float(self.certification_fraction) * n))
        cert, fit_rows = np.sort(perm[:n_cert]), np.sort(perm[n_cert:])
        seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=len(net.exits))]
        needed = _rows_needed(self.max_error, self.confidence)
        self.report_ = {
            "rows": {"calibration": n, "fit": int(fit_rows.size), "certification": n_cert},
            "rows_needed": needed,
            "exits": [],
            "warnings": [],
        }
        if n_cert < needed:
            msg = (
                f"too few calibration rows: the certification split holds {n_cert} of {n} rows, "
                f"but certifying max_error={self.max_error} at confidence={self.confidence} "
                f"needs at least {needed} answered rows without a disagreement; pass at least "
                f"{math.ceil(needed / float(self.certification_fraction))} calibration rows "
                "(more where the exits answer only part of them)"
            )
            self.report_["warnings"].append(msg)
            warnings.warn(msg, TooFewRowsWarning, stacklevel=2)
        if self.kind == "rules":
            self._fit_rules(F, labels, fit_rows, cert, seeds, n_cert)
        else:
            self._fit_probes(F, labels, fit_rows, cert, seeds, n_cert)
        self.flops_ = {
            "stages": stage_flops,
            "exits": [pool_flops(s) + c for s, c in zip(shapes, self._exit_costs(), strict=True)],
            "model": int(sum(stage_flops)),
        }
        self.n_features_in_ = int(np.prod(net.row_shape)) if net.row_shape else 0
        self._cascade = None
        return self

    def _fit_rules(self, F, labels, fit_rows, cert, seeds, n_cert) -> None:
        from rulecascade import RuleLearner, match

        fitted: list[RuleSet] = []
        left = fit_rows
        fit_hits: list[np.ndarray] = []
        for k, exit_name in enumerate(self.network_.exits):
            names = self.feature_names_[k]
            info = {"exit": exit_name, "fit_rows": int(left.size)}
            if left.size < MIN_FIT_ROWS:
                rs = self._empty(names)
                info["skipped"] = f"{left.size} rows left (< {MIN_FIT_ROWS})"
            else:
                import polars as pl

                params = dict(self.learner_params or {})
                learner = RuleLearner(
                    max_error=self._exit_target(),
                    confidence=float(self.confidence),
                    mode="fidelity",
                    projection=self.projection,
                    n_components=int(self.n_components),
                    random_state=seeds[k],
                    **params,
                )
                frame = pl.DataFrame(F[k][left], schema=list(names), orient="row")
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    learner.fit(frame, labels[left])
                for w in caught:
                    info.setdefault("learner_warnings", []).append(str(w.message))
                rs = learner.rules_
            idx = self._first(match, rs, F[k][left])
            hit = idx >= 0
            info.update(rules=len(rs.rules), fit_answered=int(hit.sum()))
            fit_hits.append(np.bincount(idx[hit], minlength=len(rs.rules)))
            left = left[~hit]
            fitted.append(rs)
            self.report_["exits"].append(info)
        # certification on the held-out rows: settings (exit k, its first j rules; earlier
        # exits whole) in order, starting where the fit rows promise enough answered rows
        answered, wrong, settings, expected = [], [], [], []
        rem = np.arange(cert.size)
        done_fit = 0
        for k, rs in enumerate(fitted):
            n_rules = len(rs.rules)
            idx = (
                match(rs, F[k][cert[rem]], device="cpu")
                if n_rules
                else np.full(rem.size, -1, np.int64)
            )
            lab = self._rule_labels(rs)
            base_a = answered[-1] if answered else np.zeros(cert.size, bool)
            base_w = wrong[-1] if wrong else np.zeros(cert.size, bool)
            per_rule = fit_hits[k]
            for j in range(1, n_rules + 1):
                hit = (idx >= 0) & (idx < j)
                a_row, w_row = base_a.copy(), base_w.copy()
                a_row[rem[hit]] = True
                w_row[rem[hit]] = lab[idx[hit]] != labels[cert[rem[hit]]]
                answered.append(a_row)
                wrong.append(w_row)
                settings.append(f"{self.network_.exits[k]}:{j}")
                expected.append((done_fit + per_rule[:j].sum()) / max(fit_rows.size, 1))
            done_fit += per_rule.sum()
            rem = rem[idx < 0]
        need = self.report_["rows_needed"]
        if answered:
            ok = np.asarray(expected) * cert.size >= START_MARGIN * need
            start = int(np.argmax(ok)) if ok.any() else len(answered) - 1
            A, W = np.stack(answered), np.stack(wrong)
        else:
            start, A, W = 0, np.zeros((0, cert.size), bool), np.zeros((0, cert.size), bool)
        self.certificate_ = certify_sequence(A, W, self.max_error, self.confidence, start, settings)
        kept = self.certificate_.kept
        # kept settings: exits before the last kept one whole, that one up to its rule j
        keep_rules = [0] * len(fitted)
        if kept:
            k_last, j_last = settings[kept - 1].rsplit(":", 1)
            k_last = list(self.network_.exits).index(k_last)
            for k in range(k_last):
                keep_rules[k] = len(fitted[k].rules)
            keep_rules[k_last] = int(j_last)
        self.rules_ = [self._with_certificate(rs, k, keep_rules[k]) for k, rs in enumerate(fitted)]
        self.report_["exits_kept"] = sum(1 for r in keep_rules if r)
        self.report_["rules_kept"] = keep_rules
        self._compile()

    def _fit_probes(self, F, labels, fit_rows, cert, seeds, n_cert) -> None:
        self.probes_ = [
            Probe(seeds[k]).fit(F[k][fit_rows], labels[fit_rows], self.n_classes_)
            for k in range(len(F))
        ]
        # thresholds from high to low: quantiles of the fit rows' top probability at exit 1..K
        conf_fit = np.max([p.answer(F[k][fit_rows])[1] for k, p in enumerate(self.probes_)], axis=0)
        grid = np.unique(np.quantile(conf_fit, np.linspace(0.0, 1.0, N_THRESHOLDS + 1)))[::-1]
        grid = grid[grid >= 1.0 / self.n_classes_]
        answers = [p.answer(F[k][cert]) for k, p in enumerate(self.probes_)]
        fit_answers = [p.answer(F[k][fit_rows]) for k, p in enumerate(self.probes_)]
        answered = np.zeros((grid.size, cert.size), bool)
        wrong = np.zeros((grid.size, cert.size), bool)
        fit_cov = np.zeros(grid.size)
        for h, t in enumerate(grid):
            lab, first = _first_exit(answers, t)
            answered[h] = first >= 0
            wrong[h] = answered[h] & (lab != labels[cert])
            fit_cov[h] = np.mean(_first_exit(fit_answers, t)[1] >= 0)
        need = self.report_["rows_needed"]
        ok = fit_cov * cert.size >= START_MARGIN * need
        start = int(np.argmax(ok)) if ok.any() else 0
        self.certificate_ = certify_sequence(
            answered, wrong, self.max_error, self.confidence, start, [float(t) for t in grid]
        )
        kept = self.certificate_.kept
        self.threshold_ = float(grid[kept - 1]) if kept else None
        self.report_["exits_kept"] = len(F) if kept else 0
        self.report_["thresholds_tested"] = len(self.certificate_.tested)

    def _exit_target(self) -> float:
        """The target each exit's RuleLearner is fitted for (below ``max_error``, so that
        the union of the exits passes the cascade's test on fresh rows)."""
        if self.exit_max_error is not None:
            return float(self.exit_max_error)
        return float(self.max_error) / 2.0

    def _empty(self, names: Sequence[str]) -> RuleSet:
        return RuleSet(features=make_features(names), classes=tuple(range(self.n_classes_)))

    @staticmethod
    def _rule_labels(rs: RuleSet) -> np.ndarray:
        return np.asarray([r.label for r in rs.rules], dtype=np.int64)

    @staticmethod
    def _first(match, rs: RuleSet, F: np.ndarray) -> np.ndarray:
        if not rs.rules or F.shape[0] == 0:
            return np.full(F.shape[0], -1, np.int64)
        return np.asarray(match(rs, F, device="cpu"), np.int64)

    def _with_certificate(self, rs: RuleSet, k: int, kept: int) -> RuleSet:
        c = self.certificate_
        meta = dict(rs.metadata)
        meta["early_exit"] = {
            "exit": self.network_.exits[k],
            "index": k,
            "exits": list(self.network_.exits),
            "rules_serving": int(kept),
            "rules_fitted": len(rs.rules),
            "cascade_certified": bool(c.certified),
            "cascade_max_error": c.max_error,
            "cascade_confidence": c.confidence,
            "cascade_error_upper_bound": c.error_upper_bound,
            "cascade_certification_rows": c.rows,
            "cascade_answered": c.answered,
            "cascade_disagreements": c.disagreements,
        }
        return dataclasses.replace(rs, rules=rs.rules[:kept], metadata=meta)

    def _compile(self) -> None:
        from rulecascade import compile_rules

        self._compiled = [compile_rules(rs) if rs.rules else None for rs in self.rules_]
        self._labels = [self._rule_labels(rs) for rs in self.rules_]

    def _exit_costs(self) -> list[int]:
        if self.kind == "rules":
            return [rule_flops(rs) for rs in self.rules_]
        on = self.threshold_ is not None
        return [probe_flops(len(n), self.n_classes_) if on else 0 for n in self.feature_names_]

    def _enabled(self, k: int) -> bool:
        if self.kind == "rules":
            return self._compiled[k] is not None
        return self.threshold_ is not None

    def _answer(self, k: int, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(label, answered) per row at exit ``k``."""
        if self.kind == "rules":
            from rulecascade import match

            idx = match(self._compiled[k], F, device="cpu")
            hit = idx >= 0
            return np.where(hit, self._labels[k][np.maximum(idx, 0)], -1), hit
        lab, conf = self.probes_[k].answer(F)
        return lab, conf >= self.threshold_

    # --- predict -------------------------------------------------------------------------------
    def predict(self, X: Any, return_exit: bool = False) -> Any:
        """The exit's answer where one answers, the model's argmax elsewhere (numpy int64);
        with ``return_exit``, also the exit index per row (-1: the full model ran)."""
        check_is_fitted(self, "certificate_")
        net = self.network_
        net.check_ready()
        n = self._rows(X, net, "predict")
        pred = np.empty(n, np.int64)
        where = np.full(n, -1, np.int64)
        K = len(net.exits)
        bs = int(self.batch_size)
        for i in range(0, n, bs):
            a = net.as_batch(X[i : i + bs])
            rows = np.arange(i, min(i + bs, n))
            for k in range(K):
                a = net.run(k, a)
                if not self._enabled(k):
                    continue
                lab, hit = self._answer(k, pool(a))
                if hit.any():
                    pred[rows[hit]] = lab[hit]
                    where[rows[hit]] = k
                    rows = rows[~hit]
                    if rows.size == 0:
                        break
                    a = net.take(a, ~hit)
            else:
                pred[rows] = net.labels(net.run(K, a))
        return (pred, where) if return_exit else pred

    def flops_saved(self, X: Any) -> float:
        """Fraction of the model's FLOPs not run on ``X`` (pooling and exit evaluation counted;
        below 0 when the exits cost more than they save)."""
        _, where = self.predict(X, return_exit=True)
        return self.flops_saved_for(where)

    def flops_saved_for(self, exit_: np.ndarray) -> float:
        """``flops_saved`` from the exit index per row that ``predict(..., return_exit=True)``
        gave."""
        check_is_fitted(self, "certificate_")
        stages = np.asarray(self.flops_["stages"], np.float64)
        K = stages.size - 1
        extra = np.asarray(
            [c if self._enabled(k) else 0 for k, c in enumerate(self.flops_["exits"])], np.float64
        )
        run_to = np.where(exit_ < 0, K, exit_)
        cost_stage = np.cumsum(stages)[run_to]
        checked = np.minimum(run_to, K - 1)
        cost_exit = np.cumsum(extra)[checked]
        total = stages.sum() * exit_.size
        return float(1.0 - (cost_stage + cost_exit).sum() / total) if total else 0.0

    # --- serving as a Cascade chain ------------------------------------------------------------
    @property
    def cascade_(self) -> Any:
        """The :class:`rulecascade.Cascade` chain serving the rules (kind="rules")."""
        check_is_fitted(self, "certificate_")
        if self.kind != "rules":
            raise AttributeError("cascade_ serves rule exits; kind='probe' has no rule sets")
        if getattr(self, "_cascade", None) is None:
            from rulecascade import Cascade

            stages = [(rs, _Representation(self, k)) for k, rs in enumerate(self.rules_)]
            self._cascade = Cascade.chain(
                *stages, model=_Tail(self), device="cpu", validate_labels=False
            )
        return self._cascade


ACTIVATION = "__activation__"


class _Representation:
    """Stage ``k`` of the network as a Cascade representation: pooled columns by name, and the
    activation under ``__activation__`` for the stages after it."""

    def __init__(self, ee: EarlyExit, k: int) -> None:
        self.ee, self.k = ee, k
        self.__name__ = f"stage {k} (to {ee.network_.exits[k]!r})"

    def __call__(self, Z: Any) -> dict:
        net = self.ee.network_
        if self.k == 0:
            net.check_ready()
            self.ee._rows(Z, net, "predict")
            a = net.as_batch(Z)
        else:
            a = Z[ACTIVATION]
        a = net.run(self.k, a)
        F = pool(a)
        out = {name: F[:, j] for j, name in enumerate(self.ee.feature_names_[self.k])}
        out[ACTIVATION] = a
        return out


class _Tail:
    """The rest of the network after the last exit, as a Cascade model."""

    def __init__(self, ee: EarlyExit) -> None:
        self.ee = ee
        self.__name__ = "network tail"

    def __call__(self, Z: dict) -> np.ndarray:
        net = self.ee.network_
        return net.labels(net.run(len(net.exits), Z[ACTIVATION]))


def _first_exit(
    answers: list[tuple[np.ndarray, np.ndarray]], t: float
) -> tuple[np.ndarray, np.ndarray]:
    """Label and first exit (-1: none) per row for probes answering at top probability >= t."""
    n = answers[0][0].shape[0]
    lab = np.full(n, -1, np.int64)
    first = np.full(n, -1, np.int64)
    for k, (lk, ck) in enumerate(answers):
        new = (first < 0) & (ck >= t)
        lab[new] = lk[new]
        first[new] = k
    return lab, first


def _rows_needed(max_error: float, confidence: float) -> int:
    from rulecascade.learn.bounds import rows_needed

    return rows_needed(float(max_error), float(confidence))


__all__ += ["CascadeCertificate"]
