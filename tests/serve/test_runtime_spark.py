"""A Cascade (or a rule set alone) served on a Spark DataFrame by ``apply_in_spark``:
every row answered as the local Cascade answers it, the rules alone as the exported Spark SQL."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import polars as pl
import pytest

import rules_export as rx
from rulecascade import Cascade, RuleLearner
from rulecascade.datasets import load
from rulecascade.serve import match

pytestmark = [
    pytest.mark.slow,
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="module")
def phishing():
    """Rules and a logistic regression fitted on river's phishing data (1,250 rows)."""
    from sklearn.linear_model import LogisticRegression

    ds = load("phishing")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = RuleLearner(max_error=0.1, random_state=0).fit(ds.X, ds.y)
    assert len(learner.rules_) > 0
    model = LogisticRegression(max_iter=1000).fit(ds.X.to_pandas(), ds.y)
    return ds.X, learner.rules_, model


def _frame(spark, X):
    return spark.createDataFrame(X.with_row_index("row_id").cast({"row_id": pl.Int64}).to_pandas())


@pytest.mark.parametrize("batch_format", ["pandas", "arrow", "polars"])
def test_cascade_on_spark_answers_every_row_like_the_local_cascade(
    spark, phishing, batch_format
) -> None:
    from rulecascade.serve.spark import apply_in_spark

    X, rules, model = phishing

    def uncovered_only(rows):  # runs on the executors: a covered row reaching it is a bug
        assert (match(rules, rows) < 0).all()
        frame = rows if batch_format == "pandas" else rows.to_pandas()
        return model.predict(frame)

    cascade = Cascade(rules, uncovered_only)
    out = apply_in_spark(
        _frame(spark, X).repartition(3), cascade, columns=X.columns, batch_format=batch_format
    )
    assert out.columns == ["row_id", *X.columns, "rule_id", "prediction"]
    got = out.orderBy("row_id").toPandas()
    pred, idx = Cascade(rules, model).predict(X.to_pandas(), return_rule=True)
    assert got["row_id"].tolist() == list(range(X.height))  # every row, once
    np.testing.assert_array_equal(got["rule_id"].to_numpy(), idx)
    np.testing.assert_array_equal(got["prediction"].to_numpy(), pred)
    assert 0 < np.mean(idx >= 0) < 1  # both the rules and the model answered rows


def test_rules_alone_on_spark_equal_the_exported_spark_sql(spark, phishing) -> None:
    from rulecascade.serve.spark import apply_in_spark

    X, rules, _ = phishing
    sdf = _frame(spark, X)
    got = apply_in_spark(sdf, rules, columns=X.columns).orderBy("row_id").toPandas()
    sdf.createOrReplaceTempView("phishing_rows")
    sql = rx.to_sql(rules, "spark", table="phishing_rows")
    want = spark.sql(sql).orderBy("row_id").toPandas()
    np.testing.assert_array_equal(got["rule_id"].to_numpy(), want["rule_id"].to_numpy())
    assert got["prediction"].isna().tolist() == want["prediction"].isna().tolist()
    covered = got["rule_id"].to_numpy() >= 0
    np.testing.assert_array_equal(got["prediction"][covered], want["prediction"][covered])


def test_string_classes_missing_values_and_a_rule_file_path(spark, tmp_path) -> None:
    from pyspark.sql import types as T

    from rulecascade.serve.spark import apply_in_spark

    rules = rx.RuleSet(
        rx.make_features(["x", "c"], ["c"]),
        ("it's", "no"),
        (
            rx.Rule((rx.Interval("x", 0.5, None),), "it's"),
            rx.Rule((rx.InSet("c", ("u",)),), "no"),
        ),
    )
    path = tmp_path / "rules.json"
    rules.save(path)
    schema = T.StructType([T.StructField("x", T.DoubleType()), T.StructField("c", T.StringType())])
    rows = [(1.0, None), (math.nan, "u"), (None, "v"), (math.inf, "u"), (0.5, None)]
    out = apply_in_spark(spark.createDataFrame(rows, schema), str(path)).collect()
    assert [r["rule_id"] for r in out] == [0, 1, -1, 0, -1]
    assert [r["prediction"] for r in out] == ["it's", "no", None, "it's", None]


def test_bad_arguments_are_refused_before_spark_runs(spark, phishing) -> None:
    from rulecascade.serve.spark import apply_in_spark

    X, rules, model = phishing
    sdf = _frame(spark, X)
    with pytest.raises(ValueError, match="clashes with column 'row_id'"):
        apply_in_spark(sdf, rules, rule_id_column="ROW_ID")
    with pytest.raises(ValueError, match="'nope' not in the DataFrame"):
        apply_in_spark(sdf, rules, columns=["nope"])
    with pytest.raises(ValueError, match="batch_format must be one of"):
        apply_in_spark(sdf, rules, batch_format="numpy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no columns"):
        apply_in_spark(spark.range(3).drop("id"), rules)
    with pytest.raises(TypeError, match="pyspark.sql.DataFrame"):
        apply_in_spark(X, rules)
    with pytest.raises(TypeError, match="Cascade, a RuleSet or a rule-file path"):
        apply_in_spark(sdf, model)


def test_a_failing_model_fails_the_spark_job_with_the_cascade_error(spark, phishing) -> None:
    from rulecascade.serve.spark import apply_in_spark

    X, rules, _ = phishing

    def broken(rows):
        raise RuntimeError("model server down")

    out = apply_in_spark(_frame(spark, X), Cascade(rules, broken), columns=X.columns)
    with pytest.raises(Exception, match="model server down") as e:
        out.collect()
    assert "CascadeError" in str(e.value)


def _one_rule(classes=(0, 1, 2), feature="x"):
    return rx.RuleSet(
        rx.make_features([feature]), classes, (rx.Rule((rx.Interval(feature, 0.5, None),), 1),)
    )


def test_answers_the_column_cannot_hold_fail_and_missing_answers_are_null(spark) -> None:
    from rulecascade.serve.spark import apply_in_spark

    df = spark.createDataFrame([(0.9,), (0.1,)], "x double")

    def answer(value):
        return Cascade(_one_rule(), lambda rows: np.full(len(rows), value), validate_labels=False)

    assert [r["prediction"] for r in apply_in_spark(df, answer(2.0)).collect()] == [1, 2]
    with pytest.raises(Exception, match="the answer 2.5 is not a int64"):
        apply_in_spark(df, answer(2.5)).collect()  # pyarrow would truncate it to 2
    rules = rx.RuleSet(
        rx.make_features(["x"]), ("a", "b"), (rx.Rule((rx.Interval("x", 0.5, None),), "a"),)
    )
    for missing in (None, np.nan):
        c = Cascade(rules, lambda rows, m=missing: [m] * len(rows), validate_labels=False)
        assert [r["prediction"] for r in apply_in_spark(df, c).collect()] == ["a", None]
    mixed = rx.RuleSet(
        rx.make_features(["x"]), (1, "a"), (rx.Rule((rx.Interval("x", 0.5, None),), "a"),)
    )
    c = Cascade(mixed, lambda rows: np.full(len(rows), 1.0))  # the class 1, as a float
    assert [r["prediction"] for r in apply_in_spark(df, c).collect()] == ["a", "1"]


def test_integer_categories_with_nulls_and_names_spark_cannot_resolve(spark) -> None:
    """An integer column with nulls stays integer in the pandas batch (not 1.0), and column
    names holding "." or "`" (which mapInArrow cannot resolve) work and come back as given."""
    from pyspark.sql import types as T

    from rulecascade.serve.spark import apply_in_spark

    names = ["a.b", "`q`"]
    rules = rx.RuleSet(
        rx.make_features(names, ["a.b"]),
        (0, 1),
        (rx.Rule((rx.InSet("a.b", ("1",)),), 1), rx.Rule((rx.Interval("`q`", None, 0.0),), 0)),
    )
    schema = T.StructType(
        [T.StructField("a.b", T.LongType()), T.StructField("`q`", T.DoubleType())]
    )
    df = spark.createDataFrame([(1, 5.0), (2, -1.0), (None, 5.0), (None, -3.0)], schema)
    cascade = Cascade(rules, lambda rows: np.full(len(rows), 1))
    for how in ("pandas", "arrow", "polars"):
        out = apply_in_spark(df, cascade, batch_format=how)
        assert out.columns == [*names, "rule_id", "prediction"]
        assert [r["rule_id"] for r in out.collect()] == [0, 1, -1, 1]
    alone = apply_in_spark(df, rules).collect()
    df.createOrReplaceTempView("odd_names")
    sql = spark.sql(rx.to_sql(rules, "spark", table="odd_names")).collect()
    assert [r["rule_id"] for r in alone] == [r["rule_id"] for r in sql] == [0, 1, -1, 1]


def test_embedding_arrays_batch_by_batch_and_unread_ragged_lists(spark) -> None:
    """Spark's array<double> embeddings: a batch whose embeddings are all NULL matches no rule
    (one row per batch here), and a ragged list column the rules do not read is passed over."""
    from pyspark.sql import types as T

    from rulecascade.serve.spark import apply_in_spark

    rules = rx.RuleSet(
        rx.make_features(["emb_0", "emb_1"]),
        (0, 1),
        (rx.Rule((rx.Interval("emb_1", 0.5, None),), 1),),
    )
    schema = T.StructType(
        [
            T.StructField("emb", T.ArrayType(T.DoubleType())),
            T.StructField("tags", T.ArrayType(T.StringType())),
        ]
    )
    rows = [([0.1, 0.9], ["a"]), (None, []), ([0.0, 0.2], ["b", "c"])]
    df = spark.createDataFrame(rows, schema).coalesce(1)
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key)
    try:
        for size in ("1", "100"):
            spark.conf.set(key, size)
            out = apply_in_spark(df, Cascade(rules, lambda r: np.zeros(len(r), int)))
            assert [r["rule_id"] for r in out.collect()] == [0, -1, -1]
    finally:
        spark.conf.set(key, old)


def test_mixed_classes_with_one_text_and_missing_features_are_refused(spark) -> None:
    from rulecascade.serve.spark import apply_in_spark

    df = spark.createDataFrame([(0.9, 1.0)], "x double, y double")
    with pytest.raises(ValueError, match="classes 1 and '1' have the same text '1'"):
        apply_in_spark(df, _one_rule((1, "1")))
    with pytest.raises(ValueError, match="the rules read 'x', which the columns given do not"):
        apply_in_spark(df, _one_rule(), columns=["y"])


def test_names_the_job_uses_inside_duplicates_and_scalar_embeddings(spark) -> None:
    """Answer columns may take any free name (the job runs on positional names inside);
    duplicate columns (after a join) and a scalar column standing for an embedding are
    refused before the job runs."""
    from rulecascade.serve.spark import apply_in_spark

    df = spark.createDataFrame([(0.9, 1.0), (0.1, 2.0)], "x double, y double")
    out = apply_in_spark(df, _one_rule(), rule_id_column="_rc0", label_column="_rc3")
    assert [tuple(r) for r in out.collect()] == [(0.9, 1.0, 0, 1), (0.1, 2.0, -1, None)]
    joined = df.alias("a").join(df.alias("b"), "x")
    with pytest.raises(ValueError, match="two columns named 'y' and 'y'"):
        apply_in_spark(joined, _one_rule())
    emb = rx.RuleSet(
        rx.make_features(["emb_1"]), (0, 1), (rx.Rule((rx.Interval("emb_1", 0.5, None),), 1),)
    )
    with pytest.raises(ValueError, match="the rules read 'emb_1'"):
        apply_in_spark(spark.createDataFrame([(1.0,)], "emb double"), emb)


def test_the_cascade_is_broadcast_not_shipped_with_every_task(spark, tmp_path) -> None:
    """A model is unpickled once per Python worker, not once per task (8 tasks here)."""
    from rulecascade.serve.spark import apply_in_spark

    log = tmp_path / "unpickled.txt"

    class Model:  # defined here, so it travels by value; records each unpickling
        def __init__(self, path):
            self.path = path

        def __setstate__(self, state):
            self.__dict__.update(state)
            with open(self.path, "a") as f:
                f.write(f"{os.getpid()}\n")

        def __call__(self, rows):
            return np.full(len(rows), 2)

    df = spark.createDataFrame([(float(i % 3) / 2,) for i in range(64)], "x double")
    out = apply_in_spark(df.repartition(8), Cascade(_one_rule(), Model(str(log))))
    answers = sorted(r["prediction"] for r in out.collect())
    assert len(answers) == 64 and set(answers) == {1, 2}
    assert 1 <= len(log.read_text().split()) < 8
