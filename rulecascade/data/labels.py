"""Labels: read as one 1-D array, missing and infinite labels refused by row and value."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import polars as pl

from rules_export.reference import InputError, is_pandas_na


def as_labels(y: Any, n_rows: int | None = None) -> np.ndarray:
    """Labels as a 1-D numpy array; missing labels and wrong lengths are clear errors."""
    if isinstance(y, (str, os.PathLike)):
        raise InputError("labels must be values, not a path; use target= with a file")
    if isinstance(y, pl.DataFrame) and y.width == 1:
        y = y.to_series()
    if isinstance(y, pl.Series):
        if y.null_count():
            row = int(y.is_null().arg_true()[0])
            raise InputError(f"label is missing at row {row}")
        arr = y.to_numpy()
    elif type(y).__module__.startswith("pyarrow"):
        return as_labels(pl.from_arrow(y), n_rows)
    else:
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(f"labels must be one-dimensional, got shape {arr.shape}")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputError(f"got {arr.shape[0]} labels for {n_rows} rows")
    check_labels_present(arr)
    return arr


def is_missing(v: Any) -> bool:
    """Whether a single value is missing: None, NaN (any float type), pandas.NA or NaT."""
    if v is None or is_pandas_na(v):
        return True
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _missing_or_infinite(v: Any) -> bool:
    return is_missing(v) or (isinstance(v, (float, np.floating)) and math.isinf(v))


def check_labels_present(arr: np.ndarray) -> None:
    """A missing (None, NaN) or infinite label is an input error naming its row."""
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(arr))
    elif arr.dtype.kind == "O":
        bad = np.flatnonzero([_missing_or_infinite(v) for v in arr.ravel()])
    else:
        return
    if bad.size:
        i = int(bad[0])
        raise InputError(f"label is missing or not finite at row {i}: {arr.ravel()[i]!r}")
