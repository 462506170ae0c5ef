"""End to end: RuleLearner's rule set served by a Cascade in front of a scikit-learn model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rulecascade import Cascade
from rulecascade.serve import match
from rules_export.reference import match as reference_match


def test_learned_rules_in_a_cascade_on_breast_cancer():
    learner_mod = pytest.importorskip("rulecascade.learn.estimator")
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    fit_rows = test_rows = np.arange(len(X))  # serving is under test here, not generalization
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = learner_mod.RuleLearner(max_error=0.05, certify=False, random_state=0)
        learner.fit(X.iloc[fit_rows], y.iloc[fit_rows])
    rules = learner.rules_
    if len(rules) == 0:
        pytest.skip("the learner kept no rule on this split")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X.iloc[fit_rows], y.iloc[fit_rows])

    X_test = X.iloc[test_rows]
    calls = []

    def tail(rows):
        calls.append(rows)
        return model.predict(rows)

    cascade = Cascade(rules, tail)
    pred, rule = cascade.predict(X_test, return_rule=True)
    idx = reference_match(rules, X_test)
    np.testing.assert_array_equal(rule, idx)
    np.testing.assert_array_equal(match(rules, X_test.to_numpy()), idx)  # schema-order array
    labels = np.array([r.label for r in rules.rules])
    np.testing.assert_array_equal(pred[idx >= 0], labels[idx[idx >= 0]])
    np.testing.assert_array_equal(pred[idx < 0], model.predict(X_test[idx < 0]))
    assert pred.dtype == np.int64
    assert len(calls) <= 1 and sum(len(c) for c in calls) == int((idx < 0).sum())
    assert cascade.stats.covered == int((idx >= 0).sum()) > 0


def test_lda_rules_on_an_embedding_column_in_a_cascade_and_in_duckdb():
    """Digits' 64 pixels as one Arrow fixed-size list column (an embedding): rules learned on
    its discriminant directions, served by a Cascade, and the exported SQL gives the same rule
    on every held-out row in DuckDB."""
    import duckdb
    import pyarrow as pa
    from sklearn.datasets import load_digits

    from rulecascade import RuleLearner
    from rules_export import to_sql

    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    cal, test = order[:1200], order[1200:]

    def table(rows):
        flat = pa.array(X[rows].astype(np.float32).ravel())
        return pa.table({"emb": pa.FixedSizeListArray.from_arrays(flat, 64)})

    learner = RuleLearner(max_error=0.2, projection="lda", random_state=0)
    learner.fit(table(cal), y[cal])
    rules = learner.rules_
    p = rules.projection
    assert rules.guarantee.certified and len(rules) > 0
    assert p.outputs == tuple(f"ld{j}" for j in range(9)) and p.inputs[0] == "emb_0"

    t_test = table(test)
    idx = learner.match(t_test)
    cols = {f"emb_{j}": X[test, j].astype(np.float32).astype(np.float64) for j in range(64)}
    np.testing.assert_array_equal(idx, reference_match(rules, cols))
    labels = np.array([r.label for r in rules.rules])
    covered = idx >= 0
    assert covered.mean() > 0.5
    assert np.mean(labels[idx[covered]] == y[test][covered]) >= 0.8

    calls = []

    def tail(batch):  # the uncovered rows, as the type passed in: an Arrow table here
        calls.append(batch.num_rows)
        return np.zeros(batch.num_rows, np.int64)

    pred, rule = Cascade(rules, tail).predict(t_test, return_rule=True)
    np.testing.assert_array_equal(rule, idx)
    assert np.all(pred[~covered] == 0) and calls == [int((~covered).sum())]
    np.testing.assert_array_equal(pred[covered], labels[idx[covered]])

    con = duckdb.connect()
    con.register("input", pa.table(cols))
    got = con.execute(f"SELECT rule_id FROM ({to_sql(rules, 'duckdb')})").fetchnumpy()["rule_id"]
    np.testing.assert_array_equal(np.asarray(got, dtype=np.int64), idx)


def test_rules_on_a_1024_dimensional_embedding_run_in_duckdb_and_sqlite():
    """A projection of 1,030 inputs is summed in blocks of 256 (format 1.1), so its SQL nests
    about 260 levels deep: DuckDB and SQLite refuse more than 1,000, which a left-to-right sum
    of 1,030 terms is. Every evaluator gives the learner's rule on every row."""
    import json
    import sqlite3

    import duckdb
    import pyarrow as pa

    from rulecascade import RuleLearner
    from rulecascade.learn.projection import SUM_BLOCK
    from rules_export import dumps, to_python, to_sql

    rng = np.random.default_rng(0)
    n, d = 6000, 1030
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    learner = RuleLearner(max_error=0.1, projection="lda", n_components=1, random_state=0)
    learner.fit(X[:5000], y[:5000])
    rules = learner.rules_
    assert len(rules) > 0 and rules.projection.sum_block == SUM_BLOCK == 256
    assert len(rules.projection.blocks()) == 5
    assert json.loads(dumps(rules))["format_version"] == "1.1"

    test = X[5000:5600]
    idx = learner.match(test)
    assert 0 < np.mean(idx >= 0)
    cols = {name: test[:, j].astype(np.float64) for j, name in enumerate(rules.feature_names)}
    np.testing.assert_array_equal(reference_match(rules, cols), idx)
    ns: dict = {}
    exec(compile(to_python(rules), "<rules>", "exec"), ns)
    assert ns["match_columns"]({k: v.tolist() for k, v in cols.items()}) == idx.tolist()

    table = pa.table(cols)
    con = duckdb.connect()
    con.register("input", table)
    got = con.execute(f"SELECT rule_id FROM ({to_sql(rules, 'duckdb')})").fetchnumpy()["rule_id"]
    np.testing.assert_array_equal(np.asarray(got, dtype=np.int64), idx)

    lite = sqlite3.connect(":memory:")
    names = ", ".join(f'"{c}" REAL' for c in cols)
    lite.execute(f'CREATE TABLE "input" ({names})')
    marks = ", ".join("?" * len(cols))
    rows = zip(*(v.tolist() for v in cols.values()), strict=True)
    lite.executemany(f'INSERT INTO "input" VALUES ({marks})', rows)
    got = [r[0] for r in lite.execute(f"SELECT rule_id FROM ({to_sql(rules, 'sqlite')})")]
    assert got == idx.tolist()
