"""Shared helpers for the benchmarks: data sets, splits, peer matrices, metrics, markdown."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

__all__ = [
    "Answer",
    "Table",
    "evaluate",
    "fmt",
    "load_table",
    "markdown_table",
    "peer_matrix",
    "rulecascade_answer",
    "rulecascade_fit",
    "split_indices",
    "timed",
]

#: Benchmark names -> how to build them. ``default`` is ``datasets.load("credit_default")``;
#: ``fraud`` is ``datasets.synthetic.make_fraud`` with a 0.5% fraud class.
DATASETS = (
    "breast_cancer",
    "phishing",
    "default",
    "digits",
    "image_segments",
    "shuttle",
    "flights",
    "fraud",
)
_ALIASES = {"default": "credit_default"}


@dataclass
class Table:
    """A data set ready for the benchmark: polars features, numpy labels, and provenance notes."""

    name: str
    X: pl.DataFrame
    y: np.ndarray
    categorical: tuple[str, ...]
    note: str = ""

    @property
    def n_rows(self) -> int:
        return self.X.height


def _subsample(table: Table, n: int, seed: int) -> Table:
    if table.n_rows <= n:
        return table
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(
        np.arange(table.n_rows), train_size=n, stratify=table.y, random_state=seed
    )
    idx = np.sort(idx)
    note = (table.note + "; " if table.note else "") + (
        f"stratified subsample of {n:,} of {table.n_rows:,} rows"
    )
    return Table(table.name, table.X[idx], table.y[idx], table.categorical, note)


def load_table(name: str, quick: bool = False, seed: int = 0) -> Table:
    """Load a benchmark data set (``quick`` shrinks the large ones)."""
    if name == "fraud":
        from rulecascade.datasets.synthetic import make_fraud

        n = 50_000 if quick else 150_000
        ds = make_fraud(n, n_features=50, fraud_rate=0.005, random_state=seed)
        note = f"make_fraud({n:,}, 50 features, fraud_rate=0.005)"
        return Table(name, ds.X, ds.y.astype(np.int64), tuple(ds.categorical), note)
    try:
        from rulecascade.datasets import load
    except ImportError:  # the datasets package has not landed: sklearn's bundled files
        load = None
    if load is None:
        from sklearn import datasets as skd

        loader = {"breast_cancer": skd.load_breast_cancer, "digits": skd.load_digits}[name]
        b = loader()
        X = pl.DataFrame({f"f{j}": b.data[:, j] for j in range(b.data.shape[1])})
        return Table(name, X, b.target.astype(np.int64), ())
    ds = load(_ALIASES.get(name, name))
    table = Table(name, ds.X, ds.y, tuple(ds.categorical))
    if name == "flights":
        table = _subsample(table, 20_000 if quick else 200_000, seed)
    return table


def split_indices(
    y: np.ndarray, fractions: Sequence[float] = (0.3, 0.4, 0.3), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified fit / calibration / test row indices (sorted), fixed seed."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    idx = np.arange(n)
    f_fit, f_cal, _ = fractions
    fit, rest = train_test_split(idx, train_size=f_fit, stratify=y, random_state=seed)
    cal, test = train_test_split(
        rest, train_size=f_cal / (1.0 - f_fit), stratify=y[rest], random_state=seed + 1
    )
    return np.sort(fit), np.sort(cal), np.sort(test)


def peer_matrix(
    X: pl.DataFrame, categorical: Sequence[str], reference_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """float64 matrix for peers and the model: categoricals as sorted-category codes, NaN -> the
    median of ``reference_rows`` (the calibration split). Also returns the categorical mask.

    The expensive model (HistGradientBoosting) handles NaN itself; use :func:`raw_matrix` for it.
    """
    M = raw_matrix(X, categorical)
    ref = M[reference_rows]
    with np.errstate(all="ignore"):
        med = np.nanmedian(ref, axis=0) if ref.size else np.zeros(M.shape[1])
    med = np.where(np.isnan(med), 0.0, med)
    nan = np.isnan(M)
    if nan.any():
        M = np.where(nan, med[None, :], M)
    cats = set(categorical)
    return M, np.array([c in cats for c in X.columns], dtype=bool)


def raw_matrix(X: pl.DataFrame, categorical: Sequence[str]) -> np.ndarray:
    """float64 matrix with categoricals as codes into their sorted categories; NaN kept."""
    cats = set(categorical)
    cols = []
    for c in X.columns:
        s = X.get_column(c)
        if c in cats or s.dtype in (pl.String, pl.Categorical, pl.Enum):
            s = s.cast(pl.String)
            levels = sorted(s.drop_nulls().unique().to_list())
            codes = s.replace_strict(
                {v: i for i, v in enumerate(levels)}, default=None, return_dtype=pl.Float64
            )
            cols.append(codes.fill_null(float("nan")).to_numpy())
        else:
            cols.append(s.cast(pl.Float64).fill_null(float("nan")).to_numpy())
    return np.column_stack(cols).astype(np.float64)


@dataclass
class Answer:
    """One method's answers on the test split, with its fit facts."""

    method: str
    config: str
    covered: np.ndarray
    labels: np.ndarray
    fit_s: float
    n_rules: int | None
    conditions_per_rule: float | None
    rows_used: int = 0
    note: str = ""


def evaluate(ans: Answer, y: np.ndarray, model_pred: np.ndarray) -> dict[str, Any]:
    """Coverage, precision (vs truth, vs model), cascade accuracy, rarest-class recall."""
    cov = ans.covered
    n_cov = int(cov.sum())
    cascade = np.where(cov, ans.labels, model_pred)
    classes, counts = np.unique(y, return_counts=True)
    rare = classes[np.argmin(counts)]
    is_rare = y == rare
    errors = int((ans.labels[cov] != y[cov]).sum())
    return {
        "coverage": n_cov / len(y),
        "covered": n_cov,
        "errors": errors,
        "precision": (1.0 - errors / n_cov) if n_cov else math.nan,
        "precision_model": float((ans.labels[cov] == model_pred[cov]).mean())
        if n_cov
        else math.nan,
        "cascade_acc": float((cascade == y).mean()),
        "model_acc": float((model_pred == y).mean()),
        "rare_recall_cascade": float((cascade[is_rare] == rare).mean()),
        "rare_recall_model": float((model_pred[is_rare] == rare).mean()),
    }


def rulecascade_fit(
    X,
    y,
    max_error: float,
    certify: bool = True,
    mode: str = "truth",
    *,
    confidence: float = 0.95,
    random_state: int = 0,
    **kwargs: Any,
):
    """A fitted ``RuleLearner`` (warnings silenced) and its fit seconds."""
    from rulecascade import RuleLearner

    learner = RuleLearner(
        max_error=max_error,
        confidence=confidence,
        certify=certify,
        mode=mode,
        random_state=random_state,
        **kwargs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, secs = timed(lambda: learner.fit(X, y))
    return learner, secs


def rulecascade_answer(learner, X, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of ``X`` a rule answers, and its label as an index into ``classes`` (-1: none)."""
    idx = np.asarray(learner.match(X))
    rule_labels = np.array([r.label for r in learner.rules_.rules], dtype=object)
    covered = idx >= 0
    labels = np.full(len(idx), -1, dtype=np.int64)
    if covered.any():
        lab = rule_labels[idx[covered]]
        labels[covered] = np.searchsorted(classes, np.asarray(lab, dtype=classes.dtype))
    return covered, labels


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if math.isnan(v):
            return "—"
        return f"{v:.{digits}f}"
    return str(v)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)
