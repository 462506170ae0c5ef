"""Any supported input -> the evaluation matrix a compiled rule set's kernels read."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from rules_export.reference import InputError

from .. import data as _data
from ..data import column_series, is_arrow, is_pandas
from ..data.columns import column_values
from ..kernels.dispatch import run_parallel
from ..kernels.projection import project_parallel, project_serial
from .compile import CompiledRules


def fill_projection(cr: CompiledRules, A: np.ndarray, in_pos: np.ndarray, M: np.ndarray) -> None:
    proj = cr.rules.projection
    assert proj is not None
    mean = np.asarray(proj.mean, dtype=np.float64)
    weights = np.ascontiguousarray(
        np.asarray([proj.weights[j] for j in cr.projection_outputs], dtype=np.float64)
    )
    run_parallel(
        project_parallel,
        project_serial,
        A.shape[0],
        A,
        np.ascontiguousarray(in_pos, dtype=np.int64),
        mean,
        weights,
        proj.block_size,
        M,
        len(cr.direct),
        generic=(0, 5),
    )


def missing_error(missing: Sequence[str]) -> InputError:
    s = "s" if len(missing) > 1 else ""
    return InputError(f"missing column{s} {', '.join(map(repr, missing))}")


def select_frame(cr: CompiledRules, X: Any, used: Sequence[str] | None = None) -> pl.DataFrame:
    """A polars DataFrame holding the used columns (or ``used``) of a non-numpy input (read by
    name)."""
    used = list(cr.used if used is None else used)
    if isinstance(X, (str, os.PathLike)):
        X = _data.read_table(X, text_columns=tuple(cr.categories))  # CSV codes as written
    if isinstance(X, pl.LazyFrame):
        names = X.collect_schema().names()
        if all(n in names for n in used):
            return X.select(used).collect()
        X = X.collect()
    if isinstance(X, pl.DataFrame):
        missing = [n for n in used if n not in X.columns]
        if missing and _data.has_lists(X):
            X = _data.expand_lists(X, used)
            missing = [n for n in used if n not in X.columns]
        if missing:
            raise missing_error(missing)
        return X  # read by name below: no projected copy (a per-call cost on small batches)
    if is_pandas(X) and hasattr(X, "columns"):
        cols = set(X.columns)
        missing = [n for n in used if n not in cols]
        if missing:
            return select_frame(cr, _data.to_polars(X, used=used), used)  # embeddings expand
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
                [column_series(sub[n].to_numpy(), n, cr.kinds[n]) for n in used], strict=False
            )
    if is_arrow(X) and hasattr(X, "schema") and hasattr(X, "select"):
        names = X.schema.names
        missing = [n for n in used if n not in names]
        if missing:
            return select_frame(cr, _data.to_polars(X, used=used))
        df = pl.from_arrow(X.select(used))
        return df if isinstance(df, pl.DataFrame) else df.to_frame()
    if isinstance(X, Mapping):
        missing = [n for n in used if n not in X]
        if missing:
            return select_frame(cr, _data.to_polars(X, used=used), used)
        return columns_frame(cr, {n: X[n] for n in used})
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
                raise missing_error(missing)
            return columns_frame(cr, cols)
        if len(X) == 0:  # no rows: as an empty array of the schema's width
            return numpy_frame(cr, np.empty((0, cr.n_features)))
        arr = np.asarray(X)
        if arr.dtype.kind in "USO":
            arr = np.array(X, dtype=object)
        return numpy_frame(cr, arr)
    raise InputError(
        f"cannot read features from {type(X).__name__}: pass a 2-D array, a data frame, an Arrow "
        "table, a mapping of column name to values, a list of dicts or a file path"
    )


def columns_frame(cr: CompiledRules, cols: Mapping[str, Any]) -> pl.DataFrame:
    series = [column_series(v, n, cr.kinds[n]) for n, v in cols.items()]
    lens = {s.len() for s in series}
    if len(lens) > 1:
        n0 = series[0].len()
        bad = next(s for s in series if s.len() != n0)
        raise InputError(f"column {bad.name!r} has {bad.len()} rows, expected {n0}")
    return pl.DataFrame(series)


def check_array(cr: CompiledRules, X: np.ndarray) -> None:
    if X.ndim != 2:
        raise InputError(f"expected a 2-D array of rows x features, got shape {X.shape}")
    if X.shape[1] != cr.n_features:
        raise InputError(
            f"array has {X.shape[1]} columns but the rule set has {cr.n_features} features "
            f"({', '.join(cr.feature_names[:8])}{', ...' if cr.n_features > 8 else ''}); "
            "pass the columns in schema order"
        )


def numpy_frame(cr: CompiledRules, X: np.ndarray) -> pl.DataFrame:
    check_array(cr, X)
    pos = {n: i for i, n in enumerate(cr.feature_names)}
    return columns_frame(cr, {n: X[:, pos[n]] for n in cr.used})


def categorical_floats(cr: CompiledRules, df: pl.DataFrame, names: Sequence[str]) -> pl.DataFrame:
    """Float columns of categorical features as strings (all-missing float columns are valid
    categoricals in the reference; other floats are refused by name)."""
    for name in names:
        s = df.get_column(name)
        if cr.kinds[name] == _data.CATEGORICAL and s.dtype.is_float():
            df = df.with_columns(column_series(s.to_numpy(), name, _data.CATEGORICAL))
    return df


def from_frame(cr: CompiledRules, df: pl.DataFrame) -> np.ndarray:
    n = df.height
    df = categorical_floats(cr, df, cr.direct)
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
        fill_projection(cr, inputs.values, np.arange(len(proj.inputs)), M)
    return M


def prepare(cr: CompiledRules, X: Any) -> tuple[np.ndarray, bool]:
    """The matrix the kernel reads, and whether it is the raw input (schema column order)."""
    if isinstance(X, np.ndarray):
        check_array(cr, X)
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
                fill_projection(cr, A, in_pos, M)
            return M, False
        return from_frame(cr, numpy_frame(cr, X)), False
    if isinstance(X, pl.LazyFrame):
        names = X.collect_schema().names()
        X = X.select(list(cr.used)).collect() if all(n in names for n in cr.used) else X.collect()
    M = frame_matrix(cr, X)
    if M is not None:
        return M, False
    return from_frame(cr, select_frame(cr, X)), False


_FLOAT32_EXACT = frozenset("f2 f4 b1 i1 u1 i2 u2".split())


def _frame_names(X: Any) -> list[str] | None:
    """Column names of a pandas / polars / pyarrow frame (None for other inputs, or repeated
    names, which the general path refuses by name)."""
    if isinstance(X, pl.DataFrame):
        return X.columns
    if is_pandas(X) and hasattr(X, "columns") and hasattr(X, "iloc"):
        names = list(X.columns)
    elif is_arrow(X) and hasattr(X, "schema") and hasattr(X, "column"):
        names = list(X.schema.names)
    elif isinstance(X, Mapping) and X and all(isinstance(v, np.ndarray) for v in X.values()):
        if len({v.shape[0] if v.ndim else -1 for v in X.values()}) != 1:
            return None  # lengths differ: the general path names the column
        names = list(X)
    else:
        return None
    return names if len(set(names)) == len(names) else None


def frame_matrix(cr: CompiledRules, X: Any) -> np.ndarray | None:
    """The evaluation matrix read straight from the used columns of a pandas / polars / pyarrow
    frame (see ``rulecascade.data.columns``): one pass per column, category tables mapped once;
    None when the input is of another type or a used column is absent (embedding lists)."""
    names = _frame_names(X)
    if names is None:
        return None
    proj = cr.rules.projection if cr.projection_outputs else None
    needed = list(cr.direct) + [n for n in (proj.inputs if proj else ()) if n not in cr.direct]
    present = set(names)
    if any(n not in present for n in needed):
        return None
    values: dict[str, Any] = {}
    slow = []
    for name in needed:
        cats = cr.categories.get(name) if name in cr.direct else None
        code_of = {v: i for i, v in enumerate(cats)} if cats is not None else None
        kind = cr.kinds[name] if cats is not None else _data.NUMERIC
        v = column_values(X, name, kind, code_of)
        if v is None:
            slow.append(name)
        else:
            values[name] = v
    if slow:  # columns without a fast reading: the general conversion, for those alone
        df = categorical_floats(cr, select_frame(cr, X, slow), [n for n in slow if n in cr.direct])
        kinds = {n: cr.kinds[n] if n in cr.direct else _data.NUMERIC for n in slow}
        enc = _data.encode(df, slow, kinds, cr.categories).values
        values.update({n: enc[:, j] for j, n in enumerate(slow)})
    n = _data.count_rows(X)
    parts = {k: v if isinstance(v, list) else [v] for k, v in values.items()}
    narrow = (
        proj is None
        and all(  # exact in float32: the same comparisons, half the bytes
            p.dtype.str[1:] in _FLOAT32_EXACT
            if name not in cr.categories
            else len(cr.categories[name]) <= 1 << 24
            for name in cr.direct
            for p in parts[name]
        )
    )
    M = np.empty((n, len(cr.columns)), dtype=np.float32 if narrow else np.float64, order="F")
    for k, name in enumerate(cr.direct):
        _fill(M[:, k], parts[name])
    if proj is not None:
        A = np.empty((n, len(proj.inputs)), dtype=np.float64, order="F")
        for k, name in enumerate(proj.inputs):
            _fill(A[:, k], parts[name])
        fill_projection(cr, A, np.arange(len(proj.inputs)), M)
    return M


def _fill(dest: np.ndarray, chunks: Sequence[np.ndarray]) -> None:
    """Copy a column's chunks (in order) into ``dest``."""
    if len(chunks) == 1:
        dest[:] = chunks[0]
        return
    start = 0
    for c in chunks:
        dest[start : start + c.shape[0]] = c
        start += c.shape[0]
