"""Serving inputs: frames read column by column (codes, masks, chunks) give the reference's
answer; unusual Python values get one answer from every evaluator; warmup compiles the kernels."""

from __future__ import annotations

import decimal
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import rulecascade
from rulecascade import Cascade
from rulecascade.data import count_rows
from rulecascade.serve.compile import compile_rules
from rulecascade.serve.inputs import frame_matrix
from rules_export import Feature, InputError, InSet, Interval, Rule, RuleSet
from rules_export.python_src import to_python
from rules_export.reference import match as reference_match

ROOT = Path(__file__).resolve().parents[2]


def mixed_rules() -> RuleSet:
    feats = (
        Feature("a"),
        Feature("b"),
        Feature("wide"),  # never read by a rule
        Feature("c", kind="categorical", categories=("p", "q", "r")),
    )
    rules = (
        Rule((Interval("a", 0.5, None), InSet("c", ("p", "zz"))), 1),
        Rule((Interval("b", None, 0.0),), 0),
        Rule((InSet("c", ("q",)), Interval("a", -1.0, 3.0)), 1),
    )
    return RuleSet(feats, (0, 1), rules)


def columns(n: int = 600, seed: int = 3) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 1.5, n).astype(np.float32)
    a[rng.random(n) < 0.1] = np.nan
    b = rng.normal(0.5, 1.0, n)
    cats = np.array(["p", "q", "r", "s", None], dtype=object)[rng.integers(0, 5, n)]
    return {"a": a, "b": b, "wide": rng.normal(size=n), "c": cats}


def frames(cols: dict) -> dict[str, object]:
    """The same data as numpy-backed and nullable pandas, polars and chunked Arrow frames,
    with the categorical column as each library's own categorical type."""
    n = len(cols["a"])
    cat = pd.Categorical(cols["c"])
    nullable = pd.DataFrame(
        {
            "a": pd.array([None if np.isnan(v) else float(v) for v in cols["a"]], "Float32"),
            "b": pd.array(cols["b"], dtype="Float64"),
            "wide": cols["wide"],
            "c": cat,
        }
    )
    plain = pd.DataFrame({"a": cols["a"], "b": cols["b"], "wide": cols["wide"], "c": cat})
    pl_cat = pl.DataFrame(
        {
            "a": cols["a"],
            "b": cols["b"],
            "wide": cols["wide"],
            "c": pl.Series(list(cols["c"]), dtype=pl.Categorical),
        }
    )
    pl_enum = pl_cat.with_columns(pl.col("c").cast(pl.String).cast(pl.Enum(["s", "r", "q", "p"])))
    half = n // 2
    arrow = pa.Table.from_batches(
        [
            pa.RecordBatch.from_pydict(
                {
                    "a": pa.array(cols["a"][s], from_pandas=True),
                    "b": pa.array(cols["b"][s]),
                    "wide": pa.array(cols["wide"][s]),
                    "c": pa.array(list(cols["c"][s])).dictionary_encode(),
                }
            )
            for s in (slice(0, half), slice(half, n))
        ]
    )
    return {
        "pandas": plain,
        "pandas nullable": nullable,
        "polars categorical": pl_cat,
        "polars enum": pl_enum,
        "arrow chunks": arrow,
    }


@pytest.mark.parametrize("kind", list(frames(columns(8))))
def test_frames_read_through_codes_and_masks_match_the_reference(kind: str) -> None:
    rs = mixed_rules()
    cols = columns()
    want = reference_match(rs, cols)
    assert (want >= 0).any() and (want < 0).any()
    X = frames(cols)[kind]
    cr = compile_rules(rs)
    M = frame_matrix(cr, X)
    assert M is not None  # the fast reading, not the general conversion
    assert M.shape == (len(cols["a"]), len(cr.columns))
    assert M.dtype == np.float64  # "b" is float64: the wider type for every column
    assert rulecascade.match(rs, X).tolist() == want.tolist()
    assert reference_match(rs, X).tolist() == want.tolist()
    pred = Cascade(rs, lambda rows: np.zeros(len(rows), dtype=np.int64)).predict(X)
    labels = np.array([r.label for r in rs.rules])
    assert pred.tolist() == np.where(want >= 0, labels[want], 0).tolist()


def test_only_used_columns_are_read() -> None:
    rs = mixed_rules()
    cols = columns(50)
    df = pd.DataFrame(cols)
    df["wide"] = ["not a number"] * 50  # unused: never converted, so never refused
    df["extra"] = [object()] * 50
    assert rulecascade.match(rs, df).tolist() == reference_match(rs, cols).tolist()


def test_a_column_without_fast_reading_takes_the_general_path_alone() -> None:
    rs = mixed_rules()
    cols = columns(80)
    df = pd.DataFrame(dict(cols, c=list(cols["c"])))  # object strings: general conversion
    assert rulecascade.match(rs, df).tolist() == reference_match(rs, cols).tolist()
    bad = pd.DataFrame(dict(cols, c=pd.Categorical([1.5] * 80)))
    with pytest.raises(InputError, match="'c'"):
        rulecascade.match(rs, bad)


# --- unusual Python values: one answer from every evaluator -----------------------------------


def evaluators(rs: RuleSet):
    ns: dict = {}
    exec(compile(to_python(rs), "<rules>", "exec"), ns)

    def rows(cols):
        n = len(next(iter(cols.values())))
        return [ns["match"]({k: v[i] for k, v in cols.items()}) for i in range(n)]

    return {
        "kernel": lambda cols: rulecascade.match(rs, cols).tolist(),
        "cascade": lambda cols: (
            Cascade(rs, lambda r: np.zeros(count_rows(r), dtype=np.int64))
            .predict(cols, return_rule=True)[1]
            .tolist()
        ),
        "reference": lambda cols: reference_match(rs, cols).tolist(),
        "RuleSet.match": lambda cols: rs.match(cols).tolist(),
        "match_columns": lambda cols: list(ns["match_columns"](cols)),
        "module match": rows,
    }


def test_bytes_categorical_values_are_refused_everywhere() -> None:
    rs = mixed_rules()
    for cols in (
        {"a": [1.0, 1.0], "b": [1.0, 1.0], "c": [b"p", b"q"]},
        {"a": [1.0, 1.0], "b": [1.0, 1.0], "c": [b"p", "q"]},
    ):
        for ev in evaluators(rs).values():
            # the exported module has its own InputError; both are ValueErrors
            with pytest.raises(ValueError, match=r"column 'c'.*b'p' is not a string"):
                ev(cols)


def test_decimal_numbers_are_read_as_float_everywhere() -> None:
    rs = mixed_rules()
    D = decimal.Decimal
    cols = {
        "a": [D("0.5"), D("0.5000000000000001"), D("NaN"), None, D("2")],
        "b": [D("1"), D("1"), D("1"), D("-0"), D("1")],
        "c": ["p", "p", "p", "p", "q"],
    }
    answers = {name: ev(cols) for name, ev in evaluators(rs).items()}
    assert answers["reference"] == [-1, 0, -1, 1, 2]
    assert all(a == answers["reference"] for a in answers.values()), answers


def embedding_rules() -> RuleSet:
    feats = (Feature("e_0"), Feature("e_1"), Feature("e_10"))
    rules = (
        Rule((Interval("e_1", 0.5, None),), 1),
        Rule((Interval("e_10", None, 0.0), Interval("e_0", None, 1.0)), 0),
    )
    return RuleSet(feats, (0, 1), rules)


def test_embedding_list_columns_are_expanded_everywhere() -> None:
    rs = embedding_rules()
    lists = [[0.0] * 11, [2.0, 1.0] + [5.0] * 9, None, [0.0, 0.0] + [-1.0] * 9]
    cols = {"e": lists}
    answers = {name: ev(cols) for name, ev in evaluators(rs).items()}
    assert answers["reference"] == [1, 0, -1, 1]
    flat = {f"e_{i}": [None if r is None else r[i] for r in lists] for i in (0, 1, 10)}
    assert answers["reference"] == reference_match(rs, flat).tolist()
    assert all(a == answers["reference"] for a in answers.values()), answers
    ragged = {"e": [[0.0] * 11, [0.0] * 3]}
    for name, ev in evaluators(rs).items():
        if name == "module match":
            continue  # one row at a time: no other row to compare lengths with
        with pytest.raises(ValueError, match="different lengths"):
            ev(ragged)
    short = {"e": [[0.0, 1.0], [1.0, 0.0]]}  # no element 10
    for ev in evaluators(rs).values():
        with pytest.raises(ValueError, match="missing column 'e_10'"):
            ev(short)


# --- warm-up -----------------------------------------------------------------------------------


def test_warmup_command_prepares_every_serving_kernel(tmp_path: Path) -> None:
    env = dict(os.environ, RULECASCADE_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-m", "rulecascade", "warmup"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr
    assert "[16/16]" in run.stderr and "serving kernels ready" in run.stderr
    assert list(tmp_path.rglob("*.nbi"))  # written to the cache it was given
    # a fresh process on that cache: no first-use compile warning, same answers on any layout
    code = (
        "import logging, numpy as np, rulecascade\n"
        "from rules_export import Feature, Interval, Rule, RuleSet\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "rs = RuleSet((Feature('a'), Feature('b')), (0, 1),"
        " (Rule((Interval('a', 0.5, None),), 1),))\n"
        "X = np.array([[1.0, 0.0], [0.0, 1.0], [np.nan, 2.0]])\n"
        "W = np.zeros((3, 4)); W[:, ::2] = X\n"
        "outs = [rulecascade.match(rs, M).tolist() for M in"
        " (X, np.asfortranarray(X), X.astype(np.float32), W[:, ::2])]\n"
        "assert all(o == [0, -1, -1] for o in outs), outs\n"
    )
    after = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert after.returncode == 0, after.stderr
    assert "compiling the rule kernels" not in after.stderr


def test_a_read_only_matrix_is_evaluated_like_a_writable_one():
    """Arrays from pandas/Arrow are often read-only: the layout-generic kernels accept them."""
    from rulecascade.serve import match
    from rules_export import Feature, Interval, Rule, RuleSet
    from rules_export.reference import match as reference_match

    rs = RuleSet((Feature("a"), Feature("b")), (0, 1), (Rule((Interval("a", 0.5, None),), 1),))
    X = np.random.default_rng(0).normal(size=(50, 2))
    for A in (X, np.asfortranarray(X), X.astype(np.float32)):
        ro = A.copy(order="K")
        ro.setflags(write=False)
        np.testing.assert_array_equal(match(rs, ro), reference_match(rs, A))
