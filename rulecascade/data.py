"""Any tabular input -> one float64 matrix the kernels can read (``FeatureMatrix``).

Accepted: 2-D numpy arrays, pandas / polars data frames, pyarrow tables and record batches,
mappings of column name to values, lists of dicts, and paths to parquet, CSV, Arrow IPC or
``.npy`` files. Categorical (string) columns become integer codes into a sorted category list;
missing values become NaN; categories not seen at fit time become ``-1`` (they match no rule).
Fixed-size-list columns (embeddings) expand into ``name_0 .. name_{d-1}``.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from rules_export.reference import InputError, _is_pandas_na

NUMERIC = "numeric"
CATEGORICAL = "categorical"
UNSEEN = -1.0

_TABLE_SUFFIXES = {".parquet", ".pq", ".csv", ".tsv", ".arrow", ".feather", ".ipc", ".npy"}


@dataclass(frozen=True)
class FeatureMatrix:
    """Rows x features in float64 (Fortran order), with each column's kind and categories.

    Encoded with ``compact=True`` (fitting), the values are float32 when every column holds
    exactly there (float32, booleans, small integers, category codes): the same numbers in
    half the memory."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    values: np.ndarray
    categories: Mapping[str, tuple[str, ...]]

    @property
    def n_rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.values.shape[1])

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([k == CATEGORICAL for k in self.kinds], dtype=bool)

    def take(self, rows: np.ndarray) -> FeatureMatrix:
        """The same features on a subset of rows."""
        return FeatureMatrix(
            self.names, self.kinds, np.asfortranarray(self.values[rows]), self.categories
        )


def read_table(path: str | os.PathLike[str]) -> pl.DataFrame:
    """Read parquet, CSV/TSV, Arrow IPC or .npy into a polars frame; errors name the file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a data file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pl.read_parquet(p)
        elif suffix in (".csv", ".tsv"):
            sep = "\t" if suffix == ".tsv" else ","
            df = _fix_header(pl.read_csv(p, separator=sep, infer_schema_length=10000), p, sep)
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
    ``used``, only those the named features come from, see ``_expand_lists``)."""
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
    return _expand_lists(df, used)


def _first_line(e: BaseException) -> str:
    """An exception's first message line (its type name when it has no message)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _unique_names(names: list[str]) -> None:
    """Refuse repeated column names, naming them."""
    dup = sorted({n for n in names if names.count(n) > 1})
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


def _expand_lists(df: pl.DataFrame, used: Collection[str] | None = None) -> pl.DataFrame:
    """Embedding list columns as one column per element (``emb`` -> ``emb_0``, ``emb_1``, ...).

    With ``used`` (the feature names to be read), list columns no used name comes from are
    left out (they may hold anything), and a column of lists that are all missing expands to
    the width the used names need (missing values) instead of to nothing."""
    if not _has_lists(df):
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


def _has_lists(df: pl.DataFrame) -> bool:
    return any(isinstance(d, (pl.Array, pl.List)) for d in df.dtypes)


def infer_kinds(df: pl.DataFrame, categorical: Sequence[str] = ()) -> dict[str, str]:
    """Kind of each column: numeric for numbers and booleans, categorical for strings."""
    kinds = {}
    forced = set(categorical)
    for name, dtype in df.schema.items():
        if name in forced or dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
            kinds[name] = CATEGORICAL
        elif dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null:
            kinds[name] = NUMERIC
        else:
            raise InputError(
                f"column {name!r} has type {dtype}, which is neither numeric nor string; "
                "convert it (e.g. a date to a number) before fitting"
            )
    return kinds


_INT128 = tuple(getattr(pl, t) for t in ("Int128", "UInt128") if hasattr(pl, t))


def _numeric(s: pl.Series) -> np.ndarray:
    if s.dtype == pl.Boolean or s.dtype == pl.Null or s.len() == 0:  # no rows: no type to check
        s = s.cast(pl.Float64)
    if not (s.dtype.is_numeric()):
        raise InputError(f"column {s.name!r} is {s.dtype} but is used as a numeric feature")
    wide = s.dtype in _INT128  # numpy has no 128-bit integers: polars casts them
    if (s.dtype.is_float() or s.dtype.is_integer()) and not wide and s.null_count() == 0:
        # no nulls to fill: numpy converts (exactly as a cast would, when the caller assigns
        # it into the float matrix) without polars' per-call query overhead, which dominates
        # batches of a few rows
        return s.to_numpy()
    return s.cast(pl.Float64).fill_null(np.nan).to_numpy()


def _strings(s: pl.Series) -> pl.Series:
    if s.dtype in (pl.String,):
        return s
    if s.len() == 0:
        return pl.Series(s.name, [], dtype=pl.String)
    if s.dtype == pl.Categorical or isinstance(s.dtype, pl.Enum):
        return s.cast(pl.String)
    if s.dtype.is_integer():
        return s.cast(pl.String)
    if s.dtype == pl.Null:
        return s.cast(pl.String)
    raise InputError(
        f"column {s.name!r} is {s.dtype} but is used as a categorical (string) feature"
    )


_EXACT_INT = 1 << 24  # integers up to this magnitude are exact in float32
_FLOAT32_EXACT = (pl.Float32, pl.Boolean, pl.Null, pl.Int8, pl.Int16, pl.UInt8, pl.UInt16) + (
    (pl.Float16,) if hasattr(pl, "Float16") else ()
)


def _ints_exact(lo: int, hi: int) -> bool:
    """Whether every integer in ``[lo, hi]`` is exact in float32."""
    return -_EXACT_INT <= lo and hi <= _EXACT_INT


def _exact_in_float32(s: pl.Series, kind: str, categories: Sequence[str] | None) -> bool:
    """Whether every value of column ``s`` (as encoded) is exact in float32."""
    if kind != NUMERIC:  # category codes: fewer than the categories (or than the rows)
        if categories is not None:
            return len(categories) <= _EXACT_INT
        return s.len() <= _EXACT_INT or s.n_unique() <= _EXACT_INT
    if s.dtype in _FLOAT32_EXACT:
        return True
    if s.dtype.is_integer():
        if s.null_count() == s.len():
            return True
        return _ints_exact(s.min(), s.max())  # type: ignore[arg-type]
    return False


def encode(
    df: pl.DataFrame,
    names: Sequence[str],
    kinds: Mapping[str, str],
    categories: Mapping[str, Sequence[str]] | None = None,
    compact: bool = False,
) -> FeatureMatrix:
    """Encode the named columns; learn sorted categories unless ``categories`` are given.
    ``compact``: float32 values when every column is exact there (else float64)."""
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise InputError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
        )
    n = df.height
    known_cats = categories or {}
    dtype = (
        np.float32
        if compact
        and all(_exact_in_float32(df.get_column(c), kinds[c], known_cats.get(c)) for c in names)
        else np.float64
    )
    values = np.empty((n, len(names)), dtype=dtype, order="F")
    cats_out: dict[str, tuple[str, ...]] = {}
    for j, name in enumerate(names):
        s = df.get_column(name)
        if kinds[name] == NUMERIC:
            values[:, j] = _numeric(s)
            continue
        strs = _strings(s)
        if categories is not None and name in categories:
            known = tuple(categories[name])
        else:
            known = tuple(sorted(strs.drop_nulls().unique().to_list()))
            bad = next((c for c in known if "\x00" in c), None)
            if bad is not None:
                raise InputError(
                    f"column {name!r}: category {bad!r} contains a NUL character, which SQL "
                    "strings cannot hold; replace it before fitting"
                )
        cats_out[name] = known
        lookup = pl.DataFrame(
            {
                "__v": pl.Series(known, dtype=pl.String),
                "__c": np.arange(len(known), dtype=np.float64),
            }
        )
        coded = (
            pl.DataFrame({"__v": strs})
            .join(lookup, on="__v", how="left", maintain_order="left")
            .get_column("__c")
            .to_numpy()
            .astype(np.float64)
        )
        null = strs.is_null().to_numpy()
        coded = np.where(np.isnan(coded) & ~null, UNSEEN, coded)
        values[:, j] = coded
    return FeatureMatrix(tuple(names), tuple(kinds[n] for n in names), values, cats_out)


def _array_exact_in_float32(X: np.ndarray) -> bool:
    if X.dtype == np.float32 or X.dtype.kind == "b" or X.dtype.itemsize <= 2:
        return True
    if X.dtype.kind in "iu":
        return X.size == 0 or _ints_exact(int(X.min()), int(X.max()))
    return False


def as_matrix(
    X: Any,
    feature_names: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
    compact: bool = False,
) -> FeatureMatrix:
    """Encode any input for fitting: every column is a feature (kinds inferred).
    ``compact``: float32 values when every column is exact there (see :func:`encode`)."""
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "fiub" and not categorical:
        names = (
            tuple(feature_names)
            if feature_names is not None
            else tuple(f"x{i}" for i in range(X.shape[1]))
        )
        if len(names) != X.shape[1]:
            raise InputError(f"array has {X.shape[1]} columns but {len(names)} names were given")
        dtype = np.float32 if compact and _array_exact_in_float32(X) else np.float64
        return FeatureMatrix(names, (NUMERIC,) * len(names), np.asfortranarray(X, dtype=dtype), {})
    df = to_polars(X, feature_names)
    kinds = infer_kinds(df, categorical)
    return encode(df, df.columns, kinds, compact=compact)


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
    if v is None or _is_pandas_na(v):
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


def fingerprint(fm: FeatureMatrix, y: np.ndarray) -> str:
    """A content hash of features and labels (sha256, hex), recorded in the rule set."""
    h = hashlib.sha256()
    h.update(repr((fm.names, fm.kinds, sorted(fm.categories.items()))).encode())
    for s in range(0, fm.values.shape[0], 1 << 16):  # the row-major float64 bytes, in blocks
        h.update(np.ascontiguousarray(fm.values[s : s + (1 << 16)], dtype=np.float64))
    h.update(repr(y.dtype).encode())
    h.update(
        np.ascontiguousarray(y).tobytes() if y.dtype.kind != "O" else repr(y.tolist()).encode()
    )
    return "sha256:" + h.hexdigest()
