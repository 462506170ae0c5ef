"""A list of learned rules as the flat arrays the fit-time matching kernel reads."""

from __future__ import annotations

import numpy as np

from ..kernels.boxes import match_rules
from ..kernels.dispatch import twin
from .binning import float_dtype
from .render import CatCond, NumCond


def compile_rules(conditions: list[list[NumCond | CatCond]], n_categories: np.ndarray):
    """Flat arrays for :func:`rulecascade.kernels.boxes.match_rules`."""
    starts = [0]
    feat, iscat, low, high, sstart, slen, table = [], [], [], [], [], [], []
    offset = 0
    for conds in conditions:
        for c in conds:
            feat.append(c.feature)
            if isinstance(c, CatCond):
                k = int(n_categories[c.feature])
                t = np.zeros(k, np.uint8)
                t[list(c.codes)] = 1
                iscat.append(1)
                low.append(np.nan)
                high.append(np.nan)
                sstart.append(offset)
                slen.append(k)
                table.append(t)
                offset += k
            else:
                iscat.append(0)
                low.append(np.nan if c.low is None else c.low)
                high.append(np.nan if c.high is None else c.high)
                sstart.append(0)
                slen.append(0)
        starts.append(len(feat))
    return (
        np.asarray(starts, np.int64),
        np.asarray(feat, np.int64),
        np.asarray(iscat, np.uint8),
        np.asarray(low, np.float64),
        np.asarray(high, np.float64),
        np.asarray(sstart, np.int64),
        np.asarray(slen, np.int64),
        np.concatenate(table) if table else np.zeros(1, np.uint8),
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
        twin(match_rules, device)(vals, np.asarray(rows, np.int64), *program, out)
    return out
