"""Random rule sets and hostile data for the export agreement tests, and one runner per engine.

Imported by test_export_agreement.py and test_export_spark.py; the tests at the bottom check the
generators themselves. Everything here is deliberately adversarial: feature names with quotes,
spaces, SQL, unicode and reserved words; thresholds that are float32-inexact, subnormal or huge;
data exactly at thresholds and at their float64 and float32 neighbours, NaN, NULL, +/-inf and
unseen categories.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rules_export as rx
from rules_export.python_src import to_python
from rules_export.sql import to_sql

NASTY_NAMES = [
    'x"; DROP TABLE t; --',
    "it's",
    "select",
    "from",
    "a b",
    "naïve",
    "日本語 列",
    "`tick`",
    "[br]]",
    "$1",
    "\\back",
    "tab\tname",
    "new\nline",
    "x.y",
    "-- comment",
    "/* c */",
    "NULL",
    "1col",
    "Ünïcödé",
    "emoji 🎲",
]
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
RESERVED_OUTPUTS = {"rule_id", "prediction", "__row"}

NASTY_STRINGS = [
    "a",
    "A",
    "a ",
    " a",
    "",
    "it's",
    'q"uote',
    "naïve",
    "日本",
    "x'; DROP TABLE t; --",
    "\\",
    "\\'",
    "3",
    "-1",
    "03",
    "NULL",
    "None",
    "nan",
    "0.5",
    "tab\t",
    "🎲",
]

SPECIAL_THRESHOLDS = [
    0.0,
    0.1,
    -0.1,
    0.5,
    1.0,
    -1.0,
    3.7,
    52000.0,
    0.30000000000000004,
    1e-7,
    16777217.0,
    1e300,
    -1e300,
    1e22,
    1e23,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    3.4028234663852886e38,
    1.401298464324817e-45,
    6.303107449006717e-309,
    5.91621733490289e303,
    9007199254740993.0,
    123456789012345678.0,
]
PROJECTION_WEIGHTS = [0.0, 1.0, -1.0, 0.5, 2.0, -0.25, 1e-3, 3.7, -250.0, 0.1]
INT_CATEGORIES = ["3", "-1", "0", "42", "03"]
INT_VALUES = [3, -1, 0, 42, 7, 2**40]


def _f32(v: float) -> float:
    with np.errstate(over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.float32(v))


def _f32_neighbours(v: float) -> list[float]:
    f = np.float32(_f32(v))
    with np.errstate(over="ignore"):
        return [
            float(np.nextafter(f, np.float32(np.inf))),
            float(np.nextafter(f, np.float32(-np.inf))),
        ]


names = st.one_of(
    st.sampled_from(NASTY_NAMES),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn")), min_size=1, max_size=10),
).filter(lambda n: n.lower() not in RESERVED_OUTPUTS and n.strip() == n and n.strip() != "")

thresholds = st.one_of(
    st.sampled_from(SPECIAL_THRESHOLDS),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(width=32, allow_nan=False, allow_infinity=False).map(float),
    st.integers(-(10**6), 10**6).map(lambda i: i / 1000),
    st.integers(-(10**4), 10**4).map(lambda i: i / 8),
).map(lambda v: v + 0.0)

moderate = st.one_of(
    st.sampled_from([0.0, 0.1, -0.1, 0.5, 1.0, -1.0, 3.7, 52000.0, 1e-7, 16777217.0]),
    st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v == 0 or abs(v) >= 1e-100),
    st.integers(-(10**6), 10**6).map(lambda i: i / 1000),
).map(lambda v: v + 0.0)


@dataclass
class Case:
    """A rule set and a table of data for it (plain Python values, None = NULL)."""

    rules: rx.RuleSet
    columns: dict[str, list[Any]]
    kinds: dict[str, str]  # "double", "text" or "int" (an integer column of a categorical feature)
    n_rows: int

    def float32(self) -> Case:
        """The same case with numeric data rounded to float32 (as a FLOAT/REAL column holds it)."""
        cols = {
            n: (
                [None if v is None else _f32(v) for v in vals]
                if self.kinds[n] == "double"
                else vals
            )
            for n, vals in self.columns.items()
        }
        return Case(self.rules, cols, self.kinds, self.n_rows)


def _unique_names(draw: Any, n: int) -> list[str]:
    out: list[str] = []
    keys: set[str] = set()
    while len(out) < n:
        name = draw(names)
        key = name.casefold()
        if key in keys or name.lower() in keys:
            continue
        keys |= {key, name.lower()}
        out.append(name)
    return out


def _interval(draw: Any, feature: str, pool: list[float]) -> rx.Interval:
    values = sorted(set(pool))
    if len(values) >= 2 and draw(st.booleans()):
        i = draw(st.integers(0, len(values) - 2))
        j = draw(st.integers(i + 1, len(values) - 1))
        return rx.Interval(feature, values[i], values[j])
    t = draw(st.sampled_from(values))
    return rx.Interval(feature, t, None) if draw(st.booleans()) else rx.Interval(feature, None, t)


@st.composite
def cases(draw: Any, max_rows: int = 30, projection: bool = True) -> Case:
    n_num = draw(st.integers(1, 4))
    n_cat = draw(st.integers(0, 2))
    all_names = _unique_names(draw, n_num + n_cat + 1)
    num_names, cat_names = all_names[:n_num], all_names[n_num : n_num + n_cat]
    proj_name = all_names[-1]
    int_cats = {n for n in cat_names if draw(st.integers(0, 3)) == 0}
    categories: dict[str, list[str]] = {}
    for n in cat_names:
        pool = INT_CATEGORIES if n in int_cats else NASTY_STRINGS
        extra = st.text(max_size=4).filter(lambda s: "\x00" not in s)
        cats = draw(st.lists(st.one_of(st.sampled_from(pool), extra), min_size=1, max_size=4))
        categories[n] = sorted(set(cats) if n not in int_cats else set(cats) & set(pool) or {"3"})
    pools = {n: draw(st.lists(thresholds, min_size=1, max_size=3)) for n in num_names}

    proj = None
    proj_inputs: list[str] = []
    if projection and n_num >= 2 and draw(st.integers(0, 2)) == 0:
        proj_inputs = num_names[: draw(st.integers(2, n_num))]
        proj = rx.Projection(
            tuple(proj_inputs),
            (proj_name,),
            tuple(draw(moderate) for _ in proj_inputs),
            (tuple(draw(st.sampled_from(PROJECTION_WEIGHTS)) for _ in proj_inputs),),
            # blocks of 2 of 4 inputs sum (a + b) + (c + d), not left to right
            sum_block=draw(st.sampled_from([None, 1, 2, 3])),
        )
        pools[proj_name] = draw(st.lists(moderate, min_size=1, max_size=3))
        # PostgreSQL raises on float overflow/underflow: keep projection inputs moderate
        for n in proj_inputs:
            pools[n] = [v for v in pools[n] if v == 0 or 1e-100 <= abs(v) <= 1e6] or [1.5]

    label_kind = draw(st.sampled_from(["str", "int", "bool"]))
    classes: tuple[Any, ...] = {
        "str": ("yes", "no", "it's"),
        "int": (0, 1, -7),
        "bool": (True, False),
    }[label_kind]

    condition_features = list(pools) + cat_names
    rules = []
    for _ in range(draw(st.integers(1, 6))):
        chosen = draw(
            st.lists(
                st.sampled_from(condition_features),
                min_size=1,
                max_size=min(3, len(condition_features)),
                unique=True,
            )
        )
        conds: list[rx.Interval | rx.InSet] = []
        for f in chosen:
            if f in categories:
                vals = draw(st.lists(st.sampled_from(categories[f]), min_size=1, unique=True))
                conds.append(rx.InSet(f, tuple(vals)))
            else:
                conds.append(_interval(draw, f, pools[f]))
        rules.append(rx.Rule(tuple(conds), draw(st.sampled_from(classes))))

    features = rx.make_features(num_names + cat_names, cat_names, categories)
    rules_set = rx.RuleSet(features, classes, tuple(rules), projection=proj)

    n_rows = draw(st.integers(1, max_rows))
    columns: dict[str, list[Any]] = {}
    kinds: dict[str, str] = {}
    for n in num_names:
        kinds[n] = "double"
        gen = _moderate_value(pools[n]) if n in proj_inputs else _numeric_value(pools[n])
        columns[n] = [draw(gen) for _ in range(n_rows)]
    for n in cat_names:
        if n in int_cats:
            kinds[n] = "int"
            columns[n] = draw(
                st.lists(st.sampled_from([*INT_VALUES, None]), min_size=n_rows, max_size=n_rows)
            )
        else:
            kinds[n] = "text"
            value = st.one_of(
                st.sampled_from(categories[n]),
                st.sampled_from(NASTY_STRINGS),
                st.text(max_size=4).filter(lambda s: "\x00" not in s),
                st.none(),
            )
            columns[n] = draw(st.lists(value, min_size=n_rows, max_size=n_rows))
    return Case(rules_set, columns, kinds, n_rows)


def _numeric_value(pool: list[float]) -> st.SearchStrategy[float | None]:
    near: list[float] = []
    for t in pool:
        near += [t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf), _f32(t)]
        near += _f32_neighbours(t)
    return st.one_of(
        st.sampled_from(near),
        st.sampled_from(near),
        st.sampled_from(
            [math.nan, None, math.inf, -math.inf, 0.0, -0.0, 1e308, -1e308, 5e-324, 1e-310]
        ),
        st.floats(allow_nan=False, allow_infinity=False),
    )


def _moderate_value(pool: list[float]) -> st.SearchStrategy[float | None]:
    near: list[float] = []
    for t in pool:
        near += [t, math.nextafter(t, math.inf), math.nextafter(t, -math.inf), _f32(t)]
    # PostgreSQL raises on float underflow (e.g. 5e-324 * 0.5): no subnormals near 0
    near = [v for v in near if v == 0 or 1e-100 <= abs(v) <= 1e7] or [1.0]
    return st.one_of(
        st.sampled_from(near),
        st.sampled_from([math.nan, None, math.inf, -math.inf, 0.0, 1.0]),
        moderate,
    )


# --- engines -------------------------------------------------------------------------------------


def reference_input(case: Case) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for n, vals in case.columns.items():
        if case.kinds[n] == "double":
            out[n] = np.array([np.nan if v is None else v for v in vals], dtype=np.float64)
        else:
            out[n] = np.array(vals, dtype=object)
    return out


def reference_ids(case: Case) -> list[int]:
    return rx.match(case.rules, reference_input(case)).tolist()


def reference_labels(case: Case) -> list[Any]:
    return list(rx.predict(case.rules, reference_input(case)))


def python_module(rules: rx.RuleSet) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "exported_rules"}
    exec(compile(to_python(rules), "<exported rules>", "exec"), namespace)
    return namespace


def python_ids(case: Case) -> list[int]:
    mod = python_module(case.rules)
    ids = mod["match_columns"](case.columns)
    rows = [{n: vals[i] for n, vals in case.columns.items()} for i in range(case.n_rows)]
    assert [mod["match"](row) for row in rows] == ids
    return ids


def _wrap(sql: str, dialect_quote: str = '"') -> str:
    q = dialect_quote
    return f"SELECT {q}__row{q}, {q}rule_id{q}, {q}prediction{q} FROM ({sql}) AS q ORDER BY {q}__row{q}"


def duckdb_results(con: Any, case: Case, table: str, float32: bool = False) -> tuple[list, list]:
    arrays = arrow_table(case, float32)
    con.register(table, arrays)
    try:
        rows = con.execute(_wrap(to_sql(case.rules, "duckdb", table=table))).fetchall()
        label_sql = to_sql(case.rules, "duckdb", form="label")
        direct = con.execute(f'SELECT {label_sql} FROM "{table}" ORDER BY "__row"').fetchall()
        assert [r[0] for r in direct] == [r[2] for r in rows]
    finally:
        con.unregister(table)
    return [r[1] for r in rows], [r[2] for r in rows]


def arrow_table(case: Case, float32: bool = False) -> Any:
    """The case as an Arrow table with a ``__row`` column (DOUBLE or FLOAT numeric columns)."""
    import pyarrow as pa

    arrays = {"__row": pa.array(range(case.n_rows), pa.int64())}
    for n, vals in case.columns.items():
        kind = case.kinds[n]
        if kind == "double":
            arrays[n] = pa.array(vals, pa.float32() if float32 else pa.float64())
        elif kind == "int":
            arrays[n] = pa.array(vals, pa.int64())
        else:
            arrays[n] = pa.array(vals, pa.string())
    return pa.table(arrays)


def write_parquet(case: Case, path: Any, float32: bool = False, row_group: int = 0) -> None:
    """The case as a parquet file with min/max statistics, in row groups of ``row_group`` rows
    (0: one group, whose statistics cover the whole column)."""
    import pyarrow.parquet as pq

    pq.write_table(arrow_table(case, float32), path, row_group_size=row_group or None)


def duckdb_file_results(
    con: Any, case: Case, path: Any, float32: bool = False, row_group: int = 0
) -> tuple[list, list]:
    """Rule ids and labels with DuckDB reading a parquet file directly (through a view)."""
    write_parquet(case, path, float32, row_group)
    view = f"file_{path.stem}"
    literal = str(path).replace("'", "''")
    con.execute(f"CREATE VIEW \"{view}\" AS SELECT * FROM read_parquet('{literal}')")
    try:
        rows = con.execute(_wrap(to_sql(case.rules, "duckdb", table=view))).fetchall()
    finally:
        con.execute(f'DROP VIEW "{view}"')
    return [r[1] for r in rows], [r[2] for r in rows]


def statistics_trap_cases() -> list[Case]:
    """Rule sets whose every comparison the file's min/max statistics (which leave NaN out)
    call always true: an engine that trusts them answers the NaN rows."""
    x = [math.nan, 1.0, 0.2, None, 0.7]
    sides = [(0.5, None), (None, 2.0), (0.1, 2.0), (-1e300, None)]
    out = []
    for low, high in sides:
        rules = rx.RuleSet(
            rx.make_features(["a"]), (0, 1), (rx.Rule((rx.Interval("a", low, high),), 1),)
        )
        out.append(Case(rules, {"a": x}, {"a": "double"}, len(x)))
    inf = [math.nan, math.inf, -math.inf, 3.0, None]
    for low, high in [(None, 1e308), (-1e308, None), (2.0, None)]:
        rules = rx.RuleSet(
            rx.make_features(["a"]), (0, 1), (rx.Rule((rx.Interval("a", low, high),), 1),)
        )
        out.append(Case(rules, {"a": inf}, {"a": "double"}, len(inf)))
    # min -0.0 and no NULL: DuckDB folds even ISNAN(x) to FALSE with these statistics
    zero = [math.nan, 0.0, -0.0]
    rules = rx.RuleSet(
        rx.make_features(["a"]), (0, 1), (rx.Rule((rx.Interval("a", None, 0.5),), 1),)
    )
    out.append(Case(rules, {"a": zero}, {"a": "double"}, len(zero)))
    proj = rx.Projection(("a", "b"), ("z",), (0.0, 0.0), ((1.0, 1.0),))
    rules = rx.RuleSet(
        rx.make_features(["a", "b"]), (0, 1), (rx.Rule((rx.Interval("z", None, 10.0),), 1),), proj
    )
    cols = {"a": [math.nan, 1.0, 0.5, 0.2], "b": [1.0, 2.0, None, 0.3]}
    out.append(Case(rules, cols, {"a": "double", "b": "double"}, 4))
    return out


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_results(con: Any, case: Case, table: str) -> tuple[list, list]:
    types = {"double": "REAL", "int": "INTEGER", "text": "TEXT"}
    cols = ", ".join(f"{_quote(n)} {types[case.kinds[n]]}" for n in case.columns)
    con.execute(f'CREATE TABLE {_quote(table)} ("__row" INTEGER, {cols})')
    try:
        marks = ", ".join("?" for _ in range(len(case.columns) + 1))
        rows = [(i, *[case.columns[n][i] for n in case.columns]) for i in range(case.n_rows)]
        con.executemany(f"INSERT INTO {_quote(table)} VALUES ({marks})", rows)
        out = con.execute(_wrap(to_sql(case.rules, "sqlite", table=table))).fetchall()
    finally:
        con.execute(f"DROP TABLE {_quote(table)}")
    return [r[1] for r in out], [r[2] for r in out]


def postgres_results(conn: Any, case: Case, table: str, float32: bool = False) -> tuple[list, list]:
    types = {"double": "REAL" if float32 else "DOUBLE PRECISION", "int": "BIGINT", "text": "TEXT"}
    cols = ", ".join(f"{_quote(n)} {types[case.kinds[n]]}" for n in case.columns)
    with conn.cursor() as cur:
        cur.execute(f'CREATE TEMP TABLE {_quote(table)} ("__row" BIGINT, {cols})')
        try:
            marks = ", ".join("%s" for _ in range(len(case.columns) + 1))
            rows = [(i, *[case.columns[n][i] for n in case.columns]) for i in range(case.n_rows)]
            cur.executemany(f"INSERT INTO {_quote(table)} VALUES ({marks})", rows)
            cur.execute(_wrap(to_sql(case.rules, "postgres", table=table)))
            out = cur.fetchall()
        finally:
            cur.execute(f"DROP TABLE {_quote(table)}")
    return [r[1] for r in out], [r[2] for r in out]


def same_labels(got: list[Any], want: list[Any]) -> bool:
    """Labels as the engine returns them (SQLite has no booleans: TRUE is 1)."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if w is None or g is None:
            if g is not w:
                return False
        elif isinstance(w, bool):
            if g not in (w, int(w)) or isinstance(g, str):
                return False
        elif g != w or type(g) is not type(w):
            return False
    return True


def explain(case: Case, got: list[int], want: list[int]) -> str:
    bad = [i for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    lines = [case.rules.describe()]
    for i in bad[:5]:
        row = {n: vals[i] for n, vals in case.columns.items()}
        lines.append(f"row {i}: {row!r}: got {got[i]}, want {want[i]}")
    return "\n".join(lines)


# --- the generators themselves -------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESSED)
@given(cases())
def test_cases_are_valid_and_round_trip(case: Case) -> None:
    text = rx.dumps(case.rules)
    assert rx.loads(text) == case.rules
    assert rx.dumps(rx.loads(text)) == text
    assert set(case.columns) == set(case.rules.feature_names)
    assert all(len(v) == case.n_rows for v in case.columns.values())
    assert len(reference_ids(case)) == case.n_rows
