"""Audits over time (--by): per-chunk counts, in Python and as ONE grouped SQL query on DuckDB,
SQLite, PostgreSQL and Spark, on the flights data (chunks: months)."""

from __future__ import annotations

import sqlite3

import duckdb
import numpy as np
import polars as pl
import pytest

from rulecascade import datasets
from rulecascade.audit import (
    audit,
    audit_chunks,
    audit_counts,
    audit_sql,
    chunk_codes,
    chunk_counts,
    chunk_counts_from_sql_rows,
    drift,
)
from rulecascade.learn.summaries import summarise
from rules_export import Guarantee, InSet, Interval, Rule, RuleSet, RuleStats, make_features
from rules_export.reference import input_columns

FEATURES = ["month", "hour", "dep_delay", "origin", "carrier", "distance"]


@pytest.fixture(scope="module")
def flights():
    ds = datasets.load("flights")
    df = ds.frame[::10].select(*FEATURES, "delayed")
    df = df.with_columns(pl.col("origin").cast(pl.String), pl.col("carrier").cast(pl.String))
    # one row in twenty without a month: the missing chunk, ordered last
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) % 20 == 7).then(None).otherwise("month").alias("batch"),
        pl.format("2013-{}", pl.col("month").cast(pl.String).str.zfill(2)).alias("ym"),
    )
    rules = RuleSet(
        features=make_features(
            FEATURES,
            ["origin", "carrier"],
            {"origin": ["EWR", "JFK", "LGA"], "carrier": sorted(df["carrier"].unique())},
        ),
        classes=(0, 1),
        rules=(
            Rule((Interval("dep_delay", high=5.0),), 0, RuleStats((), (9000, 400), 0.95)),
            Rule((Interval("dep_delay", low=60.0),), 1, RuleStats((), (0, 2000), 0.99)),
            Rule((Interval("hour", low=18.0), InSet("origin", ("EWR",))), 1),
        ),
        guarantee=Guarantee(max_error=0.1, confidence=0.95),
    )
    # drift reference: the first quarter of the year, as a fit on it would store
    cols, _ = input_columns(rules, df.filter(pl.col("month") <= 3))
    cols["origin"] = np.array(
        [np.nan if v is None else ["EWR", "JFK", "LGA"].index(v) for v in cols["origin"]]
    )
    rules = rules.replace(feature_summaries=summarise(rules, cols))
    return df, rules


def test_one_chunk_is_the_audit_of_all_rows(flights):
    df, rules = flights
    y = df["delayed"].to_numpy()
    one = audit_chunks(rules, df, y, np.full(df.height, "all"), alpha=0.05)
    assert [c.chunk for c in one.chunks] == ["all"]
    assert one.chunks[0].report.to_json() == audit(rules, df, y, alpha=0.05).to_json()
    assert one.chunks[0].drift == drift(rules, df) and one.chunks[0].drift.features


def test_chunks_partition_the_rows_in_sorted_order(flights):
    df, rules = flights
    y = df["delayed"].to_numpy()
    res = audit_chunks(rules, df, y, df["batch"], alpha=0.05)
    assert [c.chunk for c in res.chunks] == list(range(1, 13)) + [None]
    assert sum(c.report.rows for c in res.chunks) == df.height
    for c in res.chunks:
        part = df.filter(
            pl.col("batch").is_null() if c.chunk is None else pl.col("batch") == c.chunk
        )
        want = audit(rules, part, part["delayed"].to_numpy(), alpha=0.05 / 13)
        assert c.report.to_json() == want.to_json()
        d = c.to_dict()
        assert d["rows"] == part.height and d["coverage"] == want.set.coverage
        assert d["error"] == want.set.error and d["status"] in ("ok", "warn", "drift", "broken")
        assert [f["feature"] for f in d["features"]] == ["hour", "dep_delay", "origin"]
    total = audit_counts(rules, df, y)
    keys, codes = chunk_codes(df["batch"])
    parts = chunk_counts(rules, df, y, codes, len(keys))
    assert np.array_equal(sum(p.answered for p in parts), total.answered)
    assert np.array_equal(sum(p.covers for p in parts), total.covers)


def _python_chunks(rules, df, by):
    keys, codes = chunk_codes(df[by])
    return keys, chunk_counts(rules, df, df["delayed"].to_numpy(), codes, len(keys))


def test_duckdb_grouped_query_equals_python(flights):
    df, rules = flights
    con = duckdb.connect()
    con.register("flights", df.to_arrow())
    for by in ("batch", "ym"):
        q = audit_sql(rules, "flights", "delayed", "duckdb", by=by)
        assert q.count("GROUP BY") == 1
        got = chunk_counts_from_sql_rows(rules, con.execute(q).fetchall())
        assert got == _python_chunks(rules, df, by)


def test_sqlite_grouped_query_equals_python(flights):
    df, rules = flights
    con = sqlite3.connect(":memory:")
    cols = ", ".join(f'"{c}"' for c in df.columns)
    con.execute(f"CREATE TABLE flights ({cols})")
    con.executemany(f"INSERT INTO flights VALUES ({', '.join('?' * df.width)})", df.iter_rows())
    got = chunk_counts_from_sql_rows(
        rules, con.execute(audit_sql(rules, "flights", "delayed", "sqlite", by="batch")).fetchall()
    )
    assert got == _python_chunks(rules, df, "batch")


@pytest.mark.postgres
def test_postgres_grouped_query_equals_python(pg, flights):
    df, rules = flights
    types = {"String": "TEXT", "Float64": "DOUBLE PRECISION", "Int64": "BIGINT"}
    cols = ", ".join(f'"{c}" {types[str(t)]}' for c, t in df.schema.items())
    with pg.cursor() as cur:
        cur.execute(f'CREATE TEMP TABLE "flights_chunks" ({cols})')
        cur.executemany(
            f'INSERT INTO "flights_chunks" VALUES ({", ".join(["%s"] * df.width)})', df.rows()
        )
        cur.execute(audit_sql(rules, "flights_chunks", "delayed", "postgres", by="batch"))
        rows = cur.fetchall()
        cur.execute('DROP TABLE "flights_chunks"')
    assert chunk_counts_from_sql_rows(rules, rows) == _python_chunks(rules, df, "batch")


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_spark_grouped_query_equals_python(spark, flights):
    df, rules = flights
    spark.createDataFrame(df.to_pandas()).createOrReplaceTempView("flights_chunks")
    q = audit_sql(rules, "flights_chunks", "delayed", "spark", by="batch")
    rows = [tuple(r) for r in spark.sql(q).collect()]
    keys, counts = chunk_counts_from_sql_rows(rules, rows)
    want_keys, want = _python_chunks(rules, df, "batch")
    assert [None if k is None else int(k) for k in keys] == want_keys and counts == want


def test_cli_exports_the_grouped_query(flights, tmp_path):
    from click.testing import CliRunner

    from rulecascade.cli import main

    df, rules = flights
    rp = tmp_path / "rules.json"
    rules.save(rp)
    args = ["export", str(rp), "--to", "audit-sql", "--target", "delayed", "--table", "f"]
    res = CliRunner().invoke(main, [*args, "--by", "ym"])
    assert res.exit_code == 0, res.output
    con = duckdb.connect()
    con.register("f", df.to_arrow())
    got = chunk_counts_from_sql_rows(rules, con.execute(res.stdout).fetchall())
    assert got == _python_chunks(rules, df, "ym")
    res = CliRunner().invoke(main, ["export", str(rp), "--to", "sql", "--by", "ym"])
    assert res.exit_code == 2 and "--by is an option of --to audit-sql" in res.stderr
