"""Reading tables: files, and any frame or array type a user passes (pandas, polars, pyarrow,
numpy, mappings, lists of dicts), as a polars DataFrame; embedding list columns expanded.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, Union

import numpy as np
import polars as pl

from rules_export.files import UnsafeFileError, open_regular
from rules_export.reference import InputError, categorical_column, numeric_column

from . import csv_check

NUMERIC = "numeric"
CATEGORICAL = "categorical"
UNSEEN = -1.0

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

#: Every input a rule set reads rows from: a 2-D array (columns in schema order), a pandas,
#: polars or pyarrow table, a mapping of column name to values, a list of dicts, or a file path.
TableLike: TypeAlias = Union[
    np.ndarray,
    pl.DataFrame,
    pl.LazyFrame,
    "pd.DataFrame",
    "pa.Table",
    "pa.RecordBatch",
    Mapping[str, Any],
    Sequence[Mapping[str, Any]],
    str,
    os.PathLike,
]

_TABLE_SUFFIXES = {".parquet", ".pq", ".csv", ".tsv", ".arrow", ".feather", ".ipc", ".npy"}


def read_table(
    path: str | os.PathLike[str],
    typed: Collection[str] | None = None,
    text_columns: Collection[str] = (),
) -> pl.DataFrame:
    """Read parquet, CSV/TSV, Arrow IPC or .npy into a polars frame; errors name the file.

    With ``typed``, a CSV's columns not named there are read as text, exactly as written
    (``00123`` stays ``00123``, ``1.50`` stays ``1.50``); the named ones get inferred types.
    ``text_columns`` (the categorical features of a rule set) are read from CSV as text in
    any case: inferred as integers, codes such as ``"01"`` would become ``1`` and match no
    category. Other formats keep their stored types."""
    p = Path(path)
    try:
        fh, _ = open_regular(p)  # a FIFO or device would hang or never end
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except UnsafeFileError as e:
        raise InputError(f"{p}: {e.strerror.replace('a regular file', 'a data file')}") from None
    fh.close()
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pl.read_parquet(p)
        elif suffix in (".csv", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            df = _read_csv(p, sep, typed, text_columns)
        elif suffix in (".arrow", ".feather", ".ipc"):
            df = pl.read_ipc(p)
        elif suffix == ".npy":
            arr = np.load(p, allow_pickle=False)
            if arr.ndim != 2:
                raise InputError(f"{p}: expected a 2-D array, got shape {arr.shape}")
            df = _frame_from_array(arr, None)
        else:
            raise InputError(
                f"{p}: unknown file type {suffix or '(none)'}; use parquet, csv, arrow or npy"
            )
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - any reader failure becomes one clear line
        raise InputError(f"{p}: cannot read as {suffix.lstrip('.')}: {_first_line(e)}") from None
    if df.width == 0:
        raise InputError(f"{p}: file has no columns")
    return df


def _read_csv(
    p: Path, sep: str, typed: Collection[str] | None, text_columns: Collection[str] = ()
) -> pl.DataFrame:
    """A CSV file as polars reads it (all text but ``typed``, see ``read_table``); a file
    polars fails on, or reads with a quote left open, is an error naming the row and line."""
    problem = csv_check.check_head(p)  # before polars reads a binary file into memory
    if problem:
        raise InputError(f"{p}: {problem}")
    try:
        if typed is None:
            df = pl.read_csv(
                p, separator=sep, infer_schema_length=10000, schema_overrides=_as_text(text_columns)
            )
        else:
            df = pl.read_csv(p, separator=sep, infer_schema=False)
            infer = set(typed) - set(text_columns)
            wanted = [i for i, name in enumerate(df.columns) if name in infer]
            if wanted:
                inferred = pl.read_csv(p, separator=sep, columns=wanted, infer_schema_length=10000)
                df = df.with_columns(
                    inferred.to_series(k).alias(df.columns[i]) for k, i in enumerate(wanted)
                )
    except Exception as e:  # noqa: BLE001 - find the row, else read_table says what polars said
        problem = csv_check.find_problem(p, sep, str(e))
        if problem:
            raise InputError(f"{p}: {problem}") from None
        raise
    if any("\n" in c or "\r" in c for c in df.columns):  # a quote in the header never closed
        problem = csv_check.find_problem(p, sep)
        if problem:
            raise InputError(f"{p}: {problem}")
    return _fix_header(df, p, sep)


def _as_text(names: Collection[str]) -> dict[str, Any]:
    """polars ``schema_overrides`` reading ``names`` as strings; a header name holding ``"``
    is also given as polars spells it (doubled quotes, see ``_fix_header``)."""
    out: dict[str, Any] = {}
    for n in names:
        out[n] = pl.String
        if '"' in n:
            out[n.replace('"', '""')] = pl.String
    return out


def _fix_header(df: pl.DataFrame, path: Path, sep: str) -> pl.DataFrame:
    """Column names as the CSV standard reads the header: polars keeps a quoted header's
    doubled quotes (``"a""b"`` -> ``a""b``, not ``a"b``; pola-rs/polars#20294)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            names = next(csv.reader(fh, delimiter=sep), None)
    except UnicodeDecodeError as e:  # polars would put U+FFFD in the names
        raise InputError(
            f"{path}: not UTF-8 text (near byte {e.start}); save the file as UTF-8"
        ) from None
    except (OSError, csv.Error):
        return df
    if names is None or len(names) != df.width:
        return df
    try:  # polars would rename a repeated name silently (name_duplicated_0)
        _unique_names(names)
    except InputError as e:
        raise InputError(f"{path}: {e}") from None
    if names == df.columns:
        return df
    return df.rename(dict(zip(df.columns, names, strict=True)))


def _frame_from_array(arr: np.ndarray, names: Sequence[str] | None) -> pl.DataFrame:
    if arr.ndim != 2:
        raise InputError(f"expected a 2-D array of rows x features, got shape {arr.shape}")
    if names is None:
        names = [f"x{i}" for i in range(arr.shape[1])]
    if len(names) != arr.shape[1]:
        raise InputError(f"array has {arr.shape[1]} columns but {len(names)} names were given")
    if arr.dtype.kind == "O" or arr.dtype.kind in "US":
        return pl.DataFrame({n: list(arr[:, i]) for i, n in enumerate(names)}, strict=False)
    return pl.DataFrame({n: arr[:, i] for i, n in enumerate(names)})


def to_polars(
    X: Any, feature_names: Sequence[str] | None = None, used: Collection[str] | None = None
) -> pl.DataFrame:
    """Any supported input as a polars DataFrame (embedding list columns expanded; with
    ``used``, only those the named features come from, see ``expand_lists``)."""
    if isinstance(X, (str, os.PathLike)):
        df = read_table(X)
    elif isinstance(X, pl.DataFrame):
        df = X
    elif isinstance(X, pl.LazyFrame):
        df = X.collect()
    elif isinstance(X, np.ndarray):
        df = _frame_from_array(X if X.ndim != 1 else X.reshape(-1, 1), feature_names)
    elif type(X).__module__.startswith("pandas"):
        if hasattr(X, "to_frame") and not hasattr(X, "columns"):
            X = X.to_frame()
        df = _from_pandas(X)
    elif type(X).__module__.startswith("pyarrow"):
        _unique_names([str(c) for c in getattr(X, "column_names", [])])
        df = pl.from_arrow(X)
        if isinstance(df, pl.Series):
            df = df.to_frame()
    elif isinstance(X, Mapping):
        df = pl.DataFrame({str(k): _as_series_values(v) for k, v in X.items()}, strict=False)
    elif isinstance(X, Sequence) and X and isinstance(X[0], Mapping):
        df = pl.DataFrame(list(X), infer_schema_length=None, strict=False)
    elif isinstance(X, Sequence) and not isinstance(X, (str, bytes)):
        df = _frame_from_array(np.asarray(X), feature_names)
    else:
        raise InputError(
            f"cannot read features from {type(X).__name__}: pass an array, a data frame, "
            "an Arrow table, a mapping of columns, a list of dicts or a file path"
        )
    return expand_lists(df, used)


def _first_line(e: BaseException) -> str:
    """An exception's first message line (its type name when it has no message)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unique_names(names: list[str]) -> None:
    """Refuse repeated column names, naming them."""
    dup = sorted(n for n, k in Counter(names).items() if k > 1)
    if dup:
        raise InputError(
            f"duplicate column name(s) {', '.join(map(repr, dup))}: names must be unique"
        )


def _from_pandas(X: Any) -> pl.DataFrame:
    """A pandas frame as polars; a column polars cannot hold is named with its dtype."""
    _unique_names([str(c) for c in X.columns])
    try:
        return pl.from_pandas(X)
    except Exception as e:  # noqa: BLE001 - find the column and say what is wrong with it
        for col in X.columns:
            try:
                pl.from_pandas(X[[col]])
            except Exception as ce:  # noqa: BLE001
                raise InputError(
                    f"column {str(col)!r} (pandas dtype {X[col].dtype}) cannot be read: "
                    f"{_first_line(ce)}; "
                    "features must be numbers, booleans or strings (one type per column)"
                ) from None
        raise InputError(f"cannot read the pandas frame: {_first_line(e)}") from None


def _as_series_values(v: Any) -> Any:
    if isinstance(v, np.ndarray) and v.ndim > 1:
        return list(v)
    return v


def list_feature_index(name: str, column: str) -> int | None:
    """``i`` when feature ``name`` is element ``i`` of list column ``column`` (``emb_3``)."""
    head, sep, tail = name.rpartition("_")
    if not (sep and head == column and tail.isascii() and tail.isdecimal()):
        return None
    return int(tail) if str(int(tail)) == tail else None  # "emb_03" is no element


def expand_lists(df: pl.DataFrame, used: Collection[str] | None = None) -> pl.DataFrame:
    """Embedding list columns as one column per element (``emb`` -> ``emb_0``, ``emb_1``, ...).

    With ``used`` (the feature names to be read), list columns no used name comes from are
    left out (they may hold anything), and a column of lists that are all missing expands to
    the width the used names need (missing values) instead of to nothing."""
    if not has_lists(df):
        return df
    cols = []
    existing = set(df.columns)
    for name, dtype in df.schema.items():
        if not isinstance(dtype, (pl.Array, pl.List)):
            cols.append(df.get_column(name))
            continue
        needed: list[int] = []
        if used is not None:
            needed = [i for i in (list_feature_index(u, name) for u in used) if i is not None]
            if not needed and name not in used:
                continue
        s = df.get_column(name)
        if isinstance(dtype, pl.List):
            lens = s.list.len().unique().drop_nulls()
            if lens.len() > 1:
                raise InputError(f"column {name!r}: embedding lists have different lengths")
            width = int(lens[0]) if lens.len() else max(needed, default=-1) + 1
            s = s.list.to_array(width)
        width = s.dtype.size
        clash = next((f"{name}_{i}" for i in range(width) if f"{name}_{i}" in existing), None)
        if clash is not None:
            raise InputError(
                f"column {clash!r} is also element {clash.rpartition('_')[2]} of the list "
                f"column {name!r}: rename one of them"
            )
        arr = s.arr
        cols.extend(arr.get(i).alias(f"{name}_{i}") for i in range(width))
    return pl.DataFrame(cols)


def has_lists(df: pl.DataFrame) -> bool:
    return any(isinstance(d, (pl.Array, pl.List)) for d in df.dtypes)


# ---------------------------------------------------------------------------------------------
# input -> evaluation matrix


def is_pandas(X: Any) -> bool:
    return type(X).__module__.startswith("pandas")


def is_arrow(X: Any) -> bool:
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
    if is_arrow(X) and hasattr(X, "num_rows"):
        return int(X.num_rows)
    if is_pandas(X):
        return len(X)
    if isinstance(X, (str, os.PathLike)):
        return read_table(X).height
    if isinstance(X, Mapping):
        for v in X.values():
            return len(v)
        return 0
    if isinstance(X, Sequence):
        return len(X)
    if hasattr(X, "shape"):
        return int(X.shape[0])
    raise InputError(f"cannot read rows from {type(X).__name__}")


def column_series(values: Any, name: str, kind: str) -> pl.Series:
    """One input column as a polars Series, with the reference's conversions and errors."""
    if isinstance(values, pl.Series):
        return values.alias(name)
    if is_arrow(values):
        s = pl.from_arrow(values)
        if isinstance(s, pl.Series):
            return s.alias(name)
    if is_pandas(values):
        try:
            return pl.from_pandas(values).alias(name)
        except Exception:  # noqa: BLE001 - mixed object columns: convert element by element
            values = values.to_numpy()
    if isinstance(values, np.ndarray):
        arr = values
    elif kind == NUMERIC:
        arr = np.asarray(values)
    else:  # a list keeps each value's type ([3, nan] or [nan, "a"] would become strings)
        arr = np.array(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
    if kind == NUMERIC:
        if arr.dtype.kind in "fiub":
            return pl.Series(name, arr.astype(np.float64, copy=False))
        return pl.Series(name, numeric_column(arr, name))
    if arr.dtype.kind in "iu":
        return pl.Series(name, arr).cast(pl.String)
    if arr.dtype.kind == "U":
        return pl.Series(name, arr, dtype=pl.String)
    if arr.dtype.kind == "O":
        try:  # inferred, not cast: polars would decode bytes into strings
            s = pl.Series(name, arr, strict=True)
            if s.dtype == pl.String:
                return s
        except Exception:  # noqa: BLE001 - ints, NaN or bad values among strings
            pass
    return pl.Series(name, categorical_column(arr, name).tolist(), dtype=pl.String)
