"""One column of a pandas, polars or pyarrow frame (or a mapping of numpy columns) as the numbers the rule kernels read, without
going through another frame library.

``column_values(X, name, kind, categories)`` returns a 1-D numpy array (or, for a chunked Arrow
column, a list of arrays, one per chunk) holding:

* for a numeric feature, the column's own numbers (float, integer or boolean numpy values;
  missing values as NaN): a view of the column's buffer where it is a plain numpy or Arrow
  buffer without nulls, else one pass through the column's validity mask;
* for a categorical feature, float64 codes into ``categories`` (``-1``: a value not among them,
  NaN: missing), read through the column's own codes (pandas ``Categorical``, polars
  ``Categorical`` / ``Enum``, Arrow dictionaries): the column's category list is mapped to
  ``categories`` once, then one table look-up per row (a numpy string array in a mapping of
  columns: its distinct values, found once).

It returns ``None`` for a column it has no fast reading of (strings, objects, mixed values,
128-bit integers, ...): the caller then converts that column the general way, which gives the
same numbers (and the same errors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from .tables import CATEGORICAL, UNSEEN, is_arrow, is_pandas

__all__ = ["category_lookup", "column_values"]

_NUMBER_KINDS = "fiub"


def category_lookup(
    frame_categories: Sequence[Any], code_of: Mapping[str, int]
) -> np.ndarray | None:
    """Float64 table: a frame's category ``k`` -> its code in the rule set (``-1``: unseen);
    one more entry (NaN) at the end for missing values. None when a category is neither a
    string nor an integer (the general path names the bad value)."""
    lut = np.empty(len(frame_categories) + 1, dtype=np.float64)
    for k, c in enumerate(frame_categories):
        if isinstance(c, str):
            key = c
        elif isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)):
            key = str(int(c))
        else:
            return None
        lut[k] = code_of.get(key, UNSEEN)
    lut[-1] = np.nan
    return lut


def _codes_through(lut: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``lut[codes]`` with missing codes (negative, or NaN in a float array) as the last entry."""
    if codes.dtype.kind == "f":  # nulls came out as NaN
        missing = np.isnan(codes)
        idx = np.where(missing, lut.shape[0] - 1, np.nan_to_num(codes, nan=0.0)).astype(np.int64)
        return lut[idx]
    idx = codes.astype(np.intp, copy=False)
    return lut[np.where(idx < 0, lut.shape[0] - 1, idx)]


def column_values(
    X: Any, name: str, kind: str, code_of: Mapping[str, int] | None
) -> np.ndarray | list[np.ndarray] | None:
    """The kernel's numbers for column ``name`` of frame ``X`` (see the module docstring)."""
    if isinstance(X, pl.DataFrame):
        return _polars(X.get_column(name), kind, code_of)
    if is_pandas(X):
        return _pandas(X[name], kind, code_of)
    if isinstance(X, Mapping):
        v = X[name]
        return _numpy(v, kind, code_of) if isinstance(v, np.ndarray) else None
    if is_arrow(X):
        col = X.column(name)
        chunks = getattr(col, "chunks", [col])
        out = []
        for ch in chunks:
            v = _arrow(ch, kind, code_of)
            if v is None:
                return None
            out.append(v)
        return out
    return None


def _numpy(arr: np.ndarray, kind: str, code_of: Mapping[str, int] | None) -> np.ndarray | None:
    if arr.ndim != 1:
        return None
    if kind != CATEGORICAL:
        return arr if arr.dtype.kind in _NUMBER_KINDS else None
    if arr.dtype.kind != "U":
        return None
    assert code_of is not None
    values, inverse = np.unique(arr, return_inverse=True)  # each distinct string mapped once
    lut = category_lookup(values.tolist(), code_of)
    return None if lut is None else lut[inverse]


def _polars(s: pl.Series, kind: str, code_of: Mapping[str, int] | None) -> np.ndarray | None:
    dtype = s.dtype
    if kind != CATEGORICAL:
        if (dtype.is_float() or dtype.is_integer()) and dtype.is_numeric():
            if dtype in (getattr(pl, "Int128", None), getattr(pl, "UInt128", None)):
                return None
            return s.to_numpy()  # a view when there are no nulls; nulls as NaN
        if dtype == pl.Boolean and s.null_count() == 0:
            return s.to_numpy()
        return None
    assert code_of is not None
    if isinstance(dtype, pl.Enum):
        cats = dtype.categories.to_list()
        lut = category_lookup(cats, code_of)
        return None if lut is None else _codes_through(lut, s.to_physical().to_numpy())
    if dtype == pl.Categorical:
        present = s.unique().drop_nulls()  # codes index a global mapping: read the used ones
        phys = present.to_physical().to_numpy().astype(np.int64)
        if phys.size and int(phys.max()) > 4 * max(s.len(), 1024):
            return None  # sparse codes of a large global mapping: the general path
        size = int(phys.max()) + 1 if phys.size else 0
        lut = np.full(size + 1, UNSEEN, dtype=np.float64)
        lut[-1] = np.nan
        for p, v in zip(phys.tolist(), present.cast(pl.String).to_list(), strict=True):
            lut[p] = code_of.get(v, UNSEEN)
        return _codes_through(lut, s.to_physical().to_numpy())
    return None


def _pandas(s: Any, kind: str, code_of: Mapping[str, int] | None) -> np.ndarray | None:
    dtype = s.dtype
    if isinstance(dtype, np.dtype):
        if kind != CATEGORICAL and dtype.kind in _NUMBER_KINDS:
            return s.to_numpy()  # a view of the column's numpy buffer
        return None
    if kind == CATEGORICAL:
        if getattr(dtype, "name", "") != "category":
            return None
        assert code_of is not None
        lut = category_lookup(list(dtype.categories), code_of)
        return None if lut is None else _codes_through(lut, s.cat.codes.to_numpy())
    # nullable extension types (Float32, Int64, boolean, ...): values through the mask
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    np_type = getattr(dtype, "numpy_dtype", None)
    if is_numeric_dtype(dtype) or is_bool_dtype(dtype):
        if isinstance(np_type, np.dtype) and np_type.kind in _NUMBER_KINDS:
            out_type = np.float32 if np_type.itemsize <= 2 or np_type == np.float32 else np.float64
            return s.to_numpy(dtype=out_type, na_value=np.nan)
    return None


def _arrow(ch: Any, kind: str, code_of: Mapping[str, int] | None) -> np.ndarray | None:
    import pyarrow as pa

    typ = ch.type
    if kind != CATEGORICAL:
        if pa.types.is_floating(typ) or pa.types.is_integer(typ):
            return ch.to_numpy(zero_copy_only=False)  # a view without nulls; nulls as NaN
        if pa.types.is_boolean(typ) and ch.null_count == 0:
            return ch.to_numpy(zero_copy_only=False)
        return None
    if not pa.types.is_dictionary(typ):
        return None
    assert code_of is not None
    lut = category_lookup(ch.dictionary.to_pylist(), code_of)
    if lut is None:
        return None
    return _codes_through(lut, ch.indices.to_numpy(zero_copy_only=False))
