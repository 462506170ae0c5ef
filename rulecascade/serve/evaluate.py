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

import time

import numpy as np

from rules_export.model import RuleSet

from ..data import TableLike, count_rows
from ..kernels.dispatch import check_device, run_parallel, select_device
from ..kernels.match_cpu import (
    match_buckets_parallel,
    match_buckets_serial,
    match_cells_parallel,
    match_cells_serial,
    match_parallel,
    match_serial,
)
from .compile import CompiledRules, compiled
from .inputs import prepare

__all__ = ["KERNELS", "evaluate", "match"]


# ---------------------------------------------------------------------------------------------
# evaluation


KERNELS = ("auto", "buckets", "cells", "rules")


def evaluate(
    rules: RuleSet | CompiledRules, X: TableLike, device: str = "auto", kernel: str = "auto"
) -> tuple[np.ndarray, int]:
    """First matching rule per row (int64, -1: none) and the number of covered rows.

    ``kernel`` (CPU only): ``"cells"`` (per-feature bitsets), ``"buckets"`` (the same with one
    comparison per feature, for up to 64 rules on numeric features whose thresholds fit bucket
    tables; else ``"cells"``), ``"rules"`` (rule by rule) or ``"auto"`` (the compiled rule set's
    choice). All return the same answer.
    """
    cr = compiled(rules)
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
    chosen = cr.kernel if kernel != "auto" else _tuned_kernel(cr, M, raw)
    return out, _run_kernel(cr, chosen, M, raw, out)


def _run_kernel(cr: CompiledRules, chosen: str, M: np.ndarray, raw: bool, out: np.ndarray) -> int:
    """Fill ``out`` with one CPU kernel; the covered count."""
    n = int(M.shape[0])
    if chosen == "buckets" and cr.buckets is None:
        chosen = "cells"  # the rule set has no bucket tables: the general twin
    if chosen == "buckets":
        f_col = cr.f_col_schema if raw else cr.f_col
        covered = run_parallel(
            match_buckets_parallel,
            match_buckets_serial,
            n,
            M,
            f_col,
            *cr.buckets,
            out,
            generic=(0,),
        )
    elif chosen == "cells":
        f_col = cr.f_col_schema if raw else cr.f_col
        covered = run_parallel(
            match_cells_parallel,
            match_cells_serial,
            n,
            M,
            *cr.cell_arrays(f_col),
            out,
            generic=(0,),
        )
    else:
        cond_col = cr.cond_col_schema if raw else cr.cond_col
        covered = run_parallel(
            match_parallel, match_serial, n, M, *cr.kernel_arrays(cond_col), out, generic=(0,)
        )
    return int(covered)


TUNE_ROWS = 4096  # rows of the first large batch each candidate kernel is timed on


def _tuned_kernel(cr: CompiledRules, M: np.ndarray, raw: bool) -> str:
    """The compiled rule set's kernel, or, from the first batch of at least ``2 * TUNE_ROWS``
    rows on, the fastest candidate timed on that batch's first rows (the cost of a rule list
    depends on the data: a first rule that answers most rows makes rule-by-rule evaluation
    stop early). Every kernel returns the same answer; only the time differs."""
    tuned = cr._device_cache.get("cpu_kernel")
    if tuned is not None:
        return tuned
    if M.shape[0] < 2 * TUNE_ROWS:
        return cr.kernel
    sample = M[:TUNE_ROWS]
    out = np.empty(TUNE_ROWS, dtype=np.int64)
    candidates = ["rules", "cells"] + (["buckets"] if cr.buckets is not None else [])
    best, best_t = cr.kernel, np.inf
    for name in candidates:
        _run_kernel(cr, name, sample, raw, out)  # compiled (cached) before it is timed
        t0 = time.perf_counter()
        for _ in range(3):
            _run_kernel(cr, name, sample, raw, out)
        t = time.perf_counter() - t0
        if t < best_t:
            best, best_t = name, t
    cr._device_cache["cpu_kernel"] = best
    return best


def _evaluate_cuda(cr: CompiledRules, M: np.ndarray, raw: bool) -> np.ndarray:
    from ..kernels.match_cuda import match_cuda, to_device

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
    rules: RuleSet | CompiledRules, X: TableLike, device: str = "auto", kernel: str = "auto"
) -> np.ndarray:
    """Index (int64) of the first rule that matches each row; -1 where no rule matches.

    ``X``: a 2-D numpy array (columns in schema order), a pandas / polars data frame, a pyarrow
    table, a mapping of column name to values, a list of dicts or a file path. ``device``:
    ``"auto"`` (GPU for large batches when one is present), ``"cpu"`` or ``"cuda"``.
    """
    return evaluate(rules, X, device, kernel)[0]
