"""Tables -> one float64 (or float32) matrix the kernels read (``FeatureMatrix``): feature kinds,
category codes, missing values as NaN."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from rules_export.reference import InputError

from .tables import CATEGORICAL, NUMERIC, UNSEEN, to_polars


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
