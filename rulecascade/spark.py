"""Serve a rule set or a ``Cascade`` on a Spark DataFrame, on the executors, over Arrow batches.

``apply_in_spark(df, cascade)`` is a ``DataFrame.mapInArrow``: each executor receives the
cascade (pickled: the rule set, the model and the representation, which must pickle), answers
each Arrow batch of its partitions with the rules and calls the model once per batch on the rows
no rule covers, exactly as ``Cascade.predict`` does locally. The result is every input row, in
its partition order, with two columns added: the rule that answered it (``-1``: the model) and
the answer. With a ``RuleSet`` instead of a cascade, the rules alone answer (``NULL`` where no
rule matches), which gives what the exported Spark SQL gives, by the numba kernel.

pyspark is imported only here (``pip install rulecascade[spark]``). Batch size is Spark's
``spark.sql.execution.arrow.maxRecordsPerBatch`` (10,000 by default): one model call per batch.
A cascade's counters stay on the executors; per-rule counts are a ``groupBy(rule_id)`` away.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from rules_export.model import RuleSet, check_label_texts, check_output_columns

from .runtime import Cascade

__all__ = ["apply_in_spark"]

BatchFormat = Literal["arrow", "pandas", "polars"]
_FORMATS = ("arrow", "pandas", "polars")


def apply_in_spark(
    df: Any,
    cascade: Cascade | RuleSet | str | os.PathLike[str],
    *,
    rule_id_column: str = "rule_id",
    label_column: str = "prediction",
    batch_format: BatchFormat = "pandas",
    columns: Sequence[str] | None = None,
) -> Any:
    """``df`` with the rule index (``rule_id_column``, -1 where the model answered or, for a
    rule set alone, where no rule matched) and the answer (``label_column``) of every row.

    ``cascade``: a ``Cascade`` (rules, then its model on the uncovered rows of each batch), or a
    ``RuleSet`` / rule-file path (rules only; the answer is NULL where no rule matches).
    ``batch_format``: what the cascade (and so its model and representation) receives per
    batch: a pandas DataFrame (default, what scikit-learn pipelines expect), a pyarrow Table
    or a polars DataFrame. ``columns``: the columns it receives, in this order (default: all of
    ``df``'s; name the features when ``df`` also holds ids or labels, which every output row
    keeps anyway). Errors on the executors (a model that raises, a column the rules
    need that is missing) surface as Spark's exception when the result is computed.
    """
    try:
        from pyspark.sql import DataFrame
    except ImportError:  # pragma: no cover - the extra is not installed
        raise ImportError(
            "apply_in_spark needs pyspark: pip install 'rulecascade[spark]'"
        ) from None
    if not isinstance(df, DataFrame):
        raise TypeError(f"df must be a pyspark.sql.DataFrame, got {type(df).__name__}")
    if batch_format not in _FORMATS:
        raise ValueError(f"batch_format must be one of {', '.join(_FORMATS)}, got {batch_format!r}")
    if isinstance(cascade, (str, os.PathLike)):
        cascade = RuleSet.load(cascade)
    if not isinstance(cascade, (Cascade, RuleSet)):
        raise TypeError(
            f"cascade must be a Cascade, a RuleSet or a rule-file path, got {type(cascade).__name__}"
        )
    rules = cascade.rules if isinstance(cascade, Cascade) else cascade
    # Spark resolves names case-insensitively by default: "RULE_ID" and "rule_id" clash
    check_output_columns(df.columns, rule_id_column, label_column, of="column", engines="Spark")
    names = list(df.columns)
    if columns is not None:
        columns = _check_columns(names, columns)
    if not (isinstance(cascade, Cascade) and cascade.representation is not None):
        _check_features(rules, names if columns is None else columns)
    label_type = _label_arrow_type(rules)
    # mapInArrow cannot resolve names holding "." or "`": the executors see positional names
    # and restore the real ones; the result gets them back
    safe = [f"_rc{i}" for i in range(len(names))]
    schema = _output_schema(df.toDF(*safe).schema, rule_id_column, label_column, label_type)
    answer = _BatchAnswer(
        cascade, names, rule_id_column, label_column, batch_format, label_type, columns
    )
    return df.toDF(*safe).mapInArrow(answer, schema).toDF(*names, rule_id_column, label_column)


class _BatchAnswer:
    """The function each executor runs: Arrow record batches in, the same rows plus the two
    answer columns out. Picklable; the rules compile once per executor process."""

    def __init__(
        self,
        cascade: Cascade | RuleSet,
        names: list[str],
        rule_id_column: str,
        label_column: str,
        batch_format: str,
        label_type: str,
        columns: list[str] | None,
    ) -> None:
        self.cascade = cascade
        self.names = names
        self.columns = columns
        self.rule_id_column = rule_id_column
        self.label_column = label_column
        self.batch_format = batch_format
        self.label_type = label_type

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        if isinstance(self.cascade, Cascade):
            answer = self._cascade_answer(self.cascade)
        else:
            from .evaluate import compile_rules, evaluate

            compiled = compile_rules(self.cascade)
            labels = [r.label for r in self.cascade.rules]

            def answer(table: Any) -> tuple[np.ndarray, list[Any]]:
                idx, _ = evaluate(compiled, table)
                return idx, [None if k < 0 else labels[k] for k in idx.tolist()]

        for batch in batches:
            table = pa.Table.from_batches([batch]).rename_columns(self.names)
            if self.columns is not None:
                table = table.select(self.columns)
            idx, pred = answer(table)
            yield batch.append_column(
                self.rule_id_column, pa.array(np.asarray(idx, dtype=np.int64), pa.int64())
            ).append_column(self.label_column, _label_array(pred, self.label_type))

    def _cascade_answer(self, cascade: Cascade) -> Callable[[Any], tuple[np.ndarray, list]]:
        """Without a representation the rules read the Arrow batch itself (its types intact:
        integers with nulls, all-null embedding lists) and the model gets its rows in
        ``batch_format``; with one, the representation gets the whole batch in that format."""
        convert = _CONVERT[self.batch_format]
        if cascade.representation is None and self.batch_format != "arrow":
            cascade = Cascade(
                cascade.rules,
                _Converted(cascade.model, convert),
                device=cascade.device,
                validate_labels=cascade.validate_labels,
                name=cascade.name,
            )
            convert = _CONVERT["arrow"]

        def answer(table: Any) -> tuple[np.ndarray, list[Any]]:
            pred, idx = cascade.predict(convert(table), return_rule=True)
            return idx, list(pred.tolist())

        return answer


class _Converted:
    """A model called with its rows converted from Arrow (named as the model in errors)."""

    def __init__(self, model: Any, convert: Callable[[Any], Any]) -> None:
        self.model, self.convert = model, convert
        self.fn = model.predict if callable(getattr(model, "predict", None)) else model
        for attr in ("__module__", "__qualname__"):  # the model's name in CascadeError
            if hasattr(model, attr) and not isinstance(model, Cascade):
                setattr(self, attr, getattr(model, attr))

    def __call__(self, rows: Any) -> Any:
        return self.fn(self.convert(rows))

    def __repr__(self) -> str:
        return repr(self.model)


def _polars(table: Any) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def _check_columns(have: list[str], columns: Sequence[str]) -> list[str]:
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not one string")
    out = list(columns)
    missing = [c for c in out if c not in have]
    if missing:
        raise ValueError(
            f"columns {', '.join(map(repr, missing))} not in the DataFrame "
            f"(it has {', '.join(map(repr, have[:20]))}{', ...' if len(have) > 20 else ''})"
        )
    if len(set(out)) != len(out):
        raise ValueError("columns names a column twice")
    return out


def _label_arrow_type(rules: RuleSet) -> str:
    """The answer column's type: the classes' own when they share one, else their text."""
    kinds = {
        "bool" if isinstance(c, bool) else "int" if isinstance(c, int) else "str"
        for c in rules.classes
    }
    if kinds == {"bool"}:
        return "bool"
    if kinds == {"int"} and all(-(2**63) <= c < 2**63 for c in rules.classes):
        return "int64"
    check_label_texts(rules.classes)
    return "string"


def _label_array(values: list[Any], label_type: str) -> Any:
    """The answers as an Arrow array of the column's type; a missing answer (None, NaN, NA)
    is NULL, and one the type cannot hold exactly is an error naming it."""
    import pyarrow as pa

    out: list[Any] = []
    for v in values:
        if _missing(v):
            out.append(None)
        elif label_type == "string":
            out.append(v if isinstance(v, str) else str(v))
        elif label_type == "bool" and isinstance(v, (bool, np.bool_)):
            out.append(bool(v))
        elif label_type == "int64" and _whole(v):
            out.append(int(v))
        else:
            raise ValueError(
                f"the answer {v!r} is not a {label_type} like the rule set's classes, which "
                "the answer column holds (Cascade(validate_labels=False) let it through)"
            )
    arrow_type = {"string": pa.string(), "bool": pa.bool_(), "int64": pa.int64()}[label_type]
    try:
        return pa.array(out, arrow_type)
    except OverflowError:
        bad = next(v for v in out if v is not None and not -(2**63) <= v < 2**63)
        raise ValueError(f"the answer {bad!r} does not fit a 64-bit integer") from None


def _missing(v: Any) -> bool:
    if v is None or (isinstance(v, (float, np.floating)) and v != v):
        return True
    return type(v).__name__ in ("NAType", "NaTType")  # pandas.NA, pandas.NaT


def _whole(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    return isinstance(v, (float, np.floating)) and float(v).is_integer()


def _arrow(table: Any) -> Any:
    return table


def _to_pandas(table: Any) -> Any:
    """A pandas frame of an Arrow table; integer columns with nulls become pandas' nullable
    integers, not float64 (which would turn the integer 1 into 1.0, and break categories)."""
    import pyarrow as pa

    frame = table.to_pandas()
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_integer(col.type) and col.null_count:
            frame[name] = col.to_pandas(integer_object_nulls=False, types_mapper=_nullable_int)
    return frame


def _nullable_int(arrow_type: Any) -> Any:
    import pandas as pd

    return pd.api.types.pandas_dtype(_NULLABLE_INTS[str(arrow_type)])


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "arrow": _arrow,
    "pandas": _to_pandas,
    "polars": _polars,
}
_NULLABLE_INTS = {f"{u}int{b}": f"{u.upper()}Int{b}" for u in ("", "u") for b in (8, 16, 32, 64)}


def _check_features(rules: RuleSet, names: Sequence[str]) -> None:
    """Every feature the rules read comes from a column they will receive (an embedding
    element ``emb_3`` from a list column ``emb``), or the job would fail on the executors."""
    from .data import list_feature_index

    missing = [
        f
        for f in rules.used_features
        if f not in names and not any(list_feature_index(f, c) is not None for c in names)
    ]
    if missing:
        raise ValueError(
            f"the rules read {', '.join(map(repr, missing[:10]))}"
            f"{' ...' if len(missing) > 10 else ''}, which the columns given do not hold"
        )


def _output_schema(schema: Any, rule_id_column: str, label_column: str, label_type: str) -> Any:
    from pyspark.sql import types as T

    spark_type = {"bool": T.BooleanType(), "int64": T.LongType(), "string": T.StringType()}
    return T.StructType(
        [
            *schema.fields,
            T.StructField(rule_id_column, T.LongType(), nullable=False),
            T.StructField(label_column, spark_type[label_type], nullable=True),
        ]
    )
