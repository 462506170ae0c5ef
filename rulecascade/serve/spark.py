"""Serve a rule set or a ``Cascade`` on a Spark DataFrame, on the executors, over Arrow batches.

``apply_in_spark(df, cascade)`` is a ``DataFrame.mapInArrow``. The cascade (the rule set, the
model and the representation, cloudpickled) is broadcast and each Python worker unpickles it
once and keeps it, however many tasks it runs (PySpark alone would unpickle it per task). Each task answers every Arrow
batch of its partition with the rules and calls the model once per batch on the rows no rule
covers, exactly as ``Cascade.predict`` does locally. The result is every input row, in its
partition order, with two columns added: the rule that answered it (``-1``: the model) and the
answer. With a ``RuleSet`` instead of a cascade, the rules alone answer (``NULL`` where no rule
matches), which gives what the exported Spark SQL gives, by the numba kernel.

pyspark is imported only here (``pip install rulecascade[spark]``). Batch size is Spark's
``spark.sql.execution.arrow.maxRecordsPerBatch`` (10,000 by default): one model call per batch.
A cascade's counters stay on the executors; per-rule counts are a ``groupBy(rule_id)`` away.
"""

from __future__ import annotations

import os
import pickle
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from rules_export.model import RuleSet, answer_kind, check_output_columns, label_value

from ..data import is_missing, list_feature_index
from .cascade import Cascade, as_callable, callable_name, class_array

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
    ``batch_format``: how the model (and a representation) receives rows: a pandas DataFrame
    (default, what scikit-learn pipelines expect), a pyarrow Table or a polars DataFrame; the
    rules read the Arrow batch itself. ``columns``: the columns the cascade receives, in this
    order (default: all of ``df``'s; name the features when ``df`` also holds ids or labels,
    which every output row keeps anyway). The answer column holds the classes' type (boolean,
    long) or their text. Errors on the executors (a model that raises, a value the rules cannot
    read) surface as Spark's exception when the result is computed.
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
    names = list(df.columns)
    if not names:
        raise ValueError("the DataFrame has no columns: there is nothing to answer rows from")
    _check_unique(names)
    # Spark resolves names case-insensitively by default: "RULE_ID" and "rule_id" clash
    check_output_columns(
        names,
        rule_id_column,
        label_column,
        of="column",
        because="Spark matches names regardless of case",
    )
    if columns is not None:
        columns = _check_columns(names, columns)
    if not (isinstance(cascade, Cascade) and cascade.representation is not None):
        _check_features(rules, df.schema, names if columns is None else columns)
    label_type = _label_type(rules)
    # mapInArrow cannot resolve names holding "." or "`": the job runs on positional names
    # (_rc0, _rc1, ...; the answers too), the tasks restore the real ones, the result gets them
    safe = [f"_rc{i}" for i in range(len(names) + 2)]
    positional = df.toDF(*safe[:-2])
    schema = _output_schema(positional.schema, safe[-2], safe[-1], label_type)
    answer = _BatchAnswer(_shipped(df, cascade), names, batch_format, label_type, columns)
    return positional.mapInArrow(answer, schema).toDF(*names, rule_id_column, label_column)


#: per Python worker process: shipment key -> the cascade, unpickled once (PySpark would read
#: a broadcast's value again in every task); the few most recent (chained cascades in one job)
_RECEIVED: OrderedDict[str, Any] = OrderedDict()
_KEEP = 4


class _Shipment:
    """A cascade broadcast to the executors (cloudpickled, so lambdas and local classes travel),
    with a key that names it in each worker's cache."""

    def __init__(self, broadcast: Any) -> None:
        self.broadcast = broadcast
        self.key = uuid.uuid4().hex

    def open(self) -> Any:
        if self.key not in _RECEIVED:
            while len(_RECEIVED) >= _KEEP:
                _RECEIVED.popitem(last=False)
            _RECEIVED[self.key] = pickle.loads(self.broadcast.value)
        _RECEIVED.move_to_end(self.key)
        return _RECEIVED[self.key]


def _shipped(df: Any, cascade: Cascade | RuleSet) -> Any:
    """The cascade as a broadcast, unpickled once per Python worker and kept there (a model can
    be large) rather than once per task; itself where the session has no SparkContext (Spark
    Connect), so that it travels with the tasks."""
    try:
        context = df.sparkSession.sparkContext
    except Exception:  # noqa: BLE001 - Spark Connect raises here
        return cascade
    from pyspark import cloudpickle

    return _Shipment(context.broadcast(cloudpickle.dumps(cascade)))


class _BatchAnswer:
    """The function each task runs: Arrow record batches in, the same rows plus the rule index
    and the answer out. ``cascade``: the cascade or rule set, or a broadcast of it."""

    def __init__(
        self,
        cascade: Any,
        names: list[str],
        batch_format: str,
        label_type: str,
        columns: list[str] | None,
    ) -> None:
        self.cascade = cascade
        self.names = names
        self.batch_format = batch_format
        self.label_type = label_type
        self.columns = columns

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        shipped = self.cascade
        cascade = shipped.open() if isinstance(shipped, _Shipment) else shipped
        answer = (
            self._cascade_answer(cascade)
            if isinstance(cascade, Cascade)
            else self._rules_answer(cascade)
        )
        n = len(self.names)
        for batch in batches:
            table = pa.Table.from_batches([batch]).rename_columns(self.names)
            if self.columns is not None:
                table = table.select(self.columns)
            idx, pred, missing = answer(table)
            yield batch.append_column(
                f"_rc{n}", pa.array(np.asarray(idx, dtype=np.int64), pa.int64())
            ).append_column(f"_rc{n + 1}", _label_array(pred, missing, self.label_type))

    def _rules_answer(self, rules: RuleSet) -> Callable[[Any], tuple]:
        from .compile import compile_rules
        from .evaluate import evaluate

        compiled = compile_rules(rules)
        # a last entry for "no rule", masked out
        labels = class_array([r.label for r in rules.rules] + [rules.classes[0]])

        def answer(table: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            idx, _ = evaluate(compiled, table)
            return idx, labels[idx], idx < 0

        return answer

    def _cascade_answer(self, cascade: Cascade) -> Callable[[Any], tuple]:
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

        def answer(table: Any) -> tuple[np.ndarray, Any, None]:
            pred, idx = cascade.predict(convert(table), return_rule=True)
            return idx, pred, None

        return answer


class _Converted:
    """A model called with its rows converted from Arrow; errors name the model itself."""

    def __init__(self, model: Any, convert: Callable[[Any], Any]) -> None:
        self.model, self.convert = model, convert
        self.fn = as_callable(model, "model")

    def __call__(self, rows: Any) -> Any:
        return self.fn(self.convert(rows))

    def __repr__(self) -> str:
        return callable_name(self.model)


def _arrow(table: Any) -> Any:
    return table


def _polars(table: Any) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def _to_pandas(table: Any) -> Any:
    """A pandas frame of an Arrow table; integer columns with nulls become pandas' nullable
    integers, not float64 (which would turn the integer 1 into 1.0, and break categories)."""
    import pandas as pd
    import pyarrow as pa

    frame = table.to_pandas()
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_integer(col.type) and col.null_count:
            nullable = pd.api.types.pandas_dtype(_NULLABLE_INTS[str(col.type)])
            frame[name] = col.to_pandas(types_mapper={col.type: nullable}.get)
    return frame


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "arrow": _arrow,
    "pandas": _to_pandas,
    "polars": _polars,
}
_NULLABLE_INTS = {f"{u}int{b}": f"{u.upper()}Int{b}" for u in ("", "u") for b in (8, 16, 32, 64)}


# --- checks before the job ------------------------------------------------------------------------
def _check_unique(names: list[str]) -> None:
    seen: dict[str, str] = {}
    for n in names:
        if n.casefold() in seen:
            raise ValueError(
                f"the DataFrame has two columns named {seen[n.casefold()]!r} and {n!r} (after a "
                "join?); Spark cannot tell them apart: select or rename one"
            )
        seen[n.casefold()] = n


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


def _check_features(rules: RuleSet, schema: Any, names: Sequence[str]) -> None:
    """Every feature the rules read comes from a column they will receive: the column of that
    name, or an array column it is an element of (``emb_3`` of ``emb``)."""
    from pyspark.sql import types as T

    arrays = [c for c in names if isinstance(schema[c].dataType, T.ArrayType)]
    missing = [
        f
        for f in rules.used_features
        if f not in names and not any(list_feature_index(f, c) is not None for c in arrays)
    ]
    if missing:
        raise ValueError(
            f"the rules read {', '.join(map(repr, missing[:10]))}"
            f"{' ...' if len(missing) > 10 else ''}, which the columns given do not hold"
        )


# --- the answer column ----------------------------------------------------------------------------
def _label_type(rules: RuleSet) -> str:
    """``bool`` or ``int64`` when the classes are of that type, else ``string`` (their text;
    Spark has no unsigned or wider integers)."""
    kind = answer_kind(rules.classes)
    return kind if kind in ("bool", "int64") else "string"


def _label_array(values: Any, missing: np.ndarray | None, label_type: str) -> Any:
    """The answers as an Arrow array of the column's type; a missing answer (None, NaN, NA, or
    ``missing``) is NULL, and one the type cannot hold exactly is an error naming it."""
    import pyarrow as pa

    arrow_type = {"string": pa.string(), "bool": pa.bool_(), "int64": pa.int64()}[label_type]
    arr = values if isinstance(values, np.ndarray) else None
    if arr is not None and arr.dtype.kind == {"string": "U", "bool": "b", "int64": "i"}[label_type]:
        return pa.array(arr, arrow_type, mask=missing)  # the classes' own type: no checks due
    out: list[Any] = []
    for k, v in enumerate(values.tolist() if arr is not None else values):
        if (missing is not None and missing[k]) or is_missing(v):
            out.append(None)
        elif label_type == "string":  # a class's own text (the model's 1.0 is the class 1)
            out.append(v if isinstance(v, str) else str(label_value(v)))
        elif label_type == "bool" and isinstance(v, bool):
            out.append(v)
        elif label_type == "int64" and _is_whole(v) and -(2**63) <= int(v) < 2**63:
            out.append(int(v))
        else:
            raise ValueError(
                f"the answer {v!r} is not a {label_type} like the rule set's classes, which "
                "the answer column holds (Cascade(validate_labels=False) let it through)"
            )
    return pa.array(out, arrow_type)


def _is_whole(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


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
