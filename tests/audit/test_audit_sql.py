"""audit_sql: one aggregate query whose result is exactly the Python audit's count tables."""

from __future__ import annotations

import sqlite3

import duckdb
import numpy as np
import polars as pl
import pytest
from sqlglot import exp

from rulecascade import datasets
from rulecascade.audit import (
    audit,
    audit_counts,
    audit_from_counts,
    audit_sql,
    counts_from_sql_rows,
)
from rules_export import Guarantee, InSet, Interval, Rule, RuleSet, RuleStats, make_features


def _duckdb_counts(rules, df, target, table="data"):
    con = duckdb.connect()
    con.register(table, df.to_arrow())
    rows = con.execute(audit_sql(rules, table, target, "duckdb")).fetchall()
    return counts_from_sql_rows(rules, rows)


@pytest.fixture(scope="module")
def breast_cancer():
    ds = datasets.load("breast_cancer")
    rules = RuleSet(
        features=make_features(ds.features),
        classes=(0, 1),
        rules=(
            Rule((Interval("worst_radius", high=13.0),), 1, RuleStats((), (1, 99), 0.95)),
            Rule((Interval("worst_concave_points", low=0.2),), 0, RuleStats((), (40, 0), 0.93)),
            Rule((Interval("mean_radius", 11.0, 14.0),), 1, RuleStats((), (30, 20), 0.5)),
            Rule((Interval("mean_texture", low=25.0),), 0),
        ),
        guarantee=Guarantee(max_error=0.05, confidence=0.95),
    )
    return ds, rules


def test_duckdb_counts_equal_python_breast_cancer(breast_cancer):
    ds, rules = breast_cancer
    df = ds.frame
    want = audit_counts(rules, df, df["benign"].to_numpy())
    got = _duckdb_counts(rules, df, "benign")
    assert got == want
    # and therefore the same report
    py = audit(rules, df, df["benign"].to_numpy())
    assert audit_from_counts(rules, got).to_json() == py.to_json()


def _credit_default_with_gaps() -> pl.DataFrame:
    """Credit default with a text label and missing values in both kinds of feature."""
    ds = datasets.load("credit_default")
    df = ds.frame.with_columns(
        pl.col("student").cast(pl.String),
        pl.when(pl.col("default") == 1).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("label"),
    )
    # missing values in both kinds of feature: they satisfy no condition
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(None)
        .otherwise(pl.col("balance"))
        .alias("balance"),
        pl.when(pl.int_range(pl.len()) % 11 == 0)
        .then(None)
        .otherwise(pl.col("student"))
        .alias("student"),
    )
    return df.select("student", "balance", "income", "label")


_CREDIT_RULES = RuleSet(
    features=make_features(["student", "balance", "income"], categorical=["student"]),
    classes=("no", "yes"),
    rules=(
        Rule((InSet("student", ("No",)), Interval("balance", high=1000.0)), "no"),
        Rule((Interval("balance", low=2000.0),), "yes"),
        Rule((InSet("student", ("Yes",)), Interval("income", high=15000.0)), "no"),
    ),
)


def test_duckdb_counts_categorical_missing_and_string_labels():
    df, rules = _credit_default_with_gaps(), _CREDIT_RULES
    want = audit_counts(rules, df, df["label"].to_numpy())
    assert want.answered[:3].sum() > 0 and want.answered[3].sum() > 0
    assert _duckdb_counts(rules, df, "label") == want


def test_duckdb_reads_the_parquet_file_directly(breast_cancer, tmp_path):
    ds, rules = breast_cancer
    path = tmp_path / "bc.parquet"
    ds.frame.write_parquet(path)
    table = exp.func("read_parquet", exp.Literal.string(str(path)))
    rows = duckdb.connect().execute(audit_sql(rules, table, "benign")).fetchall()
    want = audit_counts(rules, ds.frame, ds.y)
    assert counts_from_sql_rows(rules, rows) == want


def test_duckdb_on_a_parquet_file_with_nan_equals_the_python_audit(breast_cancer, tmp_path):
    """The parquet file's min/max statistics leave NaN out; DuckDB folded the NaN guard of
    "worst_concave_points > 0.2" with them and counted every NaN row as covered by that rule
    (a healthy set reported broken). With NaN, +-inf, -0.0 and NULLs in the rule columns, the
    query on the file gives the Python audit's counts and report."""
    ds, rules = breast_cancer
    i = pl.int_range(pl.len())
    df = ds.frame.with_columns(
        pl.when(i % 9 == 0).then(float("nan")).otherwise(pl.col("worst_concave_points"))
        .alias("worst_concave_points"),
        pl.when(i % 13 == 1).then(float("nan"))
        .when(i % 13 == 2).then(None)
        .when(i % 13 == 3).then(-0.0)
        .otherwise(pl.col("worst_radius")).alias("worst_radius"),
        pl.when(i % 17 == 4).then(float("inf"))
        .when(i % 17 == 5).then(float("-inf"))
        .otherwise(pl.col("mean_texture")).alias("mean_texture"),
    )  # fmt: skip
    path = tmp_path / "bc_nan.parquet"
    df.write_parquet(path, statistics=True)
    table = exp.func("read_parquet", exp.Literal.string(str(path)))
    rows = duckdb.connect().execute(audit_sql(rules, table, "benign")).fetchall()
    y = df["benign"].to_numpy()
    want = audit_counts(rules, df, y)
    assert want.covers[1].sum() > 0  # rule 1 still covers rows, the NaN rows not among them
    got = counts_from_sql_rows(rules, rows)
    assert got == want
    assert audit_from_counts(rules, got).to_json() == audit(rules, df, y).to_json()


def test_sqlite_counts_equal_python(breast_cancer):
    ds, rules = breast_cancer
    df = ds.frame.select(*rules.used_features, "benign")
    con = sqlite3.connect(":memory:")
    cols = ", ".join(f'"{c}"' for c in df.columns)
    con.execute(f"CREATE TABLE data ({cols})")
    con.executemany(f"INSERT INTO data VALUES ({', '.join('?' * df.width)})", df.iter_rows())
    rows = con.execute(audit_sql(rules, "data", "benign", "sqlite")).fetchall()
    assert counts_from_sql_rows(rules, rows) == audit_counts(rules, df, ds.y)


def test_query_is_one_aggregate():
    rules = RuleSet(
        features=make_features(["x"]),
        classes=(False, True),
        rules=(Rule((Interval("x", high=0.0),), True),),
    )
    q = audit_sql(rules, "t", "y", pretty=True)
    assert q.count("GROUP BY") == 1 and "COUNT(*)" in q
    assert '"n_class_0"' in q and '"n_class_1"' in q
    con = duckdb.connect()
    con.register("t", pl.DataFrame({"x": [-1.0, 1.0, None, -2.0], "y": [True, False, True, False]}))
    got = counts_from_sql_rows(rules, con.execute(q).fetchall())
    np.testing.assert_array_equal(got.answered, [[1, 1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(got.covers, [[1, 1, 0]])


def test_cli_exports_the_audit_query(breast_cancer, tmp_path):
    from click.testing import CliRunner

    from rulecascade.cli import main

    ds, rules = breast_cancer
    rp = tmp_path / "rules.json"
    rules.save(rp)
    res = CliRunner().invoke(
        main, ["export", str(rp), "--to", "audit-sql", "--target", "benign", "--table", "bc"]
    )
    assert res.exit_code == 0, res.output
    con = duckdb.connect()
    con.register("bc", ds.frame.to_arrow())
    got = counts_from_sql_rows(rules, con.execute(res.stdout).fetchall())
    assert got == audit_counts(rules, ds.frame, ds.y)
    res = CliRunner().invoke(main, ["export", str(rp), "--to", "audit-sql"])
    assert res.exit_code == 2 and "needs --target" in res.stderr


def test_rows_without_a_label_are_an_input_error_in_sql_as_in_python(breast_cancer):
    """NULL targets were counted as wrong answers by the SQL route (a false alarm) while the
    CLI refused them: both refuse them now."""
    from rules_export.reference import InputError

    ds, rules = breast_cancer
    df = ds.frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 3).then(None).otherwise(pl.col("benign"))
        .alias("benign")
    )  # fmt: skip
    n_missing = int(df["benign"].null_count())
    assert n_missing > 0
    with pytest.raises(InputError, match=f"{n_missing} rows have no label"):
        _duckdb_counts(rules, df, "benign")
    with pytest.raises(InputError, match="label is missing or not finite at row 3"):
        audit(rules, df.drop("benign"), df["benign"].to_numpy())
    # without them, SQL and Python agree as before
    clean = df.drop_nulls("benign")
    assert _duckdb_counts(rules, clean, "benign") == audit_counts(
        rules, clean.drop("benign"), clean["benign"].to_numpy()
    )


def test_classes_sharing_a_text_are_refused():
    """The query compares the target with each class's literal: 1 and "1" would both match."""
    rules = RuleSet(
        make_features(["x"]),
        (1, "1"),
        (Rule((Interval("x", low=0.5),), 1), Rule((Interval("x", high=0.0),), "1")),
    )
    with pytest.raises(ValueError, match="classes 1 and '1' have the same text"):
        audit_sql(rules, "t", "y")


@pytest.mark.postgres
def test_postgres_counts_equal_python(pg, breast_cancer):
    """The audit query in PostgreSQL: breast cancer (integer labels) and credit default with
    missing values and text labels give the Python audit's count tables."""
    ds, rules = breast_cancer
    cases = [
        (ds.frame, rules, "benign", "bc_audit"),
        (_credit_default_with_gaps(), _CREDIT_RULES, "label", "cd_audit"),
    ]
    for df, rs, target, table in cases:
        types = {"String": "TEXT", "Float64": "DOUBLE PRECISION", "Int64": "BIGINT"}
        cols = ", ".join(f'"{c}" {types[str(t)]}' for c, t in df.schema.items())
        with pg.cursor() as cur:
            cur.execute(f'CREATE TEMP TABLE "{table}" ({cols})')
            marks = ", ".join(["%s"] * df.width)
            cur.executemany(f'INSERT INTO "{table}" VALUES ({marks})', df.rows())
            cur.execute(audit_sql(rs, table, target, "postgres"))
            rows = cur.fetchall()
            cur.execute(f'DROP TABLE "{table}"')
        assert counts_from_sql_rows(rs, rows) == audit_counts(rs, df, df[target].to_numpy())


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_counts_equal_python(spark, breast_cancer):
    """The audit query in Spark SQL (the design's distributed engine) equals the Python audit."""
    ds, rules = breast_cancer
    cases = [
        (ds.frame, rules, "benign", "bc_audit"),
        (_credit_default_with_gaps(), _CREDIT_RULES, "label", "cd_audit"),
    ]
    for df, rs, target, table in cases:
        spark.createDataFrame(df.to_pandas()).createOrReplaceTempView(table)
        rows = [tuple(r) for r in spark.sql(audit_sql(rs, table, target, "spark")).collect()]
        assert counts_from_sql_rows(rs, rows) == audit_counts(rs, df, df[target].to_numpy())


def test_a_target_differing_from_a_feature_only_in_case_is_refused():
    rules = RuleSet(make_features(["y", "x"]), (0, 1), (Rule((Interval("y", low=0.5),), 1),))
    with pytest.raises(ValueError, match="target 'Y' and feature 'y' differ only in letter case"):
        audit_sql(rules, "t", "Y", "duckdb")
    assert "GROUP BY" in audit_sql(rules, "t", "Y", "postgres")
    assert "GROUP BY" in audit_sql(rules, "t", "y", "duckdb")  # the same column is fine
