"""The reference evaluator's inputs and errors, and that rules_export stays light."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rules_export as rx

ROOT = Path(__file__).resolve().parents[2]


def rules() -> rx.RuleSet:
    return rx.RuleSet(
        rx.make_features(["x", "y", "c"], ["c"]),
        ("a", "b"),
        (
            rx.Rule((rx.Interval("x", 0.5, None), rx.InSet("c", ("u", "3"))), "a"),
            rx.Rule((rx.Interval("y", None, 0.0),), "b"),
        ),
    )


def data() -> dict[str, np.ndarray]:
    return {
        "x": np.array([1.0, np.nan, 0.5, np.inf]),
        "y": np.array([5.0, -1.0, np.nan, 0.0]),
        "c": np.array(["u", None, "v", "3"], dtype=object),
    }


def test_match_and_predict() -> None:
    assert rx.match(rules(), data()).tolist() == [0, 1, -1, 0]
    assert rules().predict(data(), default="model").tolist() == ["a", "b", "model", "a"]


def test_data_frames_and_arrow_tables_give_the_same_answer() -> None:
    want = rx.match(rules(), data()).tolist()
    pa = pytest.importorskip("pyarrow")
    assert rx.match(rules(), pa.table(data())).tolist() == want
    pd = pytest.importorskip("pandas")
    assert rx.match(rules(), pd.DataFrame(data())).tolist() == want
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"x": data()["x"], "y": data()["y"], "c": ["u", None, "v", "3"]})
    assert rx.match(rules(), frame).tolist() == want
    ints = dict(data(), c=np.array([7, 3, 3, 3], dtype=object))
    assert rx.match(rules(), ints).tolist() == [-1, 1, -1, 0]  # 3 matches "3"


def test_missing_column_is_named() -> None:
    d = data()
    del d["y"]
    with pytest.raises(rx.InputError, match="missing column 'y'"):
        rx.match(rules(), d)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros(3), "expected a 2-D array of rows x features, got shape \\(3,\\)"),
        (np.zeros((3, 2)), "array has 2 columns but the rule set has 3 features"),
        (np.zeros((2, 3, 1)), "expected a 2-D array"),
        (
            {"x": np.zeros((2, 2)), "y": [1, 2], "c": ["u", "u"]},
            "column 'x' must be one-dimensional",
        ),
        ({"x": [1.0, 2.0], "y": [1.0], "c": ["u", "u"]}, "column 'y' has 1 rows, expected 2"),
        ("not data", "cannot read columns from str"),
    ],
)
def test_wrong_shapes_are_named(X, message: str) -> None:
    with pytest.raises(rx.InputError, match=message):
        rx.match(rules(), X)


def test_non_numeric_value_names_column_and_row() -> None:
    d = dict(data(), x=np.array([1.0, 2.0, "abc", 3.0], dtype=object))
    with pytest.raises(rx.InputError, match=r"column 'x', row 2: 'abc' is not a number"):
        rx.match(rules(), d)
    d = dict(data(), y=["1", "2", "3", "4"])  # a string array
    with pytest.raises(rx.InputError, match=r"column 'y', row 0: .*'1'.* is not a number"):
        rx.match(rules(), d)
    d = dict(data(), c=np.array(["u", 1.5, "v", "3"], dtype=object))
    with pytest.raises(rx.InputError, match=r"column 'c', row 1: 1.5 is not a string"):
        rx.match(rules(), d)
    d = dict(data(), x=np.array([1.0, 10**400, 1.0, 1.0], dtype=object))
    with pytest.raises(rx.InputError, match=r"column 'x', row 1: .* is not a float64 number"):
        rx.match(rules(), d)


def test_input_error_is_a_value_error() -> None:
    assert issubclass(rx.InputError, ValueError) and issubclass(rx.RuleSetError, ValueError)


def test_rules_export_imports_without_the_engine_or_heavy_libraries() -> None:
    code = textwrap.dedent(
        """
        import sys
        for name in ("numba", "scipy", "sklearn", "rulecascade", "pandas", "polars", "pyarrow",
                     "duckdb", "click", "tqdm", "cupy", "pyspark", "jsonschema"):
            sys.modules[name] = None  # importing any of them now raises ImportError
        import rules_export as rx
        rs = rx.RuleSet(rx.make_features(["a b", "c"], ["c"]), ("y", "n"),
                        (rx.Rule((rx.Interval("a b", 0.5, None), rx.InSet("c", ("q",))), "y"),))
        assert rx.loads(rx.dumps(rs)) == rs
        for d in ("duckdb", "postgres", "sqlite", "snowflake", "bigquery", "spark", "tsql", "mysql"):
            assert "CASE WHEN" in rx.to_sql(rs, d, table="t")
        compile(rx.to_python(rs), "m.py", "exec")
        print(rx.match(rs, {"a b": [1.0, 0.0], "c": ["q", "q"]}).tolist())
        """
    )
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[0, -1]"


def test_vectorized_in_set_equals_the_plain_definition() -> None:
    from rules_export.reference import condition_mask, input_columns

    rng = np.random.default_rng(5)
    values = np.array(rng.choice(["u", "v", "3", "", None], size=500), dtype=object)
    rs = rx.RuleSet(
        rx.make_features(["c"], ["c"]),
        ("a",),
        tuple(rx.Rule((rx.InSet("c", s),), "a") for s in [("u",), ("zz",), ("", "3"), ("v", "u")]),
    )
    cols, n = input_columns(rs, {"c": values})
    want = np.full(n, -1)
    for k in range(len(rs.rules) - 1, -1, -1):
        want[condition_mask(rs.rules[k].conditions[0], cols["c"])] = k
    assert rx.match(rs, {"c": values}).tolist() == want.tolist()


def test_arrow_dictionary_and_nullable_integer_columns() -> None:
    """Null slots of dictionary columns match nothing (pyarrow's to_numpy fills them with a
    dictionary value); integer columns with nulls are categorical codes, not floats; decimal
    columns are numbers. Every input kind gives rulecascade.match's answer."""
    import decimal

    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from rulecascade import match

    cat = rx.RuleSet(
        rx.make_features(["c"], ["c"]), ("y",), (rx.Rule((rx.InSet("c", ("a",)),), "y"),)
    )
    for t in (
        pa.table({"c": pa.array(["a", None, "b"]).dictionary_encode()}),
        pa.Table.from_pandas(pd.DataFrame({"c": pd.Categorical(["a", None, "b"])})),
    ):
        assert rx.match(cat, t).tolist() == [0, -1, -1]
        assert match(cat, t, device="cpu").tolist() == [0, -1, -1]
    code = rx.RuleSet(
        rx.make_features(["c"], ["c"]), ("y",), (rx.Rule((rx.InSet("c", ("42",)),), "y"),)
    )
    for X in (
        pa.table({"c": pa.array([42, None, 7])}),
        pa.table({"c": pa.array([42, None, 7], pa.uint64())}),
        pl.DataFrame({"c": [42, None, 7]}),
        pd.DataFrame({"c": pd.array([42, None, 7], dtype="Int64")}),
    ):
        assert rx.match(code, X).tolist() == [0, -1, -1], type(X)
        assert match(code, X, device="cpu").tolist() == [0, -1, -1], type(X)
    num = rx.RuleSet(
        rx.make_features(["x"]), ("y",), (rx.Rule((rx.Interval("x", 0.5, None),), "y"),)
    )
    d = pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("0.10")], pa.decimal128(5, 2))
    assert rx.match(num, pa.table({"x": d})).tolist() == [0, -1, -1]
    assert match(num, pa.table({"x": d}), device="cpu").tolist() == [0, -1, -1]


def test_mappings_of_lists_keep_each_value_type() -> None:
    """A list with mixed values stays as given: NaN is missing, not the string "nan"."""
    from rulecascade import match

    rs = rx.RuleSet(
        rx.make_features(["c"], ["c"]), ("y",), (rx.Rule((rx.InSet("c", ("nan", "3")),), "y"),)
    )
    for X, want in (
        ({"c": [float("nan"), "a"]}, [-1, -1]),
        ({"c": [3, float("nan")]}, [0, -1]),
        ({"c": ["3", None]}, [0, -1]),
        ({"c": (3, "nan")}, [0, 0]),
    ):
        assert rx.match(rs, X).tolist() == want, X
        assert match(rs, X, device="cpu").tolist() == want, X


def test_nul_characters_are_refused_where_sql_would_hold_them() -> None:
    """SQLite refuses a query with NUL, PostgreSQL cuts it there: categories and string
    labels may not hold one (feature names never could)."""
    with pytest.raises(rx.RuleSetError, match="class label .* NUL"):
        rx.RuleSet(rx.make_features(["c"], ["c"]), ("y\x00",), ())
    with pytest.raises(rx.RuleSetError, match="category .* NUL"):
        rx.Feature("c", "categorical", ("a\x00b",))
    with pytest.raises(rx.RuleSetError, match="value .* NUL"):
        rx.InSet("c", ("a\x00",))
