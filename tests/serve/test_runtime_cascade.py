"""Cascade: rules first, the model once per batch on exactly the uncovered rows, in order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from rulecascade import Cascade, CascadeError
from rules_export import Feature, InSet, Interval, Rule, RuleSet
from rules_export.reference import match as reference_match

FEATURES = (Feature("a"), Feature("b"), Feature("c", "categorical", ("p", "q", "r")))
RULES = RuleSet(
    FEATURES,
    (0, 1, 2),
    (
        Rule((Interval("a", 0.5, None),), 1),
        Rule((Interval("b", None, -1.0), InSet("c", ("p", "q"))), 0),
        Rule((Interval("a", None, -1.5),), 1),
    ),
)


class Recorder:
    """A model that records what it was called with and answers 2 for every row."""

    def __init__(self, label=2):
        self.calls = []
        self.label = label
        self.lock = threading.Lock()

    def __call__(self, rows):
        with self.lock:
            self.calls.append(rows)
        n = rows.num_rows if hasattr(rows, "num_rows") else len(rows)
        return np.full(n, self.label)

    def __repr__(self):
        return "Recorder()"


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(size=n),
        "b": rng.normal(size=n),
        "c": list(rng.choice(np.array(["p", "q", "r", "zz", None], dtype=object), n)),
    }


def _expected(rs, cols, model_label=2):
    idx = reference_match(rs, cols)
    labels = np.array([r.label for r in rs.rules] + [model_label])
    return labels[idx], idx


def _inputs(cols):
    n = len(cols["a"])
    return {
        "numpy": np.column_stack([cols["a"], cols["b"], np.array(cols["c"], dtype=object)]),
        "pandas": pd.DataFrame(cols, index=np.arange(1000, 1000 + n)[::-1]),
        "polars": pl.DataFrame(cols),
        "arrow": pa.table(cols),
        "records": [{"a": cols["a"][i], "b": cols["b"][i], "c": cols["c"][i]} for i in range(n)],
    }


@pytest.mark.parametrize("kind", ["numpy", "pandas", "polars", "arrow", "records"])
def test_model_gets_exactly_the_uncovered_rows_in_order_as_the_input_type(kind):
    cols = _data()
    want, idx = _expected(RULES, cols)
    uncovered = np.flatnonzero(idx < 0)
    assert 0 < uncovered.size < len(idx)
    X = _inputs(cols)[kind]
    model = Recorder()
    cascade = Cascade(RULES, model)
    pred, rule = cascade.predict(X, return_rule=True)
    np.testing.assert_array_equal(pred, want)
    np.testing.assert_array_equal(rule, idx)
    assert pred.dtype == np.int64
    assert len(model.calls) == 1
    got = model.calls[0]
    assert type(got) is type(X)
    if kind == "numpy":
        np.testing.assert_array_equal(got[:, 0].astype(float), cols["a"][uncovered])
    elif kind == "pandas":
        np.testing.assert_array_equal(got.index, X.index[uncovered])  # original index kept
        np.testing.assert_array_equal(got["a"], cols["a"][uncovered])
    elif kind == "polars":
        np.testing.assert_array_equal(got["a"].to_numpy(), cols["a"][uncovered])
    elif kind == "arrow":
        np.testing.assert_array_equal(got.column("a").to_numpy(), cols["a"][uncovered])
    else:
        assert got == [X[i] for i in uncovered]


def test_order_preserved_with_shuffled_coverage():
    rng = np.random.default_rng(5)
    rs = RuleSet((Feature("x"),), ("rule", "model"), (Rule((Interval("x", 0.0, None),), "rule"),))
    for _ in range(5):
        x = rng.normal(size=1000)
        seen: list[np.ndarray] = []

        def model(rows, seen=seen):
            seen.append(rows[:, 0].copy())
            return np.array([f"m{v:.17g}" for v in rows[:, 0]], dtype=object)

        out = Cascade(rs, model, validate_labels=False).predict(x[:, None])
        np.testing.assert_array_equal(seen[0], x[x <= 0])  # input order
        expect = np.where(x > 0, "rule", np.array([f"m{v:.17g}" for v in x], dtype=object))
        assert list(out) == list(expect)
        assert out.dtype.kind == "U"  # all strings: a string array, not object


def test_predict_with_rules_returns_labels_and_the_answering_rule():
    cols = _data(300, seed=3)
    c = Cascade(RULES, Recorder())
    X = pd.DataFrame(cols)
    labels, idx = c.predict_with_rules(X)
    want_labels, want_idx = _expected(RULES, cols)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(labels, want_labels)
    assert idx.dtype == np.int64 and (idx == -1).any() and (idx >= 0).any()
    np.testing.assert_array_equal(c.predict(X), labels)  # the same labels without the flag


def test_not_called_when_all_covered_and_empty_batches():
    model = Recorder()
    rs = RuleSet((Feature("x"),), (7, 8), (Rule((Interval("x", None, 10.0),), 7),))
    c = Cascade(rs, model)
    out = c.predict(np.zeros((5, 1)))
    np.testing.assert_array_equal(out, [7] * 5)
    assert out.dtype == np.int64
    assert model.calls == []
    empty = c.predict(np.zeros((0, 1)))
    assert empty.shape == (0,) and empty.dtype == np.int64
    labels, rules = c.predict(pd.DataFrame({"x": []}, dtype=float), return_rule=True)
    assert labels.shape == rules.shape == (0,)
    assert model.calls == []
    s = c.stats
    assert (s.batches, s.rows, s.covered, s.model_rows, s.model_calls) == (3, 5, 5, 0, 0)
    assert s.hits.tolist() == [5]


def test_all_uncovered_passes_the_input_itself():
    model = Recorder(label=8)
    rs = RuleSet((Feature("x"),), (7, 8), (Rule((Interval("x", 10.0, None),), 7),))
    X = np.zeros((4, 1))
    out = Cascade(rs, model).predict(X)
    assert model.calls[0] is X  # no copy when no rule fires
    np.testing.assert_array_equal(out, [8] * 4)


@pytest.mark.parametrize(
    "model, message",
    [
        (lambda rows: 1 / 0, "raised ZeroDivisionError"),
        (lambda rows: np.zeros(3, dtype=int), r"returned 3 predictions for \d+ rows"),
        (lambda rows: np.full(len(rows), 9), "returned label 9, which is not one of"),
        (lambda rows: np.full(len(rows), "x"), "returned label 'x'"),
        (lambda rows: np.full((len(rows), 3), 1), "unusable result"),
    ],
    ids=["raises", "wrong-length", "unknown-label", "wrong-type-label", "2d"],
)
def test_model_failures_name_batch_and_model(model, message):
    c = Cascade(RULES, model)
    X = _inputs(_data())["pandas"]
    with pytest.raises(CascadeError, match=message) as info:
        c.predict(X)
    assert info.value.batch == 1 and "batch 1" in str(info.value)
    assert "test_runtime_cascade" in info.value.model and "<lambda>" in str(info.value)
    with pytest.raises(CascadeError, match="batch 2"):
        c.predict(X)
    if message.startswith("raised"):
        assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert c.stats.errors == 2 and c.stats.batches == 0


def test_model_object_with_predict_and_unvalidated_labels():
    class Model:
        def predict(self, rows):
            return pd.Series(np.full(len(rows["a"]), "other"))  # a dict of columns

        def __repr__(self):
            return "MyModel()"

    cols = _data()
    c = Cascade(RULES, Model(), validate_labels=False)
    out = c.predict(cols)
    _, idx = _expected(RULES, cols)
    assert out.dtype == object  # ints from rules, strings from the model
    assert list(out[idx < 0]) == ["other"] * int((idx < 0).sum())
    assert list(out[idx >= 0]) == [RULES.rules[k].label for k in idx[idx >= 0]]
    with pytest.raises(CascadeError, match=r"batch 1: model MyModel\(\) returned label .other."):
        Cascade(RULES, Model()).predict(cols)


def test_model_float_labels_become_class_dtype():
    cols = _data()
    out = Cascade(RULES, lambda rows: np.full(len(rows["a"]), 2.0)).predict(cols)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, _expected(RULES, cols)[0])


def test_threads_hammering_predict_agree_with_single_thread():
    cols = _data(3000, seed=1)
    X = pd.DataFrame(cols)
    batches = [
        X.iloc[s : s + n] for s, n in zip(range(0, 2900, 37), range(1, 400, 5), strict=False)
    ]
    single = Cascade(RULES, Recorder())
    want = [single.predict(b) for b in batches]
    model = Recorder()
    c = Cascade(RULES, model)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(c.predict, batches * 4))
    for g, w in zip(got, want * 4, strict=True):
        np.testing.assert_array_equal(g, w)
    s = c.stats
    ref = single.stats
    assert s.batches == 4 * ref.batches == 4 * len(batches)
    assert s.rows == 4 * ref.rows and s.covered == 4 * ref.covered
    assert s.model_rows == 4 * ref.model_rows == sum(len(m) for m in model.calls)
    assert s.model_calls == 4 * ref.model_calls == len(model.calls)
    np.testing.assert_array_equal(s.hits, 4 * ref.hits)
    assert s.last is not None and s.last.batch == 4 * len(batches)


def test_threads_on_large_batches_use_parallel_and_serial_kernels():
    rng = np.random.default_rng(2)
    rs = RuleSet(
        (Feature("x"), Feature("y")),
        (0, 1),
        tuple(
            Rule((Interval("x", float(t), None), Interval("y", None, float(t))), int(t > 0))
            for t in np.linspace(-2, 2, 30)
        ),
    )
    X = rng.normal(size=(60_000, 2))
    want = Cascade(rs, lambda r: np.zeros(len(r), dtype=int)).predict(X)
    c = Cascade(rs, lambda r: np.zeros(len(r), dtype=int))
    with ThreadPoolExecutor(max_workers=4) as pool:
        for got in pool.map(c.predict, [X] * 8):
            np.testing.assert_array_equal(got, want)
    assert c.stats.rows == 8 * 60_000


def test_representation_stage():
    rng = np.random.default_rng(3)
    W = rng.normal(size=(5, 3))

    def embed(X):
        return np.asarray(X, dtype=float) @ W

    rs = RuleSet(
        (Feature("e0"), Feature("e1"), Feature("e2")),
        ("easy", "hard"),
        (Rule((Interval("e0", 1.0, None),), "easy"), Rule((Interval("e2", None, -1.5),), "easy")),
    )
    X = rng.normal(size=(500, 5))
    tail = Recorder(label="hard")
    c = Cascade(rs, tail, representation=embed)
    out, idx = c.predict(X, return_rule=True)
    Z = embed(X)
    np.testing.assert_array_equal(idx, reference_match(rs, Z))
    np.testing.assert_array_equal(tail.calls[0], Z[idx < 0])  # the rest of the network
    assert set(out[idx < 0]) == {"hard"} and set(out[idx >= 0]) == {"easy"}
    assert c.stats.seconds_representation > 0

    def bad_embed(X):
        return np.zeros((3, 3))

    with pytest.raises(CascadeError, match="representation .*bad_embed returned 3 rows"):
        Cascade(rs, tail, representation=bad_embed).predict(X)


def test_chained_stages_raw_rules_then_embedding_rules_then_model():
    rng = np.random.default_rng(4)
    W = rng.normal(size=(2, 2))

    def embed(X):
        return np.column_stack([X["a"].to_numpy(), X["b"].to_numpy()]) @ W

    raw = RuleSet((Feature("a"), Feature("b")), (0, 1, 2), (Rule((Interval("a", 1.0, None),), 0),))
    emb = RuleSet(
        (Feature("z0"), Feature("z1")), (0, 1, 2), (Rule((Interval("z1", 0.5, None),), 1),)
    )
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    tail = Recorder(label=2)
    chained = Cascade.chain(raw, (emb, embed), model=tail)
    nested = Cascade(raw, Cascade(emb, Recorder(label=2), representation=embed))
    out = chained.predict(X)
    np.testing.assert_array_equal(out, nested.predict(X))
    Z = embed(X)
    stage1 = reference_match(raw, X)
    stage2 = reference_match(emb, Z)
    expect = np.where(stage1 >= 0, 0, np.where(stage2 >= 0, 1, 2))
    np.testing.assert_array_equal(out, expect)
    assert out.dtype == np.int64
    left = (stage1 < 0) & (stage2 < 0)
    assert len(tail.calls) == 1
    np.testing.assert_array_equal(tail.calls[0], Z[left])  # embedding rows, input order
    inner = chained.model
    assert chained.stats.model_rows == int((stage1 < 0).sum())
    assert inner.stats.rows == int((stage1 < 0).sum())
    assert inner.stats.model_rows == int(left.sum())

    def broken(rows):
        raise ValueError("tail is down")

    with pytest.raises(CascadeError, match="batch 1: model Cascade") as info:
        Cascade.chain(raw, (emb, embed), model=broken).predict(X)
    assert isinstance(info.value.__cause__, CascadeError)
    assert "tail is down" in str(info.value)


def test_rules_from_json_file_and_repr(tmp_path):
    path = tmp_path / "rules.json"
    RULES.save(path)
    c = Cascade(path, Recorder())
    assert c.rules == RULES
    assert "3 rules" in repr(c) and "Recorder()" in repr(c)
    with pytest.raises(TypeError, match="callable"):
        Cascade(RULES, 42)
    with pytest.raises(ValueError, match="device"):
        Cascade(RULES, Recorder(), device="gpu")


@pytest.mark.parametrize(
    "classes, returned, ok",
    [
        ((0, 5), [5, 0, 5], True),
        ((0, 5), [5, 3, 0], False),  # inside the range of the classes, yet not a class
        ((1, 2, 3), [1, 3, 2], True),
        ((1, 2, 3), [0, 1, 1], False),
        ((False, True), [True, False, True], True),
        ((True,), [True, False, True], False),
        ((True, False), [1, 0, 1], False),  # 1 is not True: labels keep their type
        (("x", "y"), ["y", "x", "y"], True),
        (("x", "y"), ["y", "z", "y"], False),
    ],
)
def test_label_validation(classes, returned, ok):
    rs = RuleSet((Feature("v"),), classes, (Rule((Interval("v", 100.0, None),), classes[0]),))
    c = Cascade(rs, lambda rows: np.array(returned))
    X = np.array([[0.0], [1.0], [2.0], [200.0]])
    if ok:
        out = c.predict(X)
        assert list(out[:3]) == returned and out[3] == classes[0]
        assert out.dtype.kind == np.asarray(classes).dtype.kind
    else:
        with pytest.raises(CascadeError, match="not one of the rule set's classes"):
            c.predict(X)


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_row_by_row_frames_answer_like_the_whole_batch(kind):
    # small batches take the fast frame paths (numeric columns read without conversion
    # queries); integer, float32, NaN and null values must still answer as the reference does
    rs = RuleSet(
        (Feature("a"), Feature("b"), Feature("i")),
        (0, 1, 2),
        (
            Rule((Interval("a", 0.5, None),), 1),
            Rule((Interval("i", None, 2.0), Interval("b", -1.0, None)), 0),
        ),
    )
    rng = np.random.default_rng(4)
    n = 60
    a = rng.normal(size=n)
    a[::7] = np.nan
    b = rng.normal(size=n).astype(np.float32)
    i = rng.integers(0, 5, n)
    if kind == "pandas":
        frames = [pd.DataFrame({"a": a, "b": b, "i": i})]
        frames.append(frames[0].astype({"i": "Int64"}).mask(frames[0]["i"] == 4))  # pd.NA
    else:
        frames = [pl.DataFrame({"a": a, "b": b, "i": i})]
        frames.append(
            frames[0].with_columns(
                pl.when(pl.col("i") == 4).then(None).otherwise(pl.col("i")).alias("i")
            )
        )  # nulls
    for X in frames:
        cols = {
            c: (
                X[c].to_numpy() if kind == "polars" else X[c].to_numpy(dtype=float, na_value=np.nan)
            )
            for c in ("a", "b", "i")
        }
        want, _ = _expected(rs, {k: np.asarray(v, dtype=float) for k, v in cols.items()})
        cascade = Cascade(rs, Recorder())
        whole = cascade.predict(X)
        one = [cascade.predict(X[k : k + 1])[0] for k in range(n)]
        np.testing.assert_array_equal(np.asarray(whole), want)
        np.testing.assert_array_equal(np.asarray(one), want)


def test_empty_batches_of_any_kind_give_empty_answers():
    rs = RuleSet(
        (Feature("a"), Feature("b")), ("y", "n"), (Rule((Interval("a", 0.5, None),), "y"),)
    )
    calls = []
    c = Cascade(rs, lambda X: calls.append(len(X)) or ["n"] * len(X))
    for X in ([], (), pd.DataFrame(columns=["a", "b"]), pl.DataFrame({"a": [], "b": []})):
        got, rule = c.predict(X, return_rule=True)
        assert len(got) == 0 and len(rule) == 0, type(X)
    assert calls == []  # the model is not called for no rows
    from rulecascade import match

    assert match(rs, []).tolist() == [] and match(rs, ()).tolist() == []  # the same reader
    assert c.predict(np.array([[1.0, 0.0], [0.0, 0.0]])).tolist() == ["y", "n"]


@pytest.mark.parametrize("bad", [lambda X: None, lambda X: 3, lambda X: np.zeros(len(X))])
def test_a_representation_returning_unusable_rows_is_a_cascade_error(bad):
    rs = RuleSet(
        (Feature("a"), Feature("b")), ("y", "n"), (Rule((Interval("a", 0.5, None),), "y"),)
    )
    c = Cascade(rs, lambda Z: ["n"] * len(Z), representation=bad)
    with pytest.raises(CascadeError, match="batch 1: representation .* returned"):
        c.predict(np.zeros((3, 2)))
    assert c.stats.errors == 1


def test_a_cascade_pickles_with_its_rules_and_model_and_fresh_counters():
    """Spark executors, joblib and multiprocessing receive a cascade by pickle: it must answer
    there as here; counters (and the lock, the compiled kernels) start afresh."""
    import pickle

    from sklearn.dummy import DummyClassifier

    cols = _data(300, seed=4)
    model = DummyClassifier(strategy="constant", constant=2).fit(np.zeros((3, 1)), [0, 1, 2])
    inner = Cascade(RULES, model, name="inner")
    outer = Cascade.chain(RULES, model=inner)
    X = pl.DataFrame(cols)
    want = outer.predict(X, return_rule=True)
    assert outer.stats.rows == 300
    copy = pickle.loads(pickle.dumps(outer))
    assert copy.stats.rows == 0 and copy.stats.hits.tolist() == [0, 0, 0]
    got = copy.predict(X, return_rule=True)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], _expected(RULES, cols)[0])
    assert copy.stats.rows == 300 and outer.stats.rows == 300
    assert copy.model.name == "inner" and copy.rules == RULES
