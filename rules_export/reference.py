"""The reference evaluator: the semantics of a rule set, in slow and obvious numpy.

Every other evaluator (numba kernel, GPU kernel, exported Python, exported SQL) must return the
same rule index as :func:`match` on every row.

Values every evaluator reads the same way:

* numeric features: numbers (``bool``, ``int``, ``float``, numpy numbers, ``decimal.Decimal``)
  are converted with ``float()``; ``None``, NaN and pandas' ``NA`` are missing; anything else
  (strings, ``bytes``, ...) is refused, naming the column and row;
* categorical features: ``str`` values compare exactly, integers as their decimal text; missing
  values as above; ``bytes`` (and every other type) are refused: bytes have no one text (their
  encoding is the caller's to choose), so decode them before evaluation;
* embedding lists: a feature named ``<column>_<i>`` (``i`` a decimal without leading zeros) that
  the input lacks is element ``i`` of the input's list column ``<column>`` (lists, tuples or 1-D
  arrays, one per row, all of one length; a missing list makes every element missing).
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .model import InSet, Interval, Projection, RuleSet, RuleSetError, short_repr


class InputError(ValueError):
    """The data given to an evaluator does not fit the rule set; the message names the column."""


def list_source(name: str) -> tuple[str, int] | None:
    """``(column, i)`` when feature ``name`` can be element ``i`` of list column ``column``
    (``emb_3`` -> ``("emb", 3)``); None otherwise."""
    head, sep, tail = name.rpartition("_")
    if not (sep and head and tail.isascii() and tail.isdecimal()) or str(int(tail)) != tail:
        return None
    return head, int(tail)


def _has(X: Any, column: str) -> bool:
    if isinstance(X, Mapping):
        return column in X
    names = getattr(X, "column_names", None)
    if names is None:
        names = getattr(X, "columns", None)
    return names is not None and column in list(names)


def _rows_of(values: Any) -> list[Any]:
    for method in ("to_list", "to_pylist", "tolist"):  # polars, pyarrow, pandas / numpy
        fn = getattr(values, method, None)
        if callable(fn):
            return list(fn())
    return list(values)


def _is_missing_value(v: Any) -> bool:
    return v is None or is_pandas_na(v) or (isinstance(v, float) and math.isnan(v))


def list_element(X: Any, name: str) -> np.ndarray | None:
    """Feature ``name`` as element ``i`` of the list column it names (see the module
    docstring), as an object array (None: missing); None when there is no such list column."""
    src = list_source(name)
    if src is None or not _has(X, src[0]):
        return None
    column, index = src
    raw = X[column] if not hasattr(X, "column_names") else X.column(column)
    rows = _rows_of(raw)
    lengths = set()
    for v in rows:
        if _is_missing_value(v):
            continue
        if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
            return None  # not a list column
        lengths.add(len(v))
    if len(lengths) > 1:
        raise InputError(f"column {column!r}: embedding lists have different lengths")
    if lengths and index >= next(iter(lengths)):
        return None
    out = np.empty(len(rows), dtype=object)
    for i, v in enumerate(rows):
        out[i] = None if _is_missing_value(v) else v[index]
    return out


def _column(X: Any, name: str, position: int, n_features: int) -> Any:
    if not isinstance(X, np.ndarray) and not _has(X, name):
        element = list_element(X, name)
        if element is not None:
            return element
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise InputError(f"expected a 2-D array of rows x features, got shape {X.shape}")
        if X.shape[1] != n_features:
            raise InputError(
                f"array has {X.shape[1]} columns but the rule set has {n_features} features"
            )
        return X[:, position]
    if isinstance(X, Mapping):
        if name not in X:
            raise InputError(f"missing column {name!r}")
        return X[name]
    column_names = getattr(X, "column_names", None)  # pyarrow Table / RecordBatch
    if column_names is not None and hasattr(X, "column"):
        if name not in list(column_names):
            raise InputError(f"missing column {name!r}")
        return _arrow_values(X.column(name))
    columns = getattr(X, "columns", None)
    if columns is not None:
        if name not in list(columns):
            raise InputError(f"missing column {name!r}")
        return _frame_values(X[name])
    raise InputError(
        f"cannot read columns from {type(X).__name__}: pass a 2-D array, a mapping of "
        "column name to values, or a data frame"
    )


def _arrow_values(col: Any) -> Any:
    """A pyarrow column's values: dictionary columns decoded (pyarrow's ``to_numpy`` gives a
    dictionary value for a null slot), integer columns with nulls as Python ints and None
    (``to_numpy`` would make them floats, which a categorical feature refuses)."""
    typ = getattr(col, "type", None)
    if typ is None or not hasattr(col, "to_numpy"):
        return col
    if hasattr(typ, "value_type") and hasattr(typ, "index_type"):  # dictionary
        col = col.cast(typ.value_type)
        typ = col.type
    if str(typ).startswith(("int", "uint")) and col.null_count:
        return np.array(col.to_pylist(), dtype=object)
    return col.to_numpy(zero_copy_only=False)


def _frame_values(col: Any) -> Any:
    """A polars or pandas column's values; integer columns with nulls as Python ints and None."""
    if not hasattr(col, "to_numpy"):
        return col
    dtype = str(getattr(col, "dtype", ""))
    if dtype.lower().startswith(("int", "uint")) and _has_nulls(col):
        values = col.to_list() if hasattr(col, "to_list") else col.tolist()
        return np.array([None if is_pandas_na(v) else v for v in values], dtype=object)
    return col.to_numpy()


def _has_nulls(col: Any) -> bool:
    n = getattr(col, "null_count", None)  # polars: a method
    if callable(n):
        return bool(n())
    isna = getattr(col, "isna", None)  # pandas
    return bool(isna().any()) if callable(isna) else False


def is_pandas_na(v: Any) -> bool:
    # pandas.NA / NaT without importing pandas
    return type(v).__name__ in ("NAType", "NaTType")


def numeric_column(values: Any, name: str) -> np.ndarray:
    """Values as float64 (missing -> NaN); a clear error for non-numeric data."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind in "US" and arr.shape[0] > 0:
        raise InputError(f"column {name!r}, row 0: {short_repr(arr[0])} is not a number")
    if arr.dtype.kind == "O":
        out = np.empty(arr.shape[0], dtype=np.float64)
        for i, v in enumerate(arr):
            if v is None or is_pandas_na(v):
                out[i] = np.nan
            elif isinstance(v, (bool, int, float, np.number, decimal.Decimal)):
                try:
                    out[i] = float(v)
                except (OverflowError, TypeError, ValueError):
                    raise InputError(
                        f"column {name!r}, row {i}: {short_repr(v)} is not a float64 number"
                    ) from None
            else:
                raise InputError(f"column {name!r}, row {i}: {short_repr(v)} is not a number")
        return out
    raise InputError(f"column {name!r} is {arr.dtype} but the rule set treats it as numeric")


def categorical_column(values: Any, name: str) -> np.ndarray:
    """Values as an object array of ``str`` or ``None`` (missing); integers become their decimal."""
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    out = np.empty(arr.shape[0], dtype=object)
    for i, v in enumerate(arr):
        if v is None or is_pandas_na(v) or (isinstance(v, float) and math.isnan(v)):
            out[i] = None
        elif isinstance(v, str):
            out[i] = v
        elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out[i] = str(int(v))
        else:
            raise InputError(
                f"column {name!r}, row {i}: {short_repr(v)} is not a string (categorical feature)"
            )
    return out


def input_columns(rules: RuleSet, X: Any) -> tuple[dict[str, np.ndarray], int]:
    """The columns evaluation reads, converted per the schema, and the number of rows."""
    names = rules.feature_names
    used = set(rules.used_features)
    cols: dict[str, np.ndarray] = {}
    n_rows: int | None = None
    if isinstance(X, np.ndarray) and X.ndim == 2:
        n_rows = X.shape[0]
    for pos, feat in enumerate(rules.features):
        if feat.name not in used:
            continue
        raw = _column(X, feat.name, pos, len(names))
        col = (
            numeric_column(raw, feat.name)
            if feat.kind == "numeric"
            else categorical_column(raw, feat.name)
        )
        if n_rows is None:
            n_rows = col.shape[0]
        elif col.shape[0] != n_rows:
            raise InputError(f"column {feat.name!r} has {col.shape[0]} rows, expected {n_rows}")
        cols[feat.name] = col
    if n_rows is None:
        n_rows = _count_rows(X)
    proj = rules.projection
    if proj is not None and set(proj.outputs) & {
        c.feature for r in rules.rules for c in r.conditions
    }:
        z = project_columns(proj, [cols[n] for n in proj.inputs], n_rows)
        cols.update(zip(proj.outputs, z, strict=True))
    return cols, n_rows


def project_columns(proj: Projection, columns: Sequence[Any], n_rows: int) -> list[np.ndarray]:
    """Each output of ``proj`` (float64), from its input ``columns`` in ``proj.inputs`` order:
    blocks of inputs each summed left to right, then the block sums left to right."""
    values = [np.asarray(c, dtype=np.float64) for c in columns]  # float32 upcasts exactly
    out = []
    # inf - inf, inf * 0 give NaN (a missing value) by the same IEEE rules on every engine
    with np.errstate(invalid="ignore", over="ignore"):
        for w in proj.weights:
            acc = np.zeros(n_rows, dtype=np.float64)
            for start, stop in proj.blocks():
                part = np.zeros(n_rows, dtype=np.float64)
                for i in range(start, stop):
                    part = part + (values[i] - proj.mean[i]) * w[i]
                acc = acc + part
            out.append(acc)
    return out


def _count_rows(X: Any) -> int:
    if isinstance(X, np.ndarray):
        return X.shape[0] if X.ndim >= 1 else 0
    if isinstance(X, Mapping):
        for v in X.values():
            return len(v)
        return 0
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def condition_mask(cond: Interval | InSet, col: np.ndarray) -> np.ndarray:
    """Rows where one condition holds (missing values never satisfy it)."""
    if isinstance(cond, Interval):
        ok = ~np.isnan(col)
        if cond.low is not None:
            ok &= col > np.float64(cond.low)
        if cond.high is not None:
            ok &= col <= np.float64(cond.high)
        return ok
    allowed = set(cond.values)
    return np.fromiter(
        (v is not None and v in allowed for v in col), dtype=bool, count=col.shape[0]
    )


class _Codes:
    """A categorical column as integer codes (-1: missing), so that each ``IN`` is one
    vectorized ``np.isin`` instead of a Python loop over the rows. Same answer as
    ``condition_mask``: a value matches when it is a string equal to one of the allowed values."""

    def __init__(self, col: np.ndarray) -> None:
        self.index: dict[str, int] = {}
        codes = np.empty(col.shape[0], dtype=np.int64)
        for i, v in enumerate(col):
            codes[i] = -1 if v is None else self.index.setdefault(v, len(self.index))
        self.codes = codes

    def mask(self, cond: InSet) -> np.ndarray:
        allowed = [self.index[v] for v in cond.values if v in self.index]
        return np.isin(self.codes, np.array(allowed, dtype=np.int64))


def match(rules: RuleSet, X: Any) -> np.ndarray:
    """Index (int64) of the first rule that matches each row; -1 where no rule matches."""
    if not isinstance(rules, RuleSet):
        raise RuleSetError(f"expected a RuleSet, got {type(rules).__name__}")
    cols, n_rows = input_columns(rules, X)
    codes: dict[str, _Codes] = {}
    out = np.full(n_rows, -1, dtype=np.int64)
    for k in range(len(rules.rules) - 1, -1, -1):
        mask = np.ones(n_rows, dtype=bool)
        for cond in rules.rules[k].conditions:
            if isinstance(cond, InSet):
                if cond.feature not in codes:
                    codes[cond.feature] = _Codes(cols[cond.feature])
                mask &= codes[cond.feature].mask(cond)
            else:
                mask &= condition_mask(cond, cols[cond.feature])
        out[mask] = k
    return out


def predict(rules: RuleSet, X: Any, default: Any = None) -> np.ndarray:
    """Label of the first matching rule per row (object array; ``default`` where none)."""
    idx = match(rules, X)
    labels = np.array([r.label for r in rules.rules] + [default], dtype=object)
    return labels[idx]
