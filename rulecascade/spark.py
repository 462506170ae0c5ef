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
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from rules_export.model import RuleSet, check_output_columns

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
    if columns is not None:
        columns = _check_columns(df.columns, columns)
    label_type = _label_arrow_type(rules)
    schema = _output_schema(df.schema, rule_id_column, label_column, label_type)
    answer = _BatchAnswer(cascade, rule_id_column, label_column, batch_format, label_type, columns)
    return df.mapInArrow(answer, schema)


class _BatchAnswer:
    """The function each executor runs: Arrow record batches in, the same rows plus the two
    answer columns out. Picklable; the rules compile once per executor process."""

    def __init__(
        self,
        cascade: Cascade | RuleSet,
        rule_id_column: str,
        label_column: str,
        batch_format: str,
        label_type: str,
        columns: list[str] | None,
    ) -> None:
        self.cascade = cascade
        self.columns = columns
        self.rule_id_column = rule_id_column
        self.label_column = label_column
        self.batch_format = batch_format
        self.label_type = label_type

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        if isinstance(self.cascade, Cascade):
            answer = self._cascade_answer
        else:
            from .evaluate import compile_rules, evaluate

            compiled = compile_rules(self.cascade)
            labels = [r.label for r in self.cascade.rules]

            def answer(table: Any) -> tuple[np.ndarray, list[Any]]:
                idx, _ = evaluate(compiled, table)
                return idx, [None if k < 0 else labels[k] for k in idx.tolist()]

        for batch in batches:
            table = pa.Table.from_batches([batch], schema=batch.schema)
            if self.columns is not None:
                table = table.select(self.columns)
            idx, pred = answer(table)
            yield batch.append_column(
                self.rule_id_column, pa.array(np.asarray(idx, dtype=np.int64), pa.int64())
            ).append_column(self.label_column, _label_array(pred, self.label_type))

    def _cascade_answer(self, table: Any) -> tuple[np.ndarray, list[Any]]:
        if self.batch_format == "pandas":
            X: Any = table.to_pandas()
        elif self.batch_format == "polars":
            import polars as pl

            X = pl.from_arrow(table)
        else:
            X = table
        pred, idx = self.cascade.predict(X, return_rule=True)  # type: ignore[union-attr]
        return idx, list(pred.tolist())


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
    return "string"


def _label_array(values: list[Any], label_type: str) -> Any:
    import pyarrow as pa

    if label_type == "string":
        values = [None if v is None else str(v) for v in values]
        return pa.array(values, pa.string())
    target = pa.bool_() if label_type == "bool" else pa.int64()
    try:
        return pa.array(values, target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
        bad = next((v for v in values if v is not None and not _fits(v, label_type)), None)
        raise ValueError(
            f"an answer {bad!r} is not a {label_type} like the rule set's classes "
            f"(Cascade(validate_labels=False) let it through): {e}"
        ) from None


def _fits(v: Any, label_type: str) -> bool:
    if label_type == "bool":
        return isinstance(v, (bool, np.bool_))
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


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
