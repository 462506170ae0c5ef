"""Proof that every evaluator gives the same rule index on 100% of rows.

Reference (numpy), the exported Python module, DuckDB (DOUBLE and FLOAT columns, in memory and
parquet files read directly, whose min/max statistics leave NaN out), SQLite and PostgreSQL
(DOUBLE PRECISION and REAL columns; a real server started for the session) evaluate random
rule sets (test_export_cases.cases) on hostile data. For FLOAT/REAL columns the data are
float32 values and the reference gets the same values upcast to float64.
"""

from __future__ import annotations

import itertools
import math
import random
import sqlite3
import struct

import pytest
from hypothesis import given, settings

try:
    from test_export_cases import (
        SUPPRESSED,
        Case,
        cases,
        duckdb_file_results,
        duckdb_results,
        explain,
        postgres_results,
        python_ids,
        reference_ids,
        reference_labels,
        same_labels,
        sqlite_results,
        statistics_trap_cases,
    )
except ImportError:  # tests/ imported as a package
    from tests.export.test_export_cases import (  # type: ignore[no-redef]
        SUPPRESSED,
        Case,
        cases,
        duckdb_file_results,
        duckdb_results,
        explain,
        postgres_results,
        python_ids,
        reference_ids,
        reference_labels,
        same_labels,
        sqlite_results,
        statistics_trap_cases,
    )

import rules_export as rx
from rules_export.sql import _Renderer

EXAMPLES = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=SUPPRESSED,
)
_names = (f"t_{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def duck():
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    yield con
    con.close()


@pytest.fixture(scope="module")
def lite():
    con = sqlite3.connect(":memory:")
    yield con
    con.close()


def check(case: Case, engine: str, ids: list[int], labels: list | None = None) -> None:
    want = reference_ids(case)
    assert ids == want, f"{engine} disagrees with the reference:\n{explain(case, ids, want)}"
    if labels is not None:
        assert same_labels(labels, reference_labels(case)), f"{engine} labels: {labels}"


@EXAMPLES
@given(cases())
def test_python_module_agrees(case: Case) -> None:
    check(case, "exported Python", python_ids(case))
    check(case.float32(), "exported Python (float32 data)", python_ids(case.float32()))


@EXAMPLES
@given(case=cases())
def test_duckdb_double_and_float_columns_agree(duck, case: Case) -> None:
    ids, labels = duckdb_results(duck, case, next(_names))
    check(case, "DuckDB DOUBLE", ids, labels)
    c32 = case.float32()
    ids, labels = duckdb_results(duck, c32, next(_names), float32=True)
    check(c32, "DuckDB FLOAT", ids, labels)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tmp_path_factory.mktemp("parquet")


@EXAMPLES
@given(case=cases())
def test_duckdb_on_parquet_files_agrees(duck, files, case: Case) -> None:
    ids, labels = duckdb_file_results(duck, case, files / f"{next(_names)}.parquet")
    check(case, "DuckDB on a parquet file (DOUBLE)", ids, labels)
    c32 = case.float32()
    path = files / f"{next(_names)}.parquet"
    ids, labels = duckdb_file_results(duck, c32, path, float32=True, row_group=3)
    check(c32, "DuckDB on a parquet file (FLOAT)", ids, labels)


@pytest.mark.parametrize("k", range(9))
def test_parquet_statistics_do_not_let_nan_match(duck, files, k) -> None:
    case = statistics_trap_cases()[k]
    want = reference_ids(case)
    assert want[0] == -1  # the first row is NaN (or a NaN sum): no rule
    for float32, row_group in itertools.product((False, True), (0, 2)):
        path = files / f"trap_{k}_{float32}_{row_group}.parquet"
        got = duckdb_file_results(duck, case, path, float32, row_group)[0]
        assert got == want, (float32, row_group)
    assert duckdb_results(duck, case, next(_names))[0] == want
    assert python_ids(case) == want


@EXAMPLES
@given(case=cases())
def test_sqlite_agrees(lite, case: Case) -> None:
    ids, labels = sqlite_results(lite, case, next(_names))
    check(case, "SQLite", ids, labels)


@pytest.mark.postgres
@EXAMPLES
@given(case=cases())
def test_postgres_double_and_real_columns_agree(pg, case: Case) -> None:
    ids, labels = postgres_results(pg, case, next(_names))
    check(case, "PostgreSQL DOUBLE PRECISION", ids, labels)
    c32 = case.float32()
    ids, labels = postgres_results(pg, c32, next(_names), float32=True)
    check(c32, "PostgreSQL REAL", ids, labels)


# --- threshold literals: each engine reads back the exact float64 -----------------------------


def _random_doubles(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out = [5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1, 1e23, 2.0**53]
    out += [6.303107449006717e-309, 5.91621733490289e303, 9007199254740993.0, 2.0**63, 2.0**64]
    while len(out) < n:
        v = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(v):
            out.append(v)
        digits = rng.randint(1, 17)
        out.append(float(f"{rng.random() * 10.0 ** rng.randint(-30, 30):.{digits}g}"))
        out.append(float(rng.randint(-(2**53), 2**53)))
    return out


def _literal_sql(dialect: str, values: list[float]) -> str:
    rules = rx.RuleSet(rx.make_features(["x"]), ("a",))
    r = _Renderer(rules, dialect, None, None)
    return "SELECT " + ", ".join(r.render(r.number(v)) for v in values)


def _assert_exact(values: list[float], got: tuple) -> None:
    bad = [(v, g) for v, g in zip(values, got, strict=True) if g != v]
    assert not bad, f"{len(bad)} literals read back wrongly, e.g. {bad[:3]}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", "postgres"])
def test_threshold_literals_are_exact(engine, request) -> None:
    values = _random_doubles(3000, seed=len(engine))
    for i in range(0, len(values), 500):
        chunk = values[i : i + 500]
        sql = _literal_sql(engine, chunk)
        if engine == "duckdb":
            got = request.getfixturevalue("duck").execute(sql).fetchall()[0]
        elif engine == "sqlite":
            got = request.getfixturevalue("lite").execute(sql).fetchone()
        else:
            got = request.getfixturevalue("pg").execute(sql).fetchone()
        _assert_exact(chunk, got)


def test_duckdb_compares_float_column_with_decimal_in_float32(duck) -> None:
    """Why columns are cast: without the casts DuckDB gets 0.1 vs a FLOAT column wrong."""
    row = duck.execute(
        "SELECT CAST(0.1 AS FLOAT) > 0.1, CAST(CAST(0.1 AS FLOAT) AS DOUBLE) > 0.1E0"
    )
    naive, exported = row.fetchall()[0]
    assert exported is True  # float32(0.1) = 0.100000001490116... > 0.1
    if naive is True:
        pytest.skip("this DuckDB compares FLOAT with a DECIMAL literal in double precision")


def test_nan_sorts_above_infinity_where_guarded(duck, pg) -> None:
    rules = rx.RuleSet(
        rx.make_features(["x"]), ("a",), (rx.Rule((rx.Interval("x", 0.5, None),), "a"),)
    )
    for con in (duck, pg):
        naive = con.execute("SELECT CAST('NaN' AS DOUBLE PRECISION) > 0.5").fetchall()[0][0]
        assert naive is True  # the trap the guard avoids
    case = Case(rules, {"x": [math.nan, math.inf, 1.0, None, 0.5]}, {"x": "double"}, 5)
    want = [-1, 0, 0, -1, -1]
    assert reference_ids(case) == want
    assert duckdb_results(duck, case, next(_names))[0] == want
    assert postgres_results(pg, case, next(_names))[0] == want
    assert python_ids(case) == want


# --- projection sums in blocks (format 1.1) ---------------------------------------------------


def _cancelling_projection(sum_block: int | None) -> Case:
    """z = a + b + c + d on a row where the order of the sum decides the answer: left to right
    ((1e16 + 1) - 1e16) + 1 is 1; in blocks of two (1e16 + 1) + (-1e16 + 1) is 0 (each block
    rounds its 1 away). One rule, z > 0.5."""
    names = ("a", "b", "c", "d")
    proj = rx.Projection(names, ("z",), (0.0,) * 4, ((1.0,) * 4,), sum_block=sum_block)
    rules = rx.RuleSet(
        rx.make_features(names), ("y",), (rx.Rule((rx.Interval("z", 0.5, None),), "y"),), proj
    )
    row = (1e16, 1.0, -1e16, 1.0)
    return Case(
        rules, {n: [v] for n, v in zip(names, row, strict=True)}, dict.fromkeys(names, "double"), 1
    )


@pytest.mark.parametrize("sum_block, want", [(None, 0), (4, 0), (2, -1), (1, 0)])
def test_every_engine_sums_a_projection_in_its_blocks(duck, lite, pg, sum_block, want) -> None:
    case = _cancelling_projection(sum_block)
    assert reference_ids(case) == [want]
    assert python_ids(case) == [want]
    assert duckdb_results(duck, case, next(_names))[0] == [want]
    assert sqlite_results(lite, case, next(_names))[0] == [want]
    assert postgres_results(pg, case, next(_names))[0] == [want]


def _exact_projection_case(
    n_inputs: int, sum_block: int | None, seed: int, pool: list[float]
) -> Case:
    """Rows each matched by their own rule, an interval one ulp wide around the row's projected
    value as the reference computes it: an engine that computes any other bits for a row (a
    wrong order of operations, a literal read wrongly) answers it with another rule or none."""
    rng = random.Random(seed)
    names = tuple(f"e{i}" for i in range(n_inputs))
    proj = rx.Projection(
        names,
        ("z",),
        tuple(rng.choice([0.1, -0.25, 0.7, 1 / 3, rng.gauss(0, 1)]) for _ in names),
        (tuple(rng.choice(pool) for _ in names),),
        sum_block=sum_block,
    )
    n_rows = 20
    cols = {n: [rng.gauss(0, 1) * 10.0 ** rng.randint(-3, 3) for _ in range(n_rows)] for n in names}
    z = []
    for k in range(n_rows):  # the format's order: blocks left to right, each left to right
        acc = 0.0
        for start, stop in proj.blocks():
            part = 0.0
            for i in range(start, stop):
                part = part + (cols[names[i]][k] - proj.mean[i]) * proj.weights[0][i]
            acc = acc + part
        z.append(acc)
    rules = tuple(
        rx.Rule((rx.Interval("z", math.nextafter(v, -math.inf), v),), k % 2)
        for k, v in enumerate(z)
    )
    rs = rx.RuleSet(rx.make_features(names), (0, 1), rules, proj)
    return Case(rs, cols, dict.fromkeys(names, "double"), n_rows)


# weights of one magnitude, so that no term's last bits vanish in the sum; and tiny ones
_SIMILAR = [0.1, -0.1, 0.7, 1 / 3, 3.7, -1.3, 0.3]
_TINY = [1e-300, -3e-310, 2.0**-1000 / 3]


@pytest.mark.parametrize(
    "n_inputs, sum_block, pool",
    [(1, None, _SIMILAR), (1, None, _TINY), (3, None, _SIMILAR), (6, 4, _SIMILAR)]
    + [(300, 256, _SIMILAR)],
)
def test_projected_values_are_the_same_bits_on_every_engine(
    duck, lite, pg, n_inputs, sum_block, pool
) -> None:
    case = _exact_projection_case(n_inputs, sum_block, n_inputs, pool)
    want = reference_ids(case)
    assert want == list(range(case.n_rows))  # each row meets its own rule first
    assert python_ids(case) == want
    assert duckdb_results(duck, case, next(_names))[0] == want
    assert sqlite_results(lite, case, next(_names))[0] == want
    assert postgres_results(pg, case, next(_names))[0] == want
