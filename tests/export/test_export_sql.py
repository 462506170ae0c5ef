"""SQL rendering: every dialect, quoting, literals, forms, labels, size and speed."""

from __future__ import annotations

import math
import re
import time
import warnings

import numpy as np
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

import rules_export as rx
from rules_export.dialects import DIALECTS, supported_dialects
from rules_export.sql import (
    _generator,
    _Renderer,
    label_expression,
    nan_sorts_high,
    rule_id_expression,
    select_expression,
    to_sql,
)

REQUIRED = ["duckdb", "postgres", "sqlite", "snowflake", "bigquery", "spark", "tsql", "mysql"]
ALL_DIALECTS = sorted(k for k in Dialect.classes if k)
SUPPORTED = list(supported_dialects())
NASTY = ['x"; DROP TABLE t; --', "it's", "select", "naïve col", "`b`]", "a.b", "new\nline"]


def nasty_rule_set(label_kind: str = "str") -> rx.RuleSet:
    names = [*NASTY, "cat", "e1", "e2"]
    feats = rx.make_features(names, ["cat"], {"cat": ["a", "it's", "x'; DROP TABLE t; --"]})
    proj = rx.Projection(("e1", "e2"), ("proj 'z'",), (0.5, -1.0), ((2.0, -0.25),))
    labels = {"str": ("yes", "no'pe"), "int": (1, -2), "bool": (True, False), "mixed": (1, "b")}[
        label_kind
    ]
    rules = (
        rx.Rule((rx.Interval(NASTY[0], 0.1, None), rx.InSet("cat", ("it's", "a"))), labels[0]),
        rx.Rule((rx.Interval(NASTY[1], None, -3.7), rx.Interval(NASTY[2], 1e300, None)), labels[1]),
        rx.Rule((rx.Interval(NASTY[3], 5e-324, 0.30000000000000004),), labels[0]),
        rx.Rule(
            (rx.Interval("proj 'z'", -1.5, 2.0), rx.Interval(NASTY[4], None, 52000)), labels[1]
        ),
        rx.Rule((rx.Interval(NASTY[5], -1e-7, None), rx.Interval(NASTY[6], None, 1.0)), labels[0]),
    )
    return rx.RuleSet(feats, labels, rules, projection=proj)


@pytest.mark.parametrize("dialect", ALL_DIALECTS)
def test_every_sqlglot_dialect_renders_and_parses_back_or_is_refused_by_name(dialect: str) -> None:
    """A listed dialect renders every form and sqlglot parses the text back to the same SQL;
    any other (prql and dax render text sqlglot cannot read) is one error naming the list."""
    for kind in ("str", "bool", "int", "mixed"):
        rs = nasty_rule_set(kind)
        for form in ("select", "rule_id", "label"):
            if dialect not in DIALECTS:
                with pytest.raises(ValueError) as e:
                    to_sql(rs, dialect, table="my table", form=form)
                assert str(e.value) == (
                    f"unsupported SQL dialect {dialect!r}; supported: {', '.join(SUPPORTED)}"
                )
                continue
            sql = to_sql(rs, dialect, table="my table", form=form)
            assert sql and "\n" not in sql.replace("new\nline", "")
            back = sqlglot.parse_one(sql, read=dialect).sql(dialect=dialect)
            if dialect == "bigquery":  # `a.b` is a path there; column names have no dots
                back = back.replace("`a`.`b`", "`a.b`")
            assert back == sql, (dialect, form)


def test_supported_dialects_include_every_engine_the_tests_run() -> None:
    assert set(REQUIRED) <= set(SUPPORTED)
    engines = {d for d, t in DIALECTS.items() if t.checked_by == "engine"}
    assert engines == {"duckdb", "sqlite", "postgres", "spark"}
    for d in ("prql", "dax", "oracle", "hive"):
        assert d not in SUPPORTED


@pytest.mark.parametrize("dialect", REQUIRED)
def test_required_dialects_parse_back_to_one_statement_with_quoted_identifiers(
    dialect: str,
) -> None:
    rs = nasty_rule_set()
    sql = to_sql(rs, dialect, table="my table")
    statements = sqlglot.parse(sql, read=dialect)
    assert len(statements) == 1 and isinstance(statements[0], exp.Select)
    identifiers = list(statements[0].find_all(exp.Identifier))
    assert identifiers and all(i.quoted for i in identifiers)
    columns = {c.name for c in statements[0].find_all(exp.Column) if not c.is_star}
    used = set(rs.used_features) | {"rule_id"}
    if dialect == "bigquery":  # a backquoted `a.b` is a path there; column names have no dots
        columns -= {"b"}
        used -= {"a.b"}
    assert columns == used  # every nasty name survived as exactly one identifier
    tables = {t.name for t in statements[0].find_all(exp.Table)}
    assert tables == {"my table"}
    assert not list(statements[0].find_all(exp.Drop, exp.Delete, exp.Insert, exp.Command))


def test_thresholds_are_shortest_repr_as_double_literals() -> None:
    rs = rx.RuleSet(
        rx.make_features(["x"]),
        ("a",),
        (
            rx.Rule((rx.Interval("x", 0.1, 52000),), "a"),
            rx.Rule((rx.Interval("x", -5e-324, 1e300),), "a"),
            rx.Rule((rx.Interval("x", None, 0.30000000000000004),), "a"),
        ),
    )
    sql = to_sql(rs, "duckdb", form="rule_id")
    for lit in ["0.1E0", "52000.0E0", "-5E-324", "1E300", "0.30000000000000004E0"]:
        assert f"CAST({lit} AS DOUBLE)" in sql, (lit, sql)
    assert "CAST(0.1E0 AS DOUBLE PRECISION)" in to_sql(rs, "postgres", form="rule_id")
    assert "CAST(0.1E0 AS FLOAT64)" in to_sql(rs, "bigquery", form="rule_id")
    lite = to_sql(rs, "sqlite", form="rule_id")
    assert "1.0 / 10" in lite and "52000.0" in lite
    assert not re.search(r"\d[eE][-+]?\d", lite)  # SQLite gets no decimal exponents to parse


def test_exact_sqlite_literal_expressions_evaluate_in_python() -> None:
    """The integer forms, evaluated with Python floats in the same order, give the value back."""
    rng = np.random.default_rng(0)
    values = list(rng.standard_normal(200) * 10.0 ** rng.integers(-300, 300, 200))
    values += [5e-324, 1.7976931348623157e308, 2.0**70, 123456789012345678.0, 0.1, -3.7]
    rs = rx.RuleSet(rx.make_features(["x"]), ("a",))
    r = _Renderer(rs, "sqlite", None, None)
    for v in values:
        text = r.render(r.number(float(v)))
        py = text.replace("CAST(", "float(").replace(" AS REAL)", ")")
        assert eval(py, {"float": float}) == float(v), (v, text)


def test_nan_guard_only_where_nan_sorts_above_infinity() -> None:
    rs = rx.RuleSet(
        rx.make_features(["x"]), ("a",), (rx.Rule((rx.Interval("x", 0.5, None),), "a"),)
    )
    for d in ["postgres", "spark", "snowflake", "databricks"]:
        assert nan_sorts_high(d)
        assert "'inf'" in to_sql(rs, d, form="rule_id"), d
    for d in ["sqlite", "mysql", "tsql", "bigquery"]:
        assert not nan_sorts_high(d)
        assert "'inf'" not in to_sql(rs, d, form="rule_id"), d
    # DuckDB: a NaN test that parquet statistics cannot fold, on every numeric condition
    assert nan_sorts_high("duckdb")
    duck = to_sql(rs, "duckdb", form="rule_id")
    assert "NOT ISNAN(NEXTAFTER(" in duck and "'inf'" not in duck
    assert "NEXTAFTER" not in to_sql(rs, "duckdb", form="rule_id", nan_guard=False)
    assert "'inf'" in to_sql(rs, "bigquery", form="rule_id", nan_guard=True)
    both = rx.RuleSet(rx.make_features(["x"]), ("a",), (rx.Rule((rx.Interval("x", 0.5, 1),), "a"),))
    assert "'inf'" not in to_sql(both, "postgres", form="rule_id")  # the upper bound guards
    assert "NEXTAFTER" in to_sql(both, "duckdb", form="rule_id")  # statistics may fold it
    assert "NEXTAFTER" not in to_sql(both, "duckdb", form="rule_id", nan_guard=False)


def test_forms_and_table_names() -> None:
    rs = nasty_rule_set()
    rid = to_sql(rs, "duckdb", form="rule_id")
    assert rid.startswith("CASE WHEN ") and rid.endswith(" ELSE -1 END")
    lab = to_sql(rs, "duckdb", form="label")
    assert lab.endswith(" ELSE NULL END") and "'no''pe'" in lab
    assert 'FROM "my.table" AS' in to_sql(rs, "duckdb", table="my.table")
    assert 'FROM "cat"."sch"."t" AS' in to_sql(rs, "duckdb", table=("cat", "sch", "t"))
    assert 'FROM "input" AS' in to_sql(rs, "duckdb")
    qualified = exp.to_table("db.tbl")
    assert "FROM db.tbl AS" in to_sql(rs, "duckdb", table=qualified)
    assert "FROM `p`.`d`.`t`" in to_sql(rs, "bigquery", table=("p", "d", "t"))
    assert "[rules_output].*" in to_sql(rs, "tsql", table="t")
    with pytest.raises(ValueError, match="clashes with feature 'cat'"):
        to_sql(rs, "duckdb", label_column="cat")
    with pytest.raises(ValueError, match="must differ"):
        to_sql(rs, "duckdb", rule_id_column="x", label_column="x")
    with pytest.raises(ValueError, match="form must be"):
        to_sql(rs, "duckdb", form="update")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown SQL dialect 'nosuchsql'; supported: bigquery"):
        to_sql(rs, "nosuchsql")
    with pytest.raises(rx.RuleSetError):
        to_sql("not a rule set")  # type: ignore[arg-type]


def test_expressions_compose_with_sqlglot_and_run(tmp_path) -> None:
    duckdb = pytest.importorskip("duckdb")
    rs = nasty_rule_set()
    rid = rule_id_expression(rs, "duckdb")
    lab = label_expression(rs, "duckdb", rule_id="rid")
    assert isinstance(rid, exp.Expression) and isinstance(lab, exp.Case)
    inner = sqlglot.select(exp.alias_(rid, "rid", quoted=True)).from_(exp.to_table('"t"'))
    query = sqlglot.select(exp.column("rid", quoted=True), lab).from_(inner.subquery("s"))
    rng = np.random.default_rng(1)
    data = {n: rng.normal(size=50) for n in rs.feature_names if n != "cat"}
    data["cat"] = np.array(rng.choice(["a", "it's", "b", None], size=50), dtype=object)
    con = duckdb.connect()
    con.register("t", __import__("pyarrow").table(data))
    rows = con.execute(query.sql("duckdb")).fetchall()
    assert [r[0] for r in rows] == rx.match(rs, data).tolist()
    assert [r[1] for r in rows] == list(rx.predict(rs, data))
    sel = select_expression(rs, "t", "duckdb")
    assert isinstance(sel, exp.Select)


@pytest.mark.parametrize("kind", ["str", "int", "bool", "mixed"])
def test_label_literals_by_type(kind: str) -> None:
    duckdb = pytest.importorskip("duckdb")
    rs = nasty_rule_set(kind)
    duck = to_sql(rs, "duckdb", form="label")
    tsql = to_sql(rs, "tsql", form="label")
    if kind == "bool":
        assert "THEN TRUE" in duck and "THEN FALSE" in duck
        assert "CAST(1 AS BIT)" in tsql and "TRUE" not in tsql
    if kind == "mixed":
        assert "THEN '1'" in duck and "THEN 'b'" in duck
    if kind == "int":
        assert "THEN -2" in duck
    data = {n: np.linspace(-5, 5, 11) for n in rs.feature_names if n != "cat"}
    data["cat"] = np.array(["a"] * 11, dtype=object)
    con = duckdb.connect()
    con.register("t", __import__("pyarrow").table(data))
    got = [r[0] for r in con.execute(f"SELECT {duck} FROM t").fetchall()]
    want = list(rx.predict(rs, data))
    if kind == "mixed":
        want = [None if w is None else str(w) for w in want]
    assert got == want


def test_column_types_leave_out_needless_casts() -> None:
    duckdb = pytest.importorskip("duckdb")
    rs = nasty_rule_set()
    types = {n: "DOUBLE" for n in rs.feature_names if n != "cat"}
    types["cat"] = "VARCHAR"
    typed = to_sql(rs, "duckdb", form="rule_id", column_types=types)
    assert "AS TEXT" not in typed and f'CAST("{NASTY[2]}" AS DOUBLE)' not in typed
    floaty = to_sql(rs, "duckdb", form="rule_id", column_types={NASTY[2]: "FLOAT"})
    assert f'CAST("{NASTY[2]}" AS DOUBLE)' in floaty  # FLOAT still needs the cast
    with pytest.raises(ValueError, match="not a feature"):
        to_sql(rs, "duckdb", column_types={"nope": "DOUBLE"})
    rng = np.random.default_rng(2)
    data = {n: rng.normal(size=40) * 3 for n in rs.feature_names if n != "cat"}
    data["cat"] = np.array(rng.choice(["a", "it's", "zz"], size=40), dtype=object)
    con = duckdb.connect()
    con.register("t", __import__("pyarrow").table(data))
    got = [r[0] for r in con.execute(f"SELECT {typed} FROM t").fetchall()]
    assert got == rx.match(rs, data).tolist()


def test_empty_rule_set_renders_and_runs() -> None:
    duckdb = pytest.importorskip("duckdb")
    rs = rx.RuleSet(rx.make_features(["x"]), ("a",))
    assert to_sql(rs, "duckdb", form="rule_id") == "-1"
    assert to_sql(rs, "duckdb", form="label") == "NULL"
    con = duckdb.connect()
    con.execute('CREATE TABLE "input" (x DOUBLE); INSERT INTO "input" VALUES (1), (NULL)')
    assert con.execute(to_sql(rs, "duckdb")).fetchall() == [(1.0, -1, None), (None, -1, None)]


def test_memoized_rendering_is_identical_to_plain_rendering() -> None:
    rs = nasty_rule_set()
    for d in SUPPORTED:
        r1 = _Renderer(rs, d, None, None)
        r2 = _Renderer(rs, d, None, None)
        try:
            a = r1.render(r1.rule_id())
        except Exception:
            continue  # a dialect that refuses (see the test above)
        b = _generator(r2.dialect, False, memo=False).generate(r2.rule_id(), copy=False)
        assert a == b, d


def _random_rules(n_rules: int, n_features: int = 20, seed: int = 0) -> rx.RuleSet:
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(n_features)]
    rules = []
    for _ in range(n_rules):
        conds = []
        for f in rng.choice(names, size=4, replace=False):
            lo = float(rng.normal() * 10)
            if rng.random() < 0.5:
                conds.append(rx.Interval(str(f), lo, lo + float(rng.uniform(0.1, 5))))
            else:
                conds.append(rx.Interval(str(f), None, lo))
        rules.append(rx.Rule(tuple(conds), str(rng.choice(["yes", "no"]))))
    return rx.RuleSet(rx.make_features(names), ("yes", "no"), tuple(rules))


def test_sql_size_is_linear_in_rules() -> None:
    small, big = _random_rules(100), _random_rules(1000)
    for d in ["duckdb", "postgres", "sqlite"]:
        ratio = len(to_sql(big, d)) / len(to_sql(small, d))
        assert 9.0 < ratio < 11.0, (d, ratio)


def test_ten_thousand_rules_render_in_seconds() -> None:
    rs = _random_rules(10_000)
    for d in ["duckdb"]:  # benchmarks/export.py times more dialects
        t = time.perf_counter()
        sql = to_sql(rs, d)
        elapsed = time.perf_counter() - t
        # ~2 s on an idle laptop core (benchmarks/export.py); the bound only catches a blow-up
        assert elapsed < 60, f"{d}: {elapsed:.1f}s"
        assert sql.count(" THEN ") == 10_000 + 2


def test_wide_projection_and_long_rules_render_and_run() -> None:
    duckdb = pytest.importorskip("duckdb")
    n = 400
    names = [f"e{i}" for i in range(n)]
    rng = np.random.default_rng(3)
    proj = rx.Projection(
        tuple(names),
        ("z",),
        tuple(rng.normal(size=n).tolist()),
        (tuple(rng.normal(size=n).tolist()),),
    )
    long_rule = rx.Rule(tuple(rx.Interval(f, -3.0, 3.0) for f in names), "b")
    rs = rx.RuleSet(
        rx.make_features(names),
        ("a", "b"),
        (rx.Rule((rx.Interval("z", None, 0.0),), "a"), long_rule),
        projection=proj,
    )
    sql = to_sql(rs, "duckdb", form="rule_id")
    data = {f: rng.normal(size=30) for f in names}
    data["e0"][0] = math.nan
    con = duckdb.connect()
    con.register("t", __import__("pyarrow").table(data))
    got = [r[0] for r in con.execute(f"SELECT {sql} FROM t").fetchall()]
    assert got == rx.match(rs, data).tolist()


@pytest.mark.parametrize("feature", ["RULE_ID", "Prediction", "rule_id"])
def test_output_columns_may_not_match_a_feature_in_any_case(feature: str) -> None:
    """DuckDB and SQLite match quoted names regardless of case: a feature "RULE_ID" and the
    output "rule_id" would be one column there (the outer CASE then read the feature)."""
    import sqlite3

    duckdb = pytest.importorskip("duckdb")
    rs = rx.RuleSet(
        rx.make_features([feature]),
        ("y", "n"),
        (
            rx.Rule((rx.Interval(feature, 0.5, None),), "y"),
            rx.Rule((rx.Interval(feature, None, 0.0),), "n"),
        ),
    )
    with pytest.raises(ValueError, match=f"clashes with feature '{feature}'"):
        rx.to_sql(rs, dialect="duckdb")
    with pytest.raises(ValueError, match="must differ"):
        rx.to_sql(rs, rule_id_column="Out", label_column="OUT")
    values = [0.1, 0.0, 1.0]
    want = list(rx.predict(rs, {feature: np.array(values)}))
    assert want == [None, "n", "y"]
    con = duckdb.connect()
    con.execute(f'CREATE TABLE input ("{feature}" DOUBLE)')
    con.executemany("INSERT INTO input VALUES (?)", [(v,) for v in values])
    sql = rx.to_sql(rs, dialect="duckdb", rule_id_column="rid", label_column="answer")
    assert [r[-1] for r in con.execute(sql).fetchall()] == want
    lite = sqlite3.connect(":memory:")
    lite.execute(f'CREATE TABLE input ("{feature}" REAL)')
    lite.executemany("INSERT INTO input VALUES (?)", [(v,) for v in values])
    sql = rx.to_sql(rs, dialect="sqlite", rule_id_column="rid", label_column="answer")
    assert [r[-1] for r in lite.execute(sql).fetchall()] == want


def test_a_rule_longer_than_sqlite_expression_depth_runs() -> None:
    """1,500 comparisons in one rule: SQLite refuses an expression tree deeper than 1,000, so
    long AND chains are written as parenthesized halves (the same result in 3-valued logic)."""
    import sqlite3

    duckdb = pytest.importorskip("duckdb")
    n = 750
    names = [f"f{i}" for i in range(n)]
    rng = np.random.default_rng(5)
    wide = rx.Rule(tuple(rx.Interval(f, -2.5, 2.5) for f in names), "in")
    rs = rx.RuleSet(
        rx.make_features(names), ("in", "out"), (wide, rx.Rule((rx.Interval("f0", 2.5),), "out"))
    )
    data = {f: rng.uniform(-1.0, 1.0, size=40) for f in names}
    data["f1"][3] = math.nan
    data["f0"][5] = 3.0
    data[names[-1]][7] = -2.5  # the low end is open
    want = rx.match(rs, data).tolist()
    assert 0 in want and -1 in want
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE input (" + ", ".join(f'"{f}" REAL' for f in names) + ")")
    rows = [tuple(None if math.isnan(data[f][i]) else data[f][i] for f in names) for i in range(40)]
    lite.executemany(f"INSERT INTO input VALUES ({', '.join('?' * n)})", rows)
    got = [r[0] for r in lite.execute(f"SELECT {to_sql(rs, 'sqlite', form='rule_id')} FROM input")]
    assert got == want
    con = duckdb.connect()
    con.register("t", __import__("pyarrow").table(data))
    assert [
        r[0]
        for r in con.execute(f"SELECT {to_sql(rs, 'duckdb', form='rule_id')} FROM t").fetchall()
    ] == want
    # a short rule stays a flat chain: no parentheses but the casts'
    short = rx.RuleSet(rx.make_features(names), ("in",), (rx.Rule(wide.conditions[:3], "in"),))
    cond = to_sql(short, "duckdb", form="rule_id").split("WHEN", 1)[1].split("THEN")[0]
    assert cond.count("(") == sum(cond.count(f) for f in ("CAST(", "ISNAN(", "NEXTAFTER("))


def test_mixed_classes_with_one_text_cannot_be_told_apart_as_labels() -> None:
    rs = rx.RuleSet(
        rx.make_features(["x"]),
        (1, "1"),
        (rx.Rule((rx.Interval("x", 0.5, None),), 1), rx.Rule((rx.Interval("x", None, 0.0),), "1")),
    )
    with pytest.raises(ValueError, match="classes 1 and '1' have the same text '1'"):
        to_sql(rs, "duckdb")
    assert "CASE WHEN" in to_sql(rs, "duckdb", form="rule_id")  # the rule index still tells
    ok = rs.replace(classes=(1, "one"), rules=(rx.Rule((rx.Interval("x", 0.5, None),), 1),))
    assert "'1'" in to_sql(ok, "duckdb", form="label")


def test_a_projection_too_deep_for_duckdb_and_sqlite_warns() -> None:
    names = [f"e{i}" for i in range(1030)]

    def rules(sum_block):
        proj = rx.Projection(
            tuple(names), ("z",), (0.0,) * 1030, ((1.0,) * 1030,), sum_block=sum_block
        )
        rule = rx.Rule((rx.Interval("z", 0.0, None),), "a")
        return rx.RuleSet(rx.make_features(names), ("a",), (rule,), projection=proj)

    for deep in (None, 1, 1000):
        with pytest.warns(UserWarning, match="nests about 10") as caught:
            to_sql(rules(deep), "duckdb")
        assert caught[0].filename == __file__  # it points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_sql(rules(256), "duckdb")  # 256 + 5 levels


def _case_pair() -> rx.RuleSet:
    return rx.RuleSet(
        rx.make_features(["a", "A"]), (0, 1), (rx.Rule((rx.Interval("A", 0.0, None),), 1),)
    )


@pytest.mark.parametrize("dialect", SUPPORTED)
def test_features_differing_only_in_case_are_refused_where_names_ignore_case(dialect) -> None:
    """DuckDB renames ``A`` to ``A_1`` on read and binds ``"A"`` to ``a``: silently wrong rule
    ids. Refused, naming both features, on every engine that ignores the case of names."""
    rs = _case_pair()
    if not DIALECTS[dialect].case_insensitive_names:
        assert to_sql(rs, dialect)  # PostgreSQL and Snowflake tell "a" and "A" apart
        return
    for form in ("select", "rule_id", "label"):
        with pytest.raises(ValueError) as e:
            to_sql(rs, dialect, form=form)
        msg = str(e.value)
        assert "features 'a' and 'A' differ only in letter case" in msg and dialect in msg
    with pytest.raises(ValueError, match="differ only in letter case"):
        rule_id_expression(rs, dialect)


def test_duckdb_would_read_the_wrong_column_of_a_case_pair(tmp_path) -> None:
    """Why the refusal: DuckDB reads a file with columns a and A as a and A_1."""
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "pair.csv"
    path.write_text("a,A\n1.0,-1.0\n")
    con = duckdb.connect()
    cols = [d[0] for d in con.execute(f"SELECT * FROM '{path}'").description]
    assert cols[0] == "a" and cols[1] != "A"


@pytest.mark.postgres
def test_postgres_tells_a_case_pair_apart(pg) -> None:
    rs = _case_pair()
    with pg.cursor() as cur:
        cur.execute('CREATE TEMP TABLE "pair" ("a" DOUBLE PRECISION, "A" DOUBLE PRECISION)')
        cur.execute('INSERT INTO "pair" VALUES (1.0, -1.0), (-1.0, 1.0)')
        cur.execute(f'SELECT {to_sql(rs, "postgres", form="rule_id")} FROM "pair"')
        got = [r[0] for r in cur.fetchall()]
        cur.execute('DROP TABLE "pair"')
    want = rx.match(rs, {"a": np.array([1.0, -1.0]), "A": np.array([-1.0, 1.0])}).tolist()
    assert got == want == [-1, 0]
