"""Spark SQL (pyspark, local[2]) gives the reference's rule index on every row.

Same random rule sets and hostile data as test_export_agreement.py, on DOUBLE and FLOAT columns.
Slow (a JVM starts), so few examples; runs in CI.
"""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings

try:
    from test_export_cases import (
        SUPPRESSED,
        Case,
        cases,
        explain,
        reference_ids,
        reference_labels,
        same_labels,
        statistics_trap_cases,
        write_parquet,
    )
except ImportError:  # tests/ imported as a package
    from tests.export.test_export_cases import (  # type: ignore[no-redef]
        SUPPRESSED,
        Case,
        cases,
        explain,
        reference_ids,
        reference_labels,
        same_labels,
        statistics_trap_cases,
        write_parquet,
    )

import rules_export as rx
from rules_export.sql import to_sql

pytestmark = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]
_names = (f"spark_t_{i}" for i in itertools.count())


def spark_results(spark, case: Case, float32: bool = False) -> tuple[list, list]:
    from pyspark.sql import types as T

    fields = [T.StructField("__row", T.LongType(), False)]
    for n in case.columns:
        kind = case.kinds[n]
        if kind == "double":
            t = T.FloatType() if float32 else T.DoubleType()
        elif kind == "int":
            t = T.LongType()
        else:
            t = T.StringType()
        fields.append(T.StructField(n, t, True))
    rows = [(i, *[case.columns[n][i] for n in case.columns]) for i in range(case.n_rows)]
    table = next(_names)
    spark.createDataFrame(rows, T.StructType(fields)).createOrReplaceTempView(table)
    try:
        sql = to_sql(case.rules, "spark", table=table)
        out = spark.sql(
            f"SELECT `__row`, `rule_id`, `prediction` FROM ({sql}) AS q ORDER BY `__row`"
        ).collect()
    finally:
        spark.catalog.dropTempView(table)
    return [r[1] for r in out], [r[2] for r in out]


def spark_file_results(spark, case: Case, path, float32: bool = False, row_group: int = 0):
    """Rule ids and labels with Spark reading a parquet file directly."""
    write_parquet(case, path, float32, row_group)
    table = next(_names)
    spark.read.parquet(str(path)).createOrReplaceTempView(table)
    try:
        sql = to_sql(case.rules, "spark", table=table)
        out = spark.sql(
            f"SELECT `__row`, `rule_id`, `prediction` FROM ({sql}) AS q ORDER BY `__row`"
        ).collect()
    finally:
        spark.catalog.dropTempView(table)
    return [r[1] for r in out], [r[2] for r in out]


def check(case: Case, engine: str, ids: list[int], labels: list) -> None:
    want = reference_ids(case)
    assert ids == want, f"{engine} disagrees with the reference:\n{explain(case, ids, want)}"
    assert same_labels(labels, reference_labels(case)), f"{engine} labels: {labels}"


@settings(max_examples=8, deadline=None, suppress_health_check=SUPPRESSED)
@given(case=cases(max_rows=25))
def test_spark_double_and_float_columns_agree(spark, case: Case) -> None:
    ids, labels = spark_results(spark, case)
    check(case, "Spark DOUBLE", ids, labels)
    c32 = case.float32()
    ids, labels = spark_results(spark, c32, float32=True)
    check(c32, "Spark FLOAT", ids, labels)


@settings(max_examples=6, deadline=None, suppress_health_check=SUPPRESSED)
@given(case=cases(max_rows=25))
def test_spark_on_parquet_files_agrees(spark, tmp_path_factory, case: Case) -> None:
    d = tmp_path_factory.mktemp("spark_parquet", numbered=True)
    ids, labels = spark_file_results(spark, case, d / "double.parquet")
    check(case, "Spark on a parquet file (DOUBLE)", ids, labels)
    c32 = case.float32()
    ids, labels = spark_file_results(spark, c32, d / "float.parquet", float32=True, row_group=3)
    check(c32, "Spark on a parquet file (FLOAT)", ids, labels)


def test_spark_parquet_statistics_do_not_let_nan_match(spark, tmp_path) -> None:
    """The files whose min/max statistics (NaN left out) fooled DuckDB: Spark uses them only
    to skip row groups for filters, and agrees with the reference on every row."""
    for k, case in enumerate(statistics_trap_cases()):
        want = reference_ids(case)
        for float32 in (False, True):
            got = spark_file_results(spark, case, tmp_path / f"trap_{k}_{float32}.parquet", float32)
            assert got[0] == want, (k, float32)


def test_spark_nan_guard_and_threshold_neighbours(spark) -> None:
    t = 0.1
    rules = rx.RuleSet(
        rx.make_features(["x y", "c"], ["c"]),
        ("a", "b"),
        (
            rx.Rule((rx.Interval("x y", t, None),), "a"),
            rx.Rule((rx.InSet("c", ("it's", "\\")),), "b"),
        ),
    )
    xs = [math.nan, math.inf, -math.inf, None, t, math.nextafter(t, 1), math.nextafter(t, 0)]
    cs = ["it's", "\\", None, "x", "it's", None, "\\"]
    case = Case(rules, {"x y": xs, "c": cs}, {"x y": "double", "c": "text"}, len(xs))
    want = [1, 0, -1, -1, 1, 0, 1]
    assert reference_ids(case) == want
    ids, labels = spark_results(spark, case)
    assert ids == want
    c32 = case.float32()  # float32(0.1) > 0.1: row 4 now matches rule 0
    ids32, _ = spark_results(spark, c32, float32=True)
    assert ids32 == reference_ids(c32)
    assert ids32[4] == 0


@pytest.mark.parametrize("sum_block, want", [(None, 0), (2, -1)])
def test_spark_sums_a_projection_in_its_blocks(spark, sum_block, want) -> None:
    names = ("a", "b", "c", "d")
    proj = rx.Projection(names, ("z",), (0.0,) * 4, ((1.0,) * 4,), sum_block=sum_block)
    rules = rx.RuleSet(
        rx.make_features(names), ("y",), (rx.Rule((rx.Interval("z", 0.5, None),), "y"),), proj
    )
    cols = {"a": [1e16], "b": [1.0], "c": [-1e16], "d": [1.0]}  # order decides: 1 or 0
    case = Case(rules, cols, dict.fromkeys(names, "double"), 1)
    assert reference_ids(case) == [want]
    assert spark_results(spark, case)[0] == [want]


def test_spark_runs_a_1030_input_projection_summed_in_blocks(spark) -> None:
    """Spark's parser overflows its stack on a 1,030-term left-to-right sum; in blocks of 256
    it runs and agrees with the reference on every row."""
    import random

    rng = random.Random(7)
    names = tuple(f"e{i}" for i in range(1030))
    proj = rx.Projection(
        names,
        ("z",),
        tuple(rng.gauss(0, 1) for _ in names),
        (tuple(rng.gauss(0, 1) for _ in names),),
        sum_block=256,
    )
    rules = rx.RuleSet(
        rx.make_features(names),
        ("lo", "hi"),
        (
            rx.Rule((rx.Interval("z", None, 0.0),), "lo"),
            rx.Rule((rx.Interval("z", 0.0, None),), "hi"),
        ),
        proj,
    )
    cols = {n: [rng.gauss(0, 1) for _ in range(20)] for n in names}
    case = Case(rules, cols, dict.fromkeys(names, "double"), 20)
    want = reference_ids(case)
    assert set(want) == {0, 1}
    ids, labels = spark_results(spark, case)
    check(case, "Spark DOUBLE", ids, labels)
