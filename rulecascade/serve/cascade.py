"""``Cascade``: rules answer the rows they cover, the model answers the rest.

``Cascade(rules, model).predict(X)`` evaluates the rule set with the fast kernel, calls ``model``
once per batch with only the uncovered rows (in input order, as the same type of object the caller
passed), merges both answers and returns one label per row in input order. With
``representation``, the rules read ``representation(X)`` (e.g. an embedding) and the model receives
the representation rows of the uncovered rows (the rest of the network). Cascades nest: a
``Cascade`` is itself a valid ``model`` (see :meth:`Cascade.chain`).
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import polars as pl

from rules_export.model import RuleSet, label_key, label_value
from rules_export.reference import InputError

from ..data import TableLike, count_rows, is_arrow, is_pandas
from ..kernels.dispatch import check_device
from .compile import CompiledRules, compiled
from .evaluate import evaluate

__all__ = ["BatchStats", "Cascade", "CascadeError", "CascadeStats"]


class CascadeError(RuntimeError):
    """The model (or representation) of a cascade failed on a batch; no partial result is given.

    ``batch`` is the cascade's batch number (1, 2, ...), ``model`` names the callable.
    """

    def __init__(self, message: str, *, batch: int, model: str) -> None:
        super().__init__(message)
        self.batch = batch
        self.model = model


_COUNTERS = (
    "rows",
    "covered",
    "model_rows",
    "model_calls",
    "seconds_representation",
    "seconds_rules",
    "seconds_model",
    "seconds_total",
)


@dataclass
class _Counts:
    """Counters shared by one call's stats and the cumulative stats."""

    rows: int = 0
    covered: int = 0
    model_rows: int = 0
    model_calls: int = 0
    seconds_representation: float = 0.0
    seconds_rules: float = 0.0
    seconds_model: float = 0.0
    seconds_total: float = 0.0
    hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def coverage(self) -> float:
        return self.covered / self.rows if self.rows else 0.0


@dataclass
class BatchStats(_Counts):
    """What one ``predict`` call did."""

    batch: int = 0


@dataclass
class CascadeStats(_Counts):
    """Cumulative counters over all calls (``last``: the most recent completed call)."""

    batches: int = 0
    errors: int = 0
    last: BatchStats | None = None

    def add(self, last: BatchStats) -> None:
        """Fold one completed call into the totals (the caller holds the lock)."""
        self.batches += 1
        for k in _COUNTERS:
            setattr(self, k, getattr(self, k) + getattr(last, k))
        self.hits += last.hits
        if self.last is None or self.last.batch < last.batch:
            self.last = last

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"batches": self.batches}
        d.update({k: getattr(self, k) for k in _COUNTERS})
        d["errors"] = self.errors
        d["coverage"] = self.coverage
        d["hits"] = self.hits.tolist()
        return d


# ---------------------------------------------------------------------------------------------
# helpers


def callable_name(fn: Any) -> str:
    """A short, recognizable name for a model or representation callable (never raises: a
    failing ``__repr__`` or attribute gives ``<TypeName object>``)."""
    try:
        owner = getattr(fn, "__self__", None)
        if owner is not None and not isinstance(owner, type(os)):
            name = getattr(fn, "__name__", "predict")
            return f"{callable_name(owner)}.{name if isinstance(name, str) else 'predict'}"
        qual = getattr(fn, "__qualname__", None)
        if isinstance(qual, str) and not isinstance(fn, Cascade):
            mod = getattr(fn, "__module__", None)
            return f"{mod}.{qual}" if isinstance(mod, str) and mod != "builtins" else qual
        text = repr(fn)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except Exception:  # noqa: BLE001 - a hostile repr or attribute must not break the caller
        return f"<{type(fn).__qualname__} object>"
    return text if len(text) <= 200 else text[:197] + "..."


def as_callable(model: Any, what: str) -> Callable[[Any], Any]:
    if hasattr(model, "predict") and callable(model.predict):
        return model.predict
    if callable(model):
        return model
    raise TypeError(
        f"{what} must be callable or have a .predict method, got {callable_name(model)}"
    )


def take_rows(X: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` (increasing positions) of ``X``, as the same kind of object."""
    if isinstance(X, np.ndarray):
        return X[rows]
    if isinstance(X, pl.DataFrame):
        return X[rows]
    if isinstance(X, pl.Series):
        return X.gather(rows)
    if is_pandas(X):
        return X.iloc[rows]
    if is_arrow(X) and hasattr(X, "take"):
        return X.take(rows)
    if isinstance(X, Mapping):
        return {k: take_rows(v, rows) for k, v in X.items()}
    if isinstance(X, Sequence) and not isinstance(X, (str, bytes)):
        return [X[i] for i in rows.tolist()]
    if hasattr(X, "__getitem__") and hasattr(X, "shape"):
        return X[rows]  # array-likes (torch / cupy tensors, ...)
    raise TypeError(f"cannot select rows of {type(X).__name__}")


def _as_labels(y: Any) -> np.ndarray:
    """A model's output as a 1-D numpy array (pandas/polars/arrow/list/tensor accepted)."""
    if isinstance(y, np.ndarray):
        arr = y
    elif isinstance(y, (pl.Series, pl.DataFrame)):
        arr = y.to_numpy()
    elif is_pandas(y):
        arr = y.to_numpy()
    elif is_arrow(y):
        arr = pl.from_arrow(y).to_numpy()
    elif hasattr(y, "detach") and hasattr(y, "cpu"):  # torch tensors
        arr = y.detach().cpu().numpy()
    else:
        arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"expected one label per row (1-D), got an array of shape {arr.shape}")
    return arr


def _kind(dtype: np.dtype) -> str:
    if dtype.kind == "b":
        return "b"
    if dtype.kind in "iu":
        return "i"
    if dtype.kind in "US":
        return "U"
    if dtype.kind == "f":
        return "f"
    return "O"


def _object_kind(arr: np.ndarray) -> str:
    """For object arrays: the common kind of the elements (``O`` when mixed)."""
    types = {type(label_value(v)) for v in arr}
    if types and types <= {str}:
        return "U"
    if types and types <= {int}:
        return "i"
    if types and types <= {bool}:
        return "b"
    return "O"


def class_array(labels: Sequence[Any]) -> np.ndarray:
    """Labels as a numpy array: int64 / bool / str when homogeneous, object otherwise."""
    types = {type(v) for v in labels}
    if types == {bool}:
        return np.asarray(labels, dtype=bool)
    if types == {int}:
        try:
            return np.asarray(labels, dtype=np.int64)
        except OverflowError:
            pass
    if types == {str}:
        return np.asarray(labels, dtype=str)
    out = np.empty(len(labels), dtype=object)
    out[:] = list(labels)
    return out


# ---------------------------------------------------------------------------------------------


_NOT_PICKLED = frozenset({"_compiled", "_lock", "_batches", "_stats"})


class Cascade:
    """Rules first, then ``model`` on what is left.

    Parameters
    ----------
    rules:
        a ``RuleSet`` (or a path to its JSON file).
    model:
        a callable ``model(rows) -> labels`` or an object with ``.predict`` (a scikit-learn
        estimator, another ``Cascade``, ...). Called once per batch, with only the uncovered rows.
    representation:
        optional callable ``representation(X) -> Z``; the rules read ``Z`` and the model receives
        the uncovered rows of ``Z``.
    device:
        ``"auto"``, ``"cpu"`` or ``"cuda"`` for the rule kernel.
    validate_labels:
        check that every label the model returns is one of the rule set's classes.
    """

    def __init__(
        self,
        rules: RuleSet | str | os.PathLike[str],
        model: Any,
        representation: Callable[[Any], Any] | None = None,
        *,
        device: str = "auto",
        validate_labels: bool = True,
        name: str | None = None,
    ) -> None:
        if isinstance(rules, (str, os.PathLike)):
            rules = RuleSet.load(rules)
        if not isinstance(rules, RuleSet):
            raise TypeError(f"rules must be a RuleSet, got {type(rules).__name__}")
        self.rules = rules
        self.model = model
        self._model_fn = as_callable(model, "model")
        self.representation = representation
        if representation is not None and not callable(representation):
            raise TypeError(f"representation must be callable, got {callable_name(representation)}")
        self.device = check_device(device)
        self.validate_labels = bool(validate_labels)
        self.name = name
        self._labels = class_array(list(rules.classes))
        self._rule_labels = (
            class_array([r.label for r in rules.rules]).astype(self._labels.dtype)
            if rules.rules
            else np.empty(0, dtype=self._labels.dtype)
        )
        self._class_keys = {label_key(c) for c in rules.classes}
        self._model_name = callable_name(model) if not isinstance(model, Cascade) else repr(model)
        self._start_fresh()

    def _start_fresh(self) -> None:
        """What stays with one process (not pickled): compiled rules (shared by cascades of one
        RuleSet), the lock, batch numbers and counters."""
        self._compiled: CompiledRules = compiled(self.rules)
        self._lock = threading.Lock()
        self._batches = itertools.count(1)
        self._stats = self._no_stats()

    def _no_stats(self) -> CascadeStats:
        return CascadeStats(hits=np.zeros(len(self.rules.rules), dtype=np.int64))

    # --- pickling (joblib, multiprocessing, Spark executors) ------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The rule set, callables and settings; counters and batch numbers start afresh on the
        other side (a lock and compiled kernels do not travel)."""
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_PICKLED}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start_fresh()

    # --- composition ---------------------------------------------------------------------------
    @classmethod
    def chain(
        cls,
        *stages: RuleSet | tuple[RuleSet, Callable[[Any], Any] | None],
        model: Any,
        device: str = "auto",
        validate_labels: bool = True,
    ) -> Cascade:
        """Stages in evaluation order, then the model: ``chain(raw, (emb, embed), model=tail)``.

        Each stage is a rule set, or ``(rule set, representation)``; a stage's representation is
        applied to the rows that reach it (what the previous stage left over, as that stage passed
        them on), and the next stage or the model receives its representation rows.
        """
        if not stages:
            raise ValueError("chain needs at least one stage")
        inner: Any = model
        for stage in reversed(stages):
            rules, rep = stage if isinstance(stage, tuple) else (stage, None)
            inner = cls(rules, inner, rep, device=device, validate_labels=validate_labels)
        return inner

    # --- stats -----------------------------------------------------------------------------------
    @property
    def stats(self) -> CascadeStats:
        """A consistent snapshot of the cumulative counters (and ``last``, the latest call)."""
        with self._lock:
            return copy.deepcopy(self._stats)

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = self._no_stats()

    # --- prediction ------------------------------------------------------------------------------
    def __call__(self, X: Any) -> np.ndarray:
        return self.predict(X)

    @overload
    def predict(self, X: TableLike, return_rule: Literal[False] = False) -> np.ndarray: ...

    @overload
    def predict(
        self, X: TableLike, return_rule: Literal[True]
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def predict(self, X: TableLike, return_rule: bool = False) -> Any:
        """One label per row of ``X`` in input order; with ``return_rule=True`` also the index of
        the rule that answered each row (-1: the model did), as :meth:`predict_with_rules`."""
        t_start = time.perf_counter()
        with self._lock:
            batch = next(self._batches)
        try:
            return self._predict(X, batch, t_start, return_rule)
        except CascadeError:
            with self._lock:
                self._stats.errors += 1
            raise

    def predict_with_rules(self, X: TableLike) -> tuple[np.ndarray, np.ndarray]:
        """One label per row of ``X`` in input order, and the index of the rule that answered each
        row (int64, -1 where the model answered)."""
        return self.predict(X, return_rule=True)

    def _fail(self, batch: int, what: str, who: str, exc: BaseException | None = None) -> None:
        raise CascadeError(f"batch {batch}: {who} {what}", batch=batch, model=who) from exc

    def _predict(self, X: Any, batch: int, t_start: float, return_rule: bool) -> Any:
        if isinstance(X, pl.LazyFrame):
            X = X.collect()
        elif isinstance(X, (str, os.PathLike)):
            from ..data import read_table

            cats = [f.name for f in self.rules.features if f.kind == "categorical"]
            X = read_table(X, text_columns=cats)  # CSV codes such as "01" as written
        t_rep = 0.0
        Z = X
        if self.representation is not None:
            who = f"representation {callable_name(self.representation)}"
            t0 = time.perf_counter()
            try:
                Z = self.representation(X)
            except Exception as e:
                self._fail(batch, f"raised {type(e).__name__}: {e}", who, e)
            t_rep = time.perf_counter() - t0
            n_in = count_rows(X)
            try:
                n_out = count_rows(Z)
            except Exception as e:  # noqa: BLE001 - None, a scalar, ...
                self._fail(batch, f"returned an unusable result: {e}", who, e)
            if n_in != n_out:
                self._fail(batch, f"returned {n_out} rows for {n_in} input rows", who)

        t0 = time.perf_counter()
        try:
            idx, covered = evaluate(self._compiled, Z, self.device)
        except InputError as e:
            if self.representation is None:
                raise  # the caller's rows: an input error
            self._fail(batch, f"returned rows the rules cannot read: {e}", who, e)
        n = int(idx.shape[0])
        t_rules = time.perf_counter() - t0

        t_model = 0.0
        model_calls = 0
        who = f"model {self._model_name}"
        if covered == n:
            pred = self._rule_labels[idx] if n else np.empty(0, dtype=self._labels.dtype)
            uncovered = None
        else:
            uncovered = np.flatnonzero(idx < 0) if covered else None
            rows = Z if uncovered is None else take_rows(Z, uncovered)
            n_model = n - covered
            t0 = time.perf_counter()
            try:
                raw = self._model_fn(rows)
            except Exception as e:
                self._fail(batch, f"raised {type(e).__name__}: {e}", who, e)
            t_model = time.perf_counter() - t0
            model_calls = 1
            try:
                out = _as_labels(raw)
            except Exception as e:
                self._fail(batch, f"returned an unusable result: {e}", who, e)
            if out.shape[0] != n_model:
                self._fail(batch, f"returned {out.shape[0]} predictions for {n_model} rows", who)
            out = self._model_labels(out, batch, who)
            if uncovered is None:
                pred = out
            else:
                dtype = self._merged_dtype(out)
                pred = self._rule_labels.astype(dtype, copy=False)[idx]
                pred[uncovered] = out
        hits = (
            np.bincount(idx[idx >= 0], minlength=len(self.rules.rules))
            if covered
            else np.zeros(len(self.rules.rules), dtype=np.int64)
        )
        last = BatchStats(
            batch=batch,
            rows=n,
            covered=covered,
            model_rows=n - covered,
            model_calls=model_calls,
            seconds_representation=t_rep,
            seconds_rules=t_rules,
            seconds_model=t_model,
            seconds_total=time.perf_counter() - t_start,
            hits=hits,
        )
        with self._lock:
            self._stats.add(last)
        return (pred, idx) if return_rule else pred

    def _model_labels(self, out: np.ndarray, batch: int, who: str) -> np.ndarray:
        """Validate the model's labels and give them the cascade's label dtype where possible."""
        if self.validate_labels:
            bad = [] if self._labels_in_range(out) else self._invalid_labels(out)
            if bad:
                self._fail(
                    batch,
                    f"returned label {label_value(bad[0])!r}, which is not one of the rule set's classes "
                    f"{list(self.rules.classes)!r}",
                    who,
                )
            if self._labels.dtype.kind != "O" and out.dtype != self._labels.dtype:
                if out.dtype.kind == "O" or out.dtype.kind == "f":
                    return np.asarray([label_value(v) for v in out], dtype=self._labels.dtype)
                return out.astype(self._labels.dtype)
            return out
        if out.dtype.kind == "O" and out.shape[0]:
            kind = _object_kind(out)  # homogeneous objects become a typed array
            if kind in "Uib":
                values = [label_value(v) for v in out]
                try:
                    return np.asarray(values, dtype={"U": str, "i": np.int64, "b": bool}[kind])
                except OverflowError:
                    return out
        return out

    def _labels_in_range(self, out: np.ndarray) -> bool:
        """Fast check (min/max, no sort) for the common case of contiguous integer classes."""
        if out.dtype.kind not in "iu" or self._labels.dtype.kind != "i" or not out.size:
            return False
        classes = self._labels
        lo, hi = int(classes.min()), int(classes.max())
        if hi - lo + 1 != classes.size:
            return False
        return lo <= int(out.min()) and int(out.max()) <= hi

    def _invalid_labels(self, out: np.ndarray) -> list[Any]:
        if out.dtype.kind == "b":
            values = [v for v in (False, True) if (out.any() if v else not out.all())]
        else:
            values = np.unique(out) if out.dtype.kind != "O" else _unique_objects(out)
        return [v for v in values if _label_key_or_none(v) not in self._class_keys]

    def _merged_dtype(self, out: np.ndarray) -> np.dtype:
        """Common dtype of rule labels and model labels: object only when their kinds differ."""
        a, b = self._labels.dtype, out.dtype
        if a == b:
            return a
        if a.kind != "O" and b.kind != "O" and _kind(a) == _kind(b) and _kind(a) in "ibU":
            return np.result_type(a, b)
        return np.dtype(object)

    def __repr__(self) -> str:
        if self.name:
            return f"Cascade({self.name!r})"
        rep = (
            f", representation={callable_name(self.representation)}" if self.representation else ""
        )
        return f"Cascade({len(self.rules.rules)} rules, model={self._model_name}{rep})"


def _unique_objects(arr: np.ndarray) -> list[Any]:
    seen: dict[Any, Any] = {}
    for v in arr:
        k = _label_key_or_none(v)
        if k not in seen:
            seen[k] = v
    return list(seen.values())


def _label_key_or_none(v: Any) -> Any:
    v = label_value(v)
    if isinstance(v, (bool, int, str)):
        return label_key(v)
    return ("invalid", repr(v))
