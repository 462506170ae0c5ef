"""A list of learned rules as the flat arrays of the serving kernels (``CompiledRules``' layout).

Fit-time matching (certification, the learner's ``match``) runs the same row body as serving
(:func:`rulecascade.kernels.match_cpu.match_rows`, and its CUDA twin), on the encoded matrix:
numeric columns as values, categorical columns as integer category codes.
"""

from __future__ import annotations

import numpy as np

from ..kernels.dispatch import twin
from ..kernels.match_cpu import KIND_RANGE, KIND_SET, KIND_UPPER, match_rows
from .binning import float_dtype
from .render import CatCond, NumCond


def compile_rules(
    conditions: list[list[NumCond | CatCond]], n_categories: np.ndarray
) -> tuple[np.ndarray, ...]:
    """The eight rule arrays of :meth:`rulecascade.serve.CompiledRules.kernel_arrays` (rule
    starts, condition columns, kinds, low and high bounds, category starts, lengths and codes)
    for conditions on the columns of the encoded matrix."""
    starts = [0]
    col, kind, low, high, cat_start, cat_len, codes = [], [], [], [], [], [], []
    for conds in conditions:
        for c in conds:
            col.append(c.feature)
            if isinstance(c, CatCond):
                kind.append(KIND_SET)
                low.append(np.nan)
                high.append(np.nan)
                cat_start.append(len(codes))
                cat_len.append(len(c.codes))
                codes.extend(float(k) for k in sorted(c.codes))
            else:
                kind.append(KIND_UPPER if c.low is None else KIND_RANGE)
                low.append(-np.inf if c.low is None else float(c.low))
                high.append(np.inf if c.high is None else float(c.high))
                cat_start.append(0)
                cat_len.append(0)
        starts.append(len(col))
    return (
        np.asarray(starts, np.int64),
        np.asarray(col, np.int64),
        np.asarray(kind, np.int64),
        np.asarray(low, np.float64),
        np.asarray(high, np.float64),
        np.asarray(cat_start, np.int64),
        np.asarray(cat_len, np.int64),
        np.asarray(codes, np.float64),
    )


def match(
    values: np.ndarray, program, rows: np.ndarray | None = None, device: str = "cpu"
) -> np.ndarray:
    """First matching rule per row of ``values`` (float64 or float32, categorical as codes),
    or per row of ``values`` listed in ``rows`` (read in place on the CPU, not copied); -1 if
    none."""
    if rows is None:
        rows = np.arange(values.shape[0], dtype=np.int64)
    out = np.empty(rows.shape[0], np.int64)
    if rows.shape[0]:
        vals = np.asarray(values, dtype=float_dtype(values))
        twin(match_rows, device)(vals, np.asarray(rows, np.int64), *program, out)
    return out
