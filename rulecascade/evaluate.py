"""Fast rule evaluation: a ``RuleSet`` compiled to flat arrays, run by a numba (or CUDA) kernel.

``match(rules, X)`` returns what ``rules_export.reference.match`` returns (the index of the first
matching rule per row, ``-1`` where none matches) on every row, only much faster:

* only the columns the rules use are read and encoded; a float32/float64 numpy array whose used
  columns are all numeric is read in place, without a copy;
* categorical values become integer codes into the feature's category list (the schema's categories
  together with every value an ``InSet`` condition names), so an unseen string is ``-1`` and matches
  nothing, and a missing value is NaN, which satisfies no condition;
* projection features are summed in float64 in the order ``Projection`` defines, as the reference, so
  the same bits come out;
* the kernel compares in float64 and returns the first matching rule per row.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from numba import njit, prange

from rules_export.model import InSet, Interval, RuleSet, RuleSetError
from rules_export.reference import InputError, categorical_column, numeric_column

from . import data as _data
from .kernels.dispatch import check_device, select_device
from .kernels.match_cpu import (
    KIND_RANGE,
    KIND_SET,
    KIND_UPPER,
    match_buckets_parallel,
    match_buckets_serial,
    match_cells_parallel,
    match_cells_serial,
    match_parallel,
    match_serial,
)

__all__ = ["CompiledRules", "compile_rules", "evaluate", "match"]

# below this many rows the single-threaded kernel is faster than waking the thread pool
PARALLEL_MIN_ROWS = 20_000
# one parallel kernel at a time; concurrent callers run the serial (GIL-free) kernel instead, so
# the result never depends on numba's threading layer being re-entrant
_parallel_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class CompiledRules:
    """A rule set as the flat arrays the kernels read (see ``kernels/match_cpu.py``).

    The evaluation matrix has the columns ``columns``: the input features that conditions name
    directly (``direct``, schema order), then the projection outputs that conditions name.
    ``cond_col`` indexes that matrix; ``cond_col_schema`` indexes a raw numpy input (schema column
    order) and is set when no projection output is used.
    """

    rules: RuleSet
    feature_names: tuple[str, ...]
    kinds: Mapping[str, str]
    used: tuple[str, ...]
    direct: tuple[str, ...]
    columns: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]]
    projection_outputs: tuple[int, ...]
    rule_start: np.ndarray
    cond_col: np.ndarray
    cond_kind: np.ndarray
    cond_low: np.ndarray
    cond_high: np.ndarray
    cat_start: np.ndarray
    cat_len: np.ndarray
    cat_codes: np.ndarray
    cond_col_schema: np.ndarray | None
    f_col: np.ndarray
    f_kind: np.ndarray
    f_thr_start: np.ndarray
    f_thr_len: np.ndarray
    f_tab_start: np.ndarray
    thr: np.ndarray
    tab: np.ndarray
    n_words: int
    f_bucket: np.ndarray  # per feature: start of its bucket table in b_cell/b_thr, -1: none
    f_blo: np.ndarray
    f_bscale: np.ndarray
    f_btop: np.ndarray
    b_cell: np.ndarray
    b_thr: np.ndarray
    f_col_schema: np.ndarray | None
    kernel: str
    buckets: tuple[np.ndarray, ...] | None = None  # bucket kernel arrays (after f_col), if any
    _device_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rules(self) -> int:
        return int(self.rule_start.shape[0] - 1)

    @property
    def n_conditions(self) -> int:
        return int(self.cond_col.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def kernel_arrays(self, cond_col: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """The rule arrays in kernel argument order (after the matrix, before ``out``)."""
        return (
            self.rule_start,
            self.cond_col if cond_col is None else cond_col,
            self.cond_kind,
            self.cond_low,
            self.cond_high,
            self.cat_start,
            self.cat_len,
            self.cat_codes,
        )

    def cell_arrays(self, f_col: np.ndarray | None = None) -> tuple[Any, ...]:
        """The cell/bitset arrays in kernel argument order (after the matrix, before ``out``)."""
        return (
            self.f_col if f_col is None else f_col,
            self.f_kind,
            self.f_thr_start,
            self.f_thr_len,
            self.f_tab_start,
            self.thr,
            self.tab,
            self.n_words,
            self.f_bucket,
            self.f_blo,
            self.f_bscale,
            self.f_btop,
            self.b_cell,
            self.b_thr,
        )

    def __repr__(self) -> str:
        return (
            f"CompiledRules({self.n_rules} rules, {self.n_conditions} conditions, "
            f"columns={list(self.columns)!r}, kernel={self.kernel!r})"
        )


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Flatten a rule set for the kernels (pure function of the rule set)."""
    if isinstance(rules, CompiledRules):
        return rules
    if not isinstance(rules, RuleSet):
        raise RuleSetError(f"expected a RuleSet, got {type(rules).__name__}")
    kinds = {f.name: f.kind for f in rules.features}
    proj = rules.projection
    named = {c.feature for r in rules.rules for c in r.conditions}
    direct = tuple(n for n in rules.feature_names if n in named)
    projection_outputs = (
        tuple(j for j, n in enumerate(proj.outputs) if n in named) if proj is not None else ()
    )
    columns = direct + tuple(proj.outputs[j] for j in projection_outputs)
    col_of = {n: k for k, n in enumerate(columns)}

    categories: dict[str, tuple[str, ...]] = {}
    for f in rules.features:
        if f.kind == "categorical" and f.name in named:
            vals = set(f.categories)
            for r in rules.rules:
                for c in r.conditions:
                    if isinstance(c, InSet) and c.feature == f.name:
                        vals.update(c.values)
            categories[f.name] = tuple(sorted(vals))

    rule_start = [0]
    cond_col: list[int] = []
    cond_kind: list[int] = []
    cond_low: list[float] = []
    cond_high: list[float] = []
    cat_start: list[int] = []
    cat_len: list[int] = []
    cat_codes: list[float] = []
    for r in rules.rules:
        for c in r.conditions:
            cond_col.append(col_of[c.feature])
            if isinstance(c, Interval):
                cond_kind.append(KIND_UPPER if c.low is None else KIND_RANGE)
                cond_low.append(-np.inf if c.low is None else float(c.low))
                cond_high.append(np.inf if c.high is None else float(c.high))
                cat_start.append(0)
                cat_len.append(0)
            else:
                code = {v: i for i, v in enumerate(categories[c.feature])}
                cond_kind.append(KIND_SET)
                cond_low.append(np.nan)
                cond_high.append(np.nan)
                cat_start.append(len(cat_codes))
                cat_len.append(len(c.values))
                cat_codes.extend(float(code[v]) for v in c.values)
        rule_start.append(len(cond_col))

    cond_col_arr = np.asarray(cond_col, dtype=np.int64)
    schema_pos = {n: i for i, n in enumerate(rules.feature_names)}
    col_schema = (
        np.asarray([schema_pos[n] for n in columns], dtype=np.int64)
        if not projection_outputs
        else None
    )
    cells = _cell_tables(rules, columns, categories)
    f_col = cells["f_col"]
    buckets = _bucket_tables(cells)
    # the bucket kernel whenever it has tables: measured faster than both others on 1M rows at
    # every size tried (1-64 rules, 1-19 features: e.g. 1 rule 2.6 ms vs 11.7 ms rule by rule),
    # within a few microseconds of the rule-by-rule kernel on batches of 1-100 rows
    kernel = "buckets" if buckets is not None else _choose_kernel(len(rules.rules), cells)
    return CompiledRules(
        rules=rules,
        feature_names=rules.feature_names,
        kinds=kinds,
        used=rules.used_features,
        direct=direct,
        columns=columns,
        categories=categories,
        projection_outputs=projection_outputs,
        rule_start=np.asarray(rule_start, dtype=np.int64),
        cond_col=cond_col_arr,
        cond_kind=np.asarray(cond_kind, dtype=np.int64),
        cond_low=np.asarray(cond_low, dtype=np.float64),
        cond_high=np.asarray(cond_high, dtype=np.float64),
        cat_start=np.asarray(cat_start, dtype=np.int64),
        cat_len=np.asarray(cat_len, dtype=np.int64),
        cat_codes=np.asarray(cat_codes, dtype=np.float64),
        cond_col_schema=None if col_schema is None else col_schema[cond_col_arr],
        f_col_schema=None if col_schema is None else col_schema[f_col],
        kernel=kernel,
        buckets=buckets,
        **cells,
    )


# above this size of bitset tables, the per-rule kernel is used instead (memory, cache misses)
MAX_CELL_TABLE_BYTES = 64 << 20


def _choose_kernel(n_rules: int, cells: Mapping[str, Any]) -> str:
    """Cheaper CPU kernel by a rough per-row cost model (ns, measured on x86-64 with AVX2/512).

    cells: per used feature a block read, a bitset AND per 64 rules and a bucket lookup (or,
    without a bucket table, a vectorized threshold count); rules: a few branchy compares per
    rule (all of them when no rule fires).
    """
    if cells["tab"].nbytes > MAX_CELL_TABLE_BYTES:
        return "rules"
    n_features = len(cells["f_col"])
    searched = (cells["f_kind"] == 0) & (cells["f_bucket"] < 0)  # numeric, no bucket table
    cost_cells = (
        n_features * (4.0 + 1.0 * cells["n_words"])
        + 1.0 * float(np.sum((cells["f_kind"] == 0) & ~searched))
        + 0.1 * float(np.sum(cells["f_thr_len"][searched]))
    )
    cost_rules = 2.0 * n_rules
    return "cells" if cost_cells <= cost_rules else "rules"


def _cell_tables(
    rules: RuleSet, columns: tuple[str, ...], categories: Mapping[str, tuple[str, ...]]
) -> dict[str, Any]:
    """Per-feature sorted thresholds and per-cell rule bitsets (see ``match_cpu._cells_row``)."""
    n_rules = len(rules.rules)
    n_words = max(1, (n_rules + 63) // 64)
    everyone = np.zeros(n_words, dtype=np.uint64)
    for r in range(n_rules):
        everyone[r // 64] |= np.uint64(1 << (r % 64))
    on: dict[str, list[tuple[int, Any]]] = {n: [] for n in columns}
    for r, rule in enumerate(rules.rules):
        for c in rule.conditions:
            on[c.feature].append((r, c))
    # features that constrain many rules first: the bitset empties sooner
    order = sorted(range(len(columns)), key=lambda k: -len(on[columns[k]]))
    f_kind, f_thr_start, f_thr_len, f_tab_start = [], [], [], []
    thr: list[float] = []
    tabs: list[np.ndarray] = []
    n_tab = 0
    f_bucket, f_blo, f_bscale, f_btop = [], [], [], []
    b_cells: list[np.ndarray] = []
    b_thrs: list[np.ndarray] = []
    n_b = 0
    for k in order:
        name = columns[k]
        if name in categories:
            cats = categories[name]
            code = {v: i for i, v in enumerate(cats)}
            n_thr = len(cats)
            f_kind.append(1)
        else:
            cuts = sorted({v for _, c in on[name] for v in (c.low, c.high) if v is not None})
            pos = {v: i for i, v in enumerate(cuts)}
            n_thr = len(cuts)
            f_kind.append(0)
        table = np.tile(everyone, (n_thr + 2, 1))
        for r, c in on[name]:
            w, bit = r // 64, np.uint64(1 << (r % 64))
            table[:, w] &= ~bit
            if isinstance(c, InSet):
                table[[code[v] for v in c.values], w] |= bit
            else:
                a = -1 if c.low is None else pos[c.low]
                b = n_thr if c.high is None else pos[c.high]
                table[a + 1 : b + 1, w] |= bit
        f_thr_start.append(len(thr))
        f_thr_len.append(n_thr)
        fitted = None if name in categories else _buckets(cuts)
        if fitted is None:
            f_bucket.append(-1)
            f_blo.append(0.0)
            f_bscale.append(0.0)
            f_btop.append(0.0)
        else:
            lo, scale, top, b_cell, b_t = fitted
            f_bucket.append(n_b)
            f_blo.append(lo)
            f_bscale.append(scale)
            f_btop.append(top)
            b_cells.append(b_cell)
            b_thrs.append(b_t)
            n_b += b_cell.shape[0]
        if name not in categories:
            thr.extend(cuts)
        f_tab_start.append(n_tab)
        n_tab += table.size
        tabs.append(table.ravel())
    return {
        "f_col": np.asarray(order, dtype=np.int64),
        "f_kind": np.asarray(f_kind, dtype=np.int64),
        "f_thr_start": np.asarray(f_thr_start, dtype=np.int64),
        "f_thr_len": np.asarray(f_thr_len, dtype=np.int64),
        "f_tab_start": np.asarray(f_tab_start, dtype=np.int64),
        "thr": np.asarray(thr, dtype=np.float64),
        "tab": np.concatenate(tabs) if tabs else np.zeros(0, dtype=np.uint64),
        "n_words": n_words,
        "f_bucket": np.asarray(f_bucket, dtype=np.int64),
        "f_blo": np.asarray(f_blo, dtype=np.float64),
        "f_bscale": np.asarray(f_bscale, dtype=np.float64),
        "f_btop": np.asarray(f_btop, dtype=np.float64),
        "b_cell": np.concatenate(b_cells) if b_cells else np.zeros(0, dtype=np.int64),
        "b_thr": np.concatenate(b_thrs) if b_thrs else np.zeros(0, dtype=np.float64),
    }


MAX_BUCKETS = 4096  # per feature; beyond, the rule set keeps the cell kernel


def _buckets(cuts: Sequence[float]) -> tuple[float, float, float, np.ndarray, np.ndarray] | None:
    """Bucket table of one numeric feature's sorted thresholds, or None if none fits.

    ``bucket(x) = int(clip((x - lo) * scale, 0, top))``, computed with the same float64
    operations here and in the kernel, never decreases as ``x`` grows (each step rounds
    monotonically). So a threshold in a lower bucket than ``x`` is below ``x``, one in a higher
    bucket is not, and only a threshold in ``x``'s own bucket needs a comparison: with at most one
    threshold per bucket the cell of ``x`` (the count of thresholds below it) is
    ``b_cell[bucket] + (b_thr[bucket] < x)``, where ``b_cell`` counts the thresholds in lower
    buckets and ``b_thr`` is the bucket's threshold (+inf if none). Returns
    ``(lo, scale, top, b_cell, b_thr)``; the bucket count doubles from ``2 * len(cuts)`` until
    every bucket holds at most one threshold (None past ``MAX_BUCKETS``: thresholds too close,
    or a span that overflows).
    """
    t = np.asarray(cuts, dtype=np.float64)
    k = t.shape[0]
    if k == 0 or not np.all(np.isfinite(t)):
        return None
    lo = float(t[0])
    with np.errstate(over="ignore"):
        span = float(t[-1] - t[0])
    if not np.isfinite(span):
        return None
    nb = 2
    while nb < 2 * k:
        nb *= 2
    while nb <= MAX_BUCKETS:
        scale = nb / span if span > 0 else 0.0
        if np.isfinite(scale):
            top = float(nb - 1)
            v = (t - lo) * scale
            v = np.where(v > 0.0, v, 0.0)
            v = np.where(v < top, v, top)
            b = v.astype(np.int64)
            if k == 1 or bool(np.all(np.diff(b) > 0)):
                b_cell = np.searchsorted(b, np.arange(nb), side="left").astype(np.int64)
                b_thr = np.full(nb, np.inf)
                b_thr[b] = t
                return lo, scale, top, b_cell, b_thr
        nb *= 2
    return None


def _bucket_tables(cells: Mapping[str, Any]) -> tuple[np.ndarray, ...] | None:
    """Arrays of the bucket kernel (``f_lo, f_scale, f_top, f_start, f_nan, b_thr, b_pair``),
    or None unless there is one bitset word and every numeric feature has a bucket table.

    Numeric features use the cell tables' buckets (``_cell_tables``); ``b_pair`` holds each
    bucket's two candidate bitsets (cell ``b_cell`` and the next) so the kernel skips the cell
    index. A categorical feature with ``K`` categories is its own table: ``bucket = clip(code +
    1, 0, K + 1)`` puts unseen codes (-1, or >= K) in buckets 0 and ``K + 1`` and code ``c`` in
    ``c + 1``; no bucket has a threshold (``b_thr`` = +inf)."""
    f_bucket, f_kind = cells["f_bucket"], cells["f_kind"]
    if cells["n_words"] != 1 or len(f_bucket) == 0:
        return None
    if np.any((f_kind == 0) & (f_bucket < 0)):
        return None
    tab, b_cell = cells["tab"], cells["b_cell"]
    lo, scale, top, start, nan, b_thr, b_pair = [], [], [], [], [], [], []
    n_b = 0
    for f in range(len(f_bucket)):
        k, t0 = int(cells["f_thr_len"][f]), int(cells["f_tab_start"][f])
        cell_bits = tab[t0 : t0 + k + 2]  # cells 0..K, then NaN
        if f_kind[f] == 0:
            s0, s1 = int(f_bucket[f]), int(f_bucket[f] + cells["f_btop"][f]) + 1  # top + 1 buckets
            bc = b_cell[s0:s1]
            pair = np.stack([cell_bits[bc], cell_bits[np.minimum(bc + 1, k)]], 1).ravel()
            lo.append(cells["f_blo"][f])
            scale.append(cells["f_bscale"][f])
            top.append(cells["f_btop"][f])
            thr = cells["b_thr"][s0:s1]
        else:  # K categories: buckets unseen, codes 0..K-1, unseen
            per = cell_bits[np.r_[k, np.arange(k), k]]
            pair = np.stack([per, per], 1).ravel()
            lo.append(-1.0)
            scale.append(1.0)
            top.append(float(k + 1))
            thr = np.full(k + 2, np.inf)
        start.append(n_b)
        nan.append(cell_bits[k + 1])
        b_thr.append(thr)
        b_pair.append(pair)
        n_b += thr.shape[0]
    return (
        np.asarray(lo, dtype=np.float64),
        np.asarray(scale, dtype=np.float64),
        np.asarray(top, dtype=np.float64),
        np.asarray(start, dtype=np.int64),
        np.asarray(nan, dtype=np.uint64),
        np.concatenate(b_thr).astype(np.float64),
        np.concatenate(b_pair).astype(np.uint64),
    )


_cache_lock = threading.Lock()
_cache: dict[int, tuple[weakref.ref, CompiledRules]] = {}


def _compiled(rules: RuleSet | CompiledRules) -> CompiledRules:
    """``compile_rules`` memoized per live RuleSet object."""
    if isinstance(rules, CompiledRules):
        return rules
    key = id(rules)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is rules:
            return hit[1]
    cr = compile_rules(rules)
    with _cache_lock:
        if len(_cache) > 64:
            for k in [k for k, (ref, _) in _cache.items() if ref() is None]:
                del _cache[k]
            if len(_cache) > 64:
                _cache.clear()
        _cache[key] = (weakref.ref(rules), cr)
    return cr


# ---------------------------------------------------------------------------------------------
# projection: z_j = sum_i (x_i - mean_i) * w_ji in float64, in blocks of ``block`` inputs each
# summed left to right, then the block sums left to right (the order of Projection.blocks)


def _project_row(A, i, in_pos, mean, weights, block, P, j0):
    n = in_pos.shape[0]
    for j in range(weights.shape[0]):
        acc = 0.0
        for start in range(0, n, block):
            part = 0.0
            for k in range(start, min(start + block, n)):
                part = part + (float(A[i, in_pos[k]]) - mean[k]) * weights[j, k]
            acc = acc + part
        P[i, j0 + j] = acc


_project_row_nb = njit(cache=True, nogil=True)(_project_row)


@njit(parallel=True, cache=True, nogil=True)
def _project_parallel(A, in_pos, mean, weights, block, P, j0):
    for i in prange(A.shape[0]):
        _project_row_nb(A, i, in_pos, mean, weights, block, P, j0)


@njit(cache=True, nogil=True)
def _project_serial(A, in_pos, mean, weights, block, P, j0):
    for i in range(A.shape[0]):
        _project_row_nb(A, i, in_pos, mean, weights, block, P, j0)


def _run_parallel(par: Any, ser: Any, n: int, *args: Any) -> Any:
    if n >= PARALLEL_MIN_ROWS and _parallel_lock.acquire(blocking=False):
        try:
            return par(*args)
        finally:
            _parallel_lock.release()
    return ser(*args)


def _fill_projection(cr: CompiledRules, A: np.ndarray, in_pos: np.ndarray, M: np.ndarray) -> None:
    proj = cr.rules.projection
    assert proj is not None
    mean = np.asarray(proj.mean, dtype=np.float64)
    weights = np.ascontiguousarray(
        np.asarray([proj.weights[j] for j in cr.projection_outputs], dtype=np.float64)
    )
    _run_parallel(
        _project_parallel,
        _project_serial,
        A.shape[0],
        A,
        np.ascontiguousarray(in_pos, dtype=np.int64),
        mean,
        weights,
        proj.block_size,
        M,
        len(cr.direct),
    )


# ---------------------------------------------------------------------------------------------
# input -> evaluation matrix


def _is_pandas(X: Any) -> bool:
    return type(X).__module__.startswith("pandas")


def _is_arrow(X: Any) -> bool:
    return type(X).__module__.startswith("pyarrow")


def count_rows(X: Any) -> int:
    """Number of rows of any supported input (without converting it)."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise InputError(f"expected a 2-D array of rows x features, got shape {X.shape}")
        return int(X.shape[0])
    if isinstance(X, pl.DataFrame):
        return X.height
    if isinstance(X, pl.LazyFrame):
        return int(X.select(pl.len()).collect().item())
    if _is_arrow(X) and hasattr(X, "num_rows"):
        return int(X.num_rows)
    if _is_pandas(X):
        return len(X)
    if isinstance(X, (str, os.PathLike)):
        return _data.read_table(X).height
    if isinstance(X, Mapping):
        for v in X.values():
            return len(v)
        return 0
    if isinstance(X, Sequence):
        return len(X)
    if hasattr(X, "shape"):
        return int(X.shape[0])
    raise InputError(f"cannot read rows from {type(X).__name__}")


def _series(values: Any, name: str, kind: str) -> pl.Series:
    """One input column as a polars Series, with the reference's conversions and errors."""
    if isinstance(values, pl.Series):
        return values.alias(name)
    if _is_arrow(values):
        s = pl.from_arrow(values)
        if isinstance(s, pl.Series):
            return s.alias(name)
    if _is_pandas(values):
        try:
            return pl.from_pandas(values).alias(name)
        except Exception:  # noqa: BLE001 - mixed object columns: convert element by element
            values = values.to_numpy()
    if isinstance(values, np.ndarray):
        arr = values
    elif kind == _data.NUMERIC:
        arr = np.asarray(values)
    else:  # a list keeps each value's type ([3, nan] or [nan, "a"] would become strings)
        arr = np.array(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    if kind == _data.NUMERIC:
        if arr.dtype.kind in "fiub":
            return pl.Series(name, arr.astype(np.float64, copy=False))
        return pl.Series(name, numeric_column(arr, name))
    if arr.dtype.kind in "iu":
        return pl.Series(name, arr).cast(pl.String)
    if arr.dtype.kind == "U":
        return pl.Series(name, arr, dtype=pl.String)
    if arr.dtype.kind == "O":
        try:
            return pl.Series(name, arr, dtype=pl.String, strict=True)
        except Exception:  # noqa: BLE001 - ints, NaN or bad values among strings
            pass
    return pl.Series(name, categorical_column(arr, name).tolist(), dtype=pl.String)


def _missing_error(missing: Sequence[str]) -> InputError:
    s = "s" if len(missing) > 1 else ""
    return InputError(f"missing column{s} {', '.join(map(repr, missing))}")


def _select_frame(cr: CompiledRules, X: Any) -> pl.DataFrame:
    """A polars DataFrame holding the used columns of a non-numpy input (read by name)."""
    used = list(cr.used)
    if isinstance(X, (str, os.PathLike)):
        X = _data.read_table(X)
    if isinstance(X, pl.LazyFrame):
        names = X.collect_schema().names()
        if all(n in names for n in used):
            return X.select(used).collect()
        X = X.collect()
    if isinstance(X, pl.DataFrame):
        missing = [n for n in used if n not in X.columns]
        if missing and _data._has_lists(X):
            X = _data._expand_lists(X, used)
            missing = [n for n in used if n not in X.columns]
        if missing:
            raise _missing_error(missing)
        return X  # read by name below: no projected copy (a per-call cost on small batches)
    if _is_pandas(X) and hasattr(X, "columns"):
        cols = set(X.columns)
        missing = [n for n in used if n not in cols]
        if missing:
            return _select_frame(cr, _data.to_polars(X, used=used))  # embeddings expand
        picked = {n: X[n] for n in used}
        if all(
            isinstance(getattr(c, "dtype", None), np.dtype) and c.dtype.kind in "fiub"
            for c in picked.values()
        ):
            # plain numpy-backed numeric columns (not pandas' nullable extension types): no
            # pandas -> Arrow conversion needed
            return pl.DataFrame({n: c.to_numpy() for n, c in picked.items()})
        sub = X[used]
        try:
            return pl.from_pandas(sub)
        except Exception:  # noqa: BLE001 - mixed object columns: element by element
            return pl.DataFrame(
                [_series(sub[n].to_numpy(), n, cr.kinds[n]) for n in used], strict=False
            )
    if _is_arrow(X) and hasattr(X, "schema") and hasattr(X, "select"):
        names = X.schema.names
        missing = [n for n in used if n not in names]
        if missing:
            return _select_frame(cr, _data.to_polars(X, used=used))
        df = pl.from_arrow(X.select(used))
        return df if isinstance(df, pl.DataFrame) else df.to_frame()
    if isinstance(X, Mapping):
        missing = [n for n in used if n not in X]
        if missing:
            return _select_frame(cr, _data.to_polars(X, used=used))
        return _frame(cr, {n: X[n] for n in used})
    if isinstance(X, Sequence) and not isinstance(X, (str, bytes)):
        if len(X) and all(isinstance(r, Mapping) for r in X):
            cols = {}
            missing = []
            for n in used:
                if not any(n in r for r in X):
                    missing.append(n)
                    continue
                cols[n] = np.array([r.get(n) for r in X], dtype=object)
            if missing:
                raise _missing_error(missing)
            return _frame(cr, cols)
        if len(X) == 0:  # no rows: as an empty array of the schema's width
            return _numpy_frame(cr, np.empty((0, cr.n_features)))
        arr = np.asarray(X)
        if arr.dtype.kind in "USO":
            arr = np.array(X, dtype=object)
        return _numpy_frame(cr, arr)
    raise InputError(
        f"cannot read features from {type(X).__name__}: pass a 2-D array, a data frame, an Arrow "
        "table, a mapping of column name to values, a list of dicts or a file path"
    )


def _frame(cr: CompiledRules, cols: Mapping[str, Any]) -> pl.DataFrame:
    series = [_series(v, n, cr.kinds[n]) for n, v in cols.items()]
    lens = {s.len() for s in series}
    if len(lens) > 1:
        n0 = series[0].len()
        bad = next(s for s in series if s.len() != n0)
        raise InputError(f"column {bad.name!r} has {bad.len()} rows, expected {n0}")
    return pl.DataFrame(series)


def _check_array(cr: CompiledRules, X: np.ndarray) -> None:
    if X.ndim != 2:
        raise InputError(f"expected a 2-D array of rows x features, got shape {X.shape}")
    if X.shape[1] != cr.n_features:
        raise InputError(
            f"array has {X.shape[1]} columns but the rule set has {cr.n_features} features "
            f"({', '.join(cr.feature_names[:8])}{', ...' if cr.n_features > 8 else ''}); "
            "pass the columns in schema order"
        )


def _numpy_frame(cr: CompiledRules, X: np.ndarray) -> pl.DataFrame:
    _check_array(cr, X)
    pos = {n: i for i, n in enumerate(cr.feature_names)}
    return _frame(cr, {n: X[:, pos[n]] for n in cr.used})


def _from_frame(cr: CompiledRules, df: pl.DataFrame) -> np.ndarray:
    n = df.height
    for name in cr.direct:
        s = df.get_column(name)
        if cr.kinds[name] == _data.CATEGORICAL and s.dtype.is_float():
            # all-missing float columns are valid categoricals in the reference
            df = df.with_columns(_series(s.to_numpy(), name, _data.CATEGORICAL))
    if not cr.projection_outputs:  # the encoded matrix (float64, column-major) is the input
        return _data.encode(df, cr.direct, cr.kinds, cr.categories).values
    M = np.empty((n, len(cr.columns)), dtype=np.float64, order="F")
    if cr.direct:
        enc = _data.encode(df, cr.direct, cr.kinds, cr.categories)
        M[:, : len(cr.direct)] = enc.values
    if cr.projection_outputs:
        proj = cr.rules.projection
        assert proj is not None
        inputs = _data.encode(df, proj.inputs, {k: _data.NUMERIC for k in proj.inputs})
        _fill_projection(cr, inputs.values, np.arange(len(proj.inputs)), M)
    return M


def prepare(cr: CompiledRules, X: Any) -> tuple[np.ndarray, bool]:
    """The matrix the kernel reads, and whether it is the raw input (schema column order)."""
    if isinstance(X, np.ndarray):
        _check_array(cr, X)
        cats = any(cr.kinds[n] == _data.CATEGORICAL for n in cr.direct)
        if X.dtype.kind in "fiub" and not cats:
            pos = {n: i for i, n in enumerate(cr.feature_names)}
            in_place = X.dtype in (np.float32, np.float64) and (
                X.flags.c_contiguous or X.flags.f_contiguous
            )
            if in_place and cr.cond_col_schema is not None:
                return X, True
            n = X.shape[0]
            M = np.empty((n, len(cr.columns)), dtype=np.float64, order="F")
            for k, name in enumerate(cr.direct):
                M[:, k] = X[:, pos[name]]
            if cr.projection_outputs:
                proj = cr.rules.projection
                assert proj is not None
                in_pos = np.asarray([pos[n] for n in proj.inputs], dtype=np.int64)
                A = X if in_place else np.asarray(X, dtype=np.float64)
                _fill_projection(cr, A, in_pos, M)
            return M, False
        return _from_frame(cr, _numpy_frame(cr, X)), False
    return _from_frame(cr, _select_frame(cr, X)), False


# ---------------------------------------------------------------------------------------------
# evaluation


KERNELS = ("auto", "buckets", "cells", "rules")


def evaluate(
    rules: RuleSet | CompiledRules, X: Any, device: str = "auto", kernel: str = "auto"
) -> tuple[np.ndarray, int]:
    """First matching rule per row (int64, -1: none) and the number of covered rows.

    ``kernel`` (CPU only): ``"cells"`` (per-feature bitsets), ``"buckets"`` (the same with one
    comparison per feature, for up to 64 rules on numeric features whose thresholds fit bucket
    tables; else ``"cells"``), ``"rules"`` (rule by rule) or ``"auto"`` (the compiled rule set's
    choice). All return the same answer.
    """
    cr = _compiled(rules)
    check_device(device)
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if cr.n_rules == 0:
        return np.full(count_rows(X), -1, dtype=np.int64), 0
    M, raw = prepare(cr, X)
    n = int(M.shape[0])
    if n == 0:
        return np.empty(0, dtype=np.int64), 0
    if select_device(device, n) == "cuda":
        idx = _evaluate_cuda(cr, M, raw)
        return idx, int(np.count_nonzero(idx >= 0))
    out = np.empty(n, dtype=np.int64)
    chosen = cr.kernel if kernel == "auto" else kernel
    if chosen == "buckets" and cr.buckets is None:
        chosen = "cells"  # the rule set has no bucket tables: the general twin
    if chosen == "buckets":
        f_col = cr.f_col_schema if raw else cr.f_col
        covered = _run_parallel(
            match_buckets_parallel, match_buckets_serial, n, M, f_col, *cr.buckets, out
        )
    elif chosen == "cells":
        f_col = cr.f_col_schema if raw else cr.f_col
        covered = _run_parallel(
            match_cells_parallel, match_cells_serial, n, M, *cr.cell_arrays(f_col), out
        )
    else:
        cond_col = cr.cond_col_schema if raw else cr.cond_col
        covered = _run_parallel(
            match_parallel, match_serial, n, M, *cr.kernel_arrays(cond_col), out
        )
    return out, int(covered)


def _evaluate_cuda(cr: CompiledRules, M: np.ndarray, raw: bool) -> np.ndarray:
    from .kernels.match_cuda import match_cuda, to_device

    if raw:
        # a raw input read in place: send only the used columns, column-major (coalesced reads)
        pos = {n: i for i, n in enumerate(cr.feature_names)}
        C = np.empty((M.shape[0], len(cr.columns)), dtype=M.dtype, order="F")
        for k, name in enumerate(cr.columns):
            C[:, k] = M[:, pos[name]]
        M = C
    arrays = cr._device_cache.get("cuda")
    if arrays is None:
        arrays = to_device(cr.kernel_arrays())
        cr._device_cache["cuda"] = arrays
    return match_cuda(M, arrays)


def match(
    rules: RuleSet | CompiledRules, X: Any, device: str = "auto", kernel: str = "auto"
) -> np.ndarray:
    """Index (int64) of the first rule that matches each row; -1 where no rule matches.

    ``X``: a 2-D numpy array (columns in schema order), a pandas / polars data frame, a pyarrow
    table, a mapping of column name to values, a list of dicts or a file path. ``device``:
    ``"auto"`` (GPU for large batches when one is present), ``"cpu"`` or ``"cuda"``.
    """
    return evaluate(rules, X, device, kernel)[0]
