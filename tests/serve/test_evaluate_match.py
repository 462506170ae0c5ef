"""The fast evaluator agrees with the reference evaluator on every row, for every input type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecascade.serve import compile_rules, evaluate, match
from rules_export import (
    Feature,
    InputError,
    InSet,
    Interval,
    Projection,
    Rule,
    RuleSet,
)
from rules_export.reference import match as reference_match

KERNELS = ("buckets", "cells", "rules")

# thresholds: round decimals, float32-rounded decimals, tiny and huge magnitudes
POOL = sorted(
    {
        -1e10,
        -2.5,
        -1.0,
        -1e-300,
        0.0,
        5e-324,
        0.1,
        float(np.float32(0.1)),
        0.5,
        1.0,
        float(np.float32(1.1)),
        1.1,
        3.7,
        1e10,
    }
)
CATS = ("a", "b", "c", "d")
NUMS = ("x0", "x1", "x2")


def _neighbours(t: float) -> list[float]:
    f32 = np.float32(t)
    return [
        t,
        float(np.nextafter(t, np.inf)),
        float(np.nextafter(t, -np.inf)),
        float(f32),
        float(np.nextafter(f32, np.float32(np.inf))),
        float(np.nextafter(f32, np.float32(-np.inf))),
    ]


VALUES = sorted({v for t in POOL for v in _neighbours(t)}) + [np.nan, np.inf, -np.inf]


@st.composite
def intervals(draw, feature):
    a, b = sorted(draw(st.lists(st.sampled_from(POOL), min_size=2, max_size=2, unique=True)))
    side = draw(st.sampled_from(("both", "low", "high")))
    return Interval(
        feature, a if side in ("both", "low") else None, b if side in ("both", "high") else None
    )


@st.composite
def rule_sets(draw):
    n_cat = draw(st.integers(0, 2))
    cats = tuple(f"c{i}" for i in range(n_cat))
    cat_lists = {c: tuple(draw(st.lists(st.sampled_from(CATS), max_size=3))) for c in cats}
    features = tuple(Feature(n) for n in NUMS) + tuple(
        Feature(c, "categorical", cat_lists[c]) for c in cats
    )
    projection = None
    if draw(st.booleans()):
        w = st.sampled_from([-1.5, -0.25, 0.0, 0.1, 1.0, 3.0])
        projection = Projection(
            inputs=NUMS,
            outputs=("p0", "p1"),
            mean=tuple(draw(st.sampled_from([0.0, 0.5, -1.0])) for _ in NUMS),
            weights=tuple(tuple(draw(w) for _ in NUMS) for _ in range(2)),
            sum_block=draw(st.sampled_from([None, 1, 2])),
        )
    numeric = list(NUMS) + (list(projection.outputs) if projection else [])
    rules = []
    for _ in range(draw(st.integers(0, 8))):
        conds = []
        for _ in range(draw(st.integers(1, 3))):
            if cats and draw(st.integers(0, 3)) == 0:
                c = draw(st.sampled_from(cats))
                vals = draw(st.lists(st.sampled_from(CATS + ("e",)), min_size=1, max_size=3))
                conds.append(InSet(c, tuple(vals)))
            else:
                conds.append(draw(intervals(draw(st.sampled_from(numeric)))))
        try:
            rules.append(Rule(tuple(conds), draw(st.sampled_from((0, 1, 2)))))
        except Exception:  # contradictory merged conditions: skip this rule
            continue
    return RuleSet(features, (0, 1, 2), tuple(rules), projection=projection)


@st.composite
def data(draw, rs):
    n = draw(st.integers(0, 30))
    cols = {}
    for f in rs.features:
        if f.kind == "numeric":
            cols[f.name] = np.array(
                draw(st.lists(st.sampled_from(VALUES), min_size=n, max_size=n)), dtype=np.float64
            )
        else:
            vals = CATS + ("e", "unseen", None)
            cols[f.name] = draw(st.lists(st.sampled_from(vals), min_size=n, max_size=n))
    return cols


def _as_inputs(cols: dict, rs: RuleSet) -> dict[str, object]:
    names = list(rs.feature_names)
    out: dict[str, object] = {"dict": cols, "pandas": pd.DataFrame(cols)}
    out["polars"] = pl.DataFrame(
        {
            k: pl.Series(k, v, dtype=pl.String if isinstance(v, list) else pl.Float64)
            for k, v in cols.items()
        }
    )
    out["arrow"] = pa.table(cols)
    n = len(next(iter(cols.values())))
    out["records"] = [{k: cols[k][i] for k in names} for i in range(n)]
    obj = np.empty((n, len(names)), dtype=object)
    for j, k in enumerate(names):
        obj[:, j] = list(cols[k])
    out["numpy_object"] = obj
    if all(f.kind == "numeric" for f in rs.features):
        arr = np.column_stack([cols[k] for k in names]) if n else np.empty((0, len(names)))
        out["numpy"] = arr
        out["numpy_F"] = np.asfortranarray(arr)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_agrees_with_reference_on_random_rule_sets(hd):
    rs = hd.draw(rule_sets())
    cols = hd.draw(data(rs))
    want = reference_match(rs, cols)
    for name, X in _as_inputs(cols, rs).items():
        if name == "records" and not len(want):
            continue  # an empty list of dicts has no columns at all
        for kernel in KERNELS:
            got = match(rs, X, device="cpu", kernel=kernel)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want, err_msg=f"{name}, kernel={kernel}")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_float32_input_agrees(hd):
    """float32 arrays are read in place and widened exactly, like the reference does."""
    rs = hd.draw(rule_sets().filter(lambda r: all(f.kind == "numeric" for f in r.features)))
    n = hd.draw(st.integers(1, 30))
    X = np.array(
        hd.draw(st.lists(st.sampled_from(VALUES), min_size=3 * n, max_size=3 * n)),
        dtype=np.float64,
    ).reshape(n, 3)
    X32 = X.astype(np.float32)
    want = reference_match(rs, X32)
    for kernel in KERNELS:
        np.testing.assert_array_equal(match(rs, X32, kernel=kernel), want)
        np.testing.assert_array_equal(match(rs, np.asfortranarray(X32), kernel=kernel), want)


def _random_rule_set(rng, n_rules, n_features=6, cats=True, n_grid=60):
    names = [f"f{i}" for i in range(n_features)]
    features = [Feature(n) for n in names] + (
        [Feature("g", "categorical", ("u", "v", "w"))] if cats else []
    )
    grid = np.unique(np.round(rng.normal(size=n_grid), 3))
    rules = []
    while len(rules) < n_rules:
        conds = []
        for f in rng.choice(names, size=rng.integers(1, 4), replace=False):
            a, b = np.sort(rng.choice(grid, size=2, replace=False))
            kind = rng.integers(3)
            conds.append(
                Interval(str(f), float(a) if kind != 1 else None, float(b) if kind != 2 else None)
            )
        if cats and rng.random() < 0.3:
            conds.append(InSet("g", tuple(rng.choice(["u", "v", "x"], size=2, replace=False))))
        rules.append(Rule(tuple(conds), int(rng.integers(3))))
    return RuleSet(tuple(features), (0, 1, 2), tuple(rules)), grid


@pytest.mark.parametrize("n_rules", [1, 63, 64, 65, 150, 400])
def test_many_rules_large_batch_both_kernels(n_rules):
    """Several bitset words, bisection over many thresholds, the parallel kernel (>= 20k rows)."""
    rng = np.random.default_rng(n_rules)
    rs, grid = _random_rule_set(rng, n_rules, n_grid=300 if n_rules > 300 else 60)
    if n_rules > 300:
        assert compile_rules(rs).f_thr_len.max() > 96  # bisection instead of a linear count
    n = 25_000
    cols = {f"f{i}": rng.choice(np.concatenate([grid, rng.normal(size=40)]), n) for i in range(6)}
    cols["f0"][::97] = np.nan
    cols["f1"][::89] = np.inf
    cols["g"] = rng.choice(np.array(["u", "v", "w", "zz", None], dtype=object), n)
    want = reference_match(rs, cols)
    assert len(np.unique(want)) > min(n_rules, 5)
    for kernel in KERNELS:
        np.testing.assert_array_equal(match(rs, pd.DataFrame(cols), kernel=kernel), want)
    idx, covered = evaluate(rs, cols)
    assert covered == int((want >= 0).sum())


def test_numeric_array_fast_path_reads_in_place_and_agrees():
    rng = np.random.default_rng(1)
    rs, grid = _random_rule_set(rng, 40, cats=False)
    assert compile_rules(rs).buckets is not None  # the bucket kernel, in blocks of 1,024 rows
    X = rng.choice(grid, size=(30_000, 6))  # parallel (30k rows) and serial (15k) paths
    want = reference_match(rs, X)
    for A in (X, np.asfortranarray(X), X.astype(np.float32), X[::2], X.astype(np.int64)):
        for kernel in KERNELS:
            np.testing.assert_array_equal(
                match(rs, A, kernel=kernel), reference_match(rs, A) if A is not X else want
            )


def test_categorical_codes_unseen_and_integers():
    rs = RuleSet(
        (Feature("c", "categorical", ("1", "2")), Feature("x")),
        ("no", "yes"),
        (
            Rule((InSet("c", ("2", "new")),), "yes"),
            Rule((InSet("c", ("1",)), Interval("x", None, 0.0)), "no"),
        ),
    )
    cr = compile_rules(rs)
    assert cr.categories["c"] == ("1", "2", "new")  # schema categories plus InSet values
    X = {"c": np.array([1, 2, 3, 1]), "x": [0.0, 0.0, 0.0, 1.0]}  # integers become "1", "2"
    np.testing.assert_array_equal(match(rs, X), reference_match(rs, X))
    Y = {"c": ["new", "NEW", None, "1"], "x": [1.0, 1.0, 1.0, -np.inf]}
    np.testing.assert_array_equal(match(rs, Y), [0, -1, -1, 1])
    np.testing.assert_array_equal(match(rs, Y), reference_match(rs, Y))


def test_projection_bits_match_reference():
    rng = np.random.default_rng(7)
    d = 12
    names = tuple(f"e{i}" for i in range(d))
    proj = Projection(
        inputs=names,
        outputs=("z0", "z1"),
        mean=tuple(float(v) for v in rng.normal(size=d)),
        weights=tuple(tuple(float(v) for v in rng.normal(size=d)) for _ in range(2)),
    )
    X = rng.normal(size=(3000, d))
    # thresholds exactly at projected values of some rows: any rounding difference shows
    from rules_export.reference import input_columns

    tmp = RuleSet(
        tuple(Feature(n) for n in names),
        (0, 1),
        (Rule((Interval("z0", None, 0.0), Interval("z1", None, 0.0)), 0),),
        projection=proj,
    )
    z = input_columns(tmp, X)[0]
    rules = tuple(
        Rule((Interval("z0", None, float(z["z0"][i])), Interval("e0", -5.0, None)), i % 2)
        for i in range(0, 3000, 150)
    ) + tuple(Rule((Interval("z1", float(z["z1"][i]), None),), 1) for i in range(7, 3000, 300))
    rs = RuleSet(tuple(Feature(n) for n in names), (0, 1), rules, projection=proj)
    assert len(set(reference_match(rs, X).tolist())) > 3
    for A in (X, pl.DataFrame(X, schema=list(names)), X.astype(np.float32), X[:, ::-1][:, ::-1]):
        want = reference_match(rs, A)
        for kernel in KERNELS:
            np.testing.assert_array_equal(match(rs, A, kernel=kernel), want)


def test_only_used_columns_are_read():
    rs = RuleSet(
        (Feature("x"), Feature("junk"), Feature("s", "categorical")),
        (0, 1),
        (Rule((Interval("x", 0.0, None),), 1),),
    )
    cr = compile_rules(rs)
    assert cr.used == ("x",)
    # unused columns may be absent, or hold anything at all
    np.testing.assert_array_equal(match(rs, {"x": [1.0, -1.0]}), [0, -1])
    df = pd.DataFrame({"x": [1.0, -1.0], "junk": ["not", "numbers"], "s": [object(), 3.5]})
    np.testing.assert_array_equal(match(rs, df), [0, -1])
    np.testing.assert_array_equal(match(rs, [{"x": 2.0}, {"x": 0.0, "other": "z"}]), [0, -1])


def test_empty_inputs_and_empty_rule_set():
    rs = RuleSet((Feature("x"),), (0,), (Rule((Interval("x", 0.0, None),), 0),))
    assert match(rs, np.empty((0, 1))).shape == (0,)
    assert match(rs, pl.DataFrame({"x": []}, schema={"x": pl.Float64})).shape == (0,)
    empty = RuleSet((Feature("x"),), (0,), ())
    np.testing.assert_array_equal(match(empty, np.zeros((3, 1))), [-1, -1, -1])
    np.testing.assert_array_equal(match(empty, {"x": [1, 2]}), [-1, -1])


@pytest.mark.parametrize(
    "X",
    [
        {"y": [1.0]},
        pd.DataFrame({"y": [1.0]}),
        pl.DataFrame({"y": [1.0]}),
        pa.table({"y": [1.0]}),
        [{"y": 1.0}],
    ],
    ids=["dict", "pandas", "polars", "arrow", "records"],
)
def test_missing_column_is_named(X):
    rs = RuleSet(
        (Feature("x"), Feature("y")),
        (0,),
        (Rule((Interval("x", 0.0, None), Interval("y", 0.0, None)), 0),),
    )
    with pytest.raises(InputError, match="missing column 'x'"):
        match(rs, X)


def test_wrong_shapes_and_types_are_clear():
    rs = RuleSet(
        (Feature("x"), Feature("y")),
        (0,),
        (Rule((Interval("x", 0.0, None), Interval("y", 0.0, None)), 0),),
    )
    with pytest.raises(InputError, match="2-D"):
        match(rs, np.zeros(4))
    with pytest.raises(InputError, match="3 columns but the rule set has 2 features"):
        match(rs, np.zeros((4, 3)))
    with pytest.raises(InputError, match="'y'"):
        match(rs, {"x": [1.0, 2.0], "y": ["a", "b"]})
    with pytest.raises(InputError, match="'y'"):
        match(rs, pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    with pytest.raises(InputError, match="'y'"):
        match(rs, pl.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}))
    with pytest.raises(InputError, match="'x'.*row 1"):
        match(rs, [{"x": 1.0, "y": 1.0}, {"x": "oops", "y": 1.0}])
    with pytest.raises(InputError, match="'y' has 1 rows"):
        match(rs, {"x": [1.0, 2.0], "y": [1.0]})
    with pytest.raises(InputError, match="cannot read features"):
        match(rs, 42)
    cat = RuleSet((Feature("c", "categorical"),), (0,), (Rule((InSet("c", ("a",)),), 0),))
    with pytest.raises(InputError, match="'c'"):
        match(cat, {"c": [1.5, 2.5]})
    with pytest.raises(ValueError, match="device"):
        match(rs, np.zeros((1, 2)), device="tpu")


@pytest.mark.parametrize(
    "cuts",
    [
        [0.5],
        [0.1, 0.2, 0.7, 3.0],
        [-1e300, 0.0, 1e300],  # a huge span
        [-1.7e308, 0.0, 1.7e308],  # the span overflows: no bucket table
        [1.0, float(np.nextafter(1.0, 2.0)), 2.0],  # too close for 4,096 buckets
        list(np.sort(np.random.default_rng(0).normal(size=40))),
        list(np.cumsum(np.random.default_rng(1).exponential(size=60)) - 30.0),
        [5e-324, 1e-300, 2.5e-300],  # subnormal and tiny values
        list(np.linspace(-3.0, 3.0, 150)),  # > 64 rules: the cell kernel with bucket lookups
        # > 96 thresholds, two of them adjacent floats: no bucket table, the cell kernel bisects
        [*np.linspace(-3.0, 3.0, 149), float(np.nextafter(3.0, 4.0))],
    ],
)
def test_bucket_kernel_agrees_at_and_around_every_threshold(cuts):
    from rulecascade.serve.compile import _buckets

    # one rule per gap between thresholds (and the open ends) on x, and a rule on another
    # feature only, so that a NaN in x still matches it
    edges = [None, *cuts, None]
    rules = RuleSet(
        (Feature("x"), Feature("z")),
        (0, 1),
        tuple(
            Rule((Interval("x", lo, hi),), k % 2)
            for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
            if lo is not None or hi is not None
        )
        + (Rule((Interval("z", 0.0, None),), 1),),
    )
    cr = compile_rules(rules)
    fits = _buckets(sorted(set(cuts))) is not None
    assert (cr.buckets is not None) == (fits and len(rules.rules) <= 64)
    assert (cr.kernel == "buckets") == (cr.buckets is not None)  # auto prefers it
    x_pos = list(cr.columns).index("x")
    assert (cr.f_bucket[list(cr.f_col).index(x_pos)] >= 0) == fits  # the cell kernel's lookup
    t = np.asarray(cuts)
    probes = [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), (t[:-1] + t[1:]) / 2]
    extra = [np.inf, -np.inf, np.nan, 0.0, -0.0, 1e308, -1e308, 5e-324]
    x = np.concatenate([*probes, extra])
    X = np.column_stack([np.concatenate([x, x]), np.r_[np.full(x.size, -1.0), np.ones(x.size)]])
    want = reference_match(rules, X)
    for kernel in KERNELS:
        assert np.array_equal(match(rules, X, "cpu", kernel=kernel), want), kernel
    assert np.any(want[np.isnan(X[:, 0])] >= 0)  # NaN in x: the rule on z still answers


def test_bucket_tables_fit_or_step_aside():
    from rulecascade.serve.compile import _buckets

    lo, scale, top, b_cell, b_thr = _buckets([0.1, 0.2, 0.7, 3.0])
    assert b_cell[0] == 0 and b_cell[-1] == 3 and np.sum(np.isfinite(b_thr)) == 4
    assert _buckets([1.0, float(np.nextafter(1.0, 2.0)), 2.0]) is None  # too close
    assert _buckets([-1.7e308, 1.7e308]) is None  # the span overflows
    # more than 64 rules or a categorical feature: the cell kernel
    many = RuleSet(
        (Feature("x"),), (0, 1), tuple(Rule((Interval("x", float(k), None),), 0) for k in range(70))
    )
    assert compile_rules(many).buckets is None


def test_bucket_kernel_reads_categorical_codes_unseen_and_missing():
    rs = RuleSet(
        (Feature("c", "categorical", ("a", "b", "c")), Feature("x")),
        ("no", "yes"),
        (
            Rule((InSet("c", ("b", "new")), Interval("x", None, 1.5)), "yes"),
            Rule((InSet("c", ("a",)),), "no"),
            Rule((Interval("x", 0.5, None),), "no"),  # no condition on c: missing c still matches
        ),
    )
    cr = compile_rules(rs)
    assert cr.buckets is not None  # kernel="buckets" below runs it (auto picks by cost)
    rng = np.random.default_rng(0)
    n = 25_000  # the parallel path
    cols = {
        "c": list(rng.choice(np.array(["a", "b", "c", "new", "zz", None], dtype=object), n)),
        "x": rng.choice(np.array([-1.0, 0.5, 0.50000001, 1.0, 1.5, 2.0, np.nan, np.inf]), n),
    }
    want = reference_match(rs, cols)
    assert set(np.unique(want)) == {-1, 0, 1, 2}
    for X in (cols, pl.DataFrame(cols), pd.DataFrame(cols)):
        for kernel in KERNELS:
            np.testing.assert_array_equal(match(rs, X, kernel=kernel), want)


def test_bucket_kernel_on_categorical_features_only():
    rs = RuleSet(
        (Feature("c", "categorical", ("a", "b")), Feature("d", "categorical")),
        (0, 1),
        (Rule((InSet("c", ("a",)),), 0), Rule((InSet("d", ("q", "r")),), 1)),
    )
    assert compile_rules(rs).buckets is not None
    cols = {"c": ["a", "b", None, "z", "a"], "d": ["r", "q", "q", None, None]}
    want = reference_match(rs, cols)
    assert list(want) == [0, 1, 1, -1, 0]
    for kernel in KERNELS:
        np.testing.assert_array_equal(match(rs, cols, kernel=kernel), want)


def test_embedding_list_columns_expand_as_the_rules_need():
    """Only list columns a feature comes from are expanded (another may hold ragged lists),
    a batch whose embeddings are all missing matches no rule (it does not lose its columns),
    and a column that is also an element of a list column is refused by name."""
    rs = RuleSet(
        (Feature("emb_0"), Feature("emb_1")),
        (0, 1),
        (Rule((Interval("emb_1", 0.5, None),), 1), Rule((Interval("emb_0", None, 0.0),), 0)),
    )
    emb = pl.Series("emb", [[0.1, 0.9], [-1.0, 0.0], None], dtype=pl.List(pl.Float64))
    tags = pl.Series("tags", [["a"], [], ["b", "c"]])  # ragged, and not read by the rules
    df = pl.DataFrame([emb, tags])
    assert match(rs, df).tolist() == [0, 1, -1]
    assert match(rs, df.to_arrow()).tolist() == [0, 1, -1]
    assert match(rs, df.to_pandas()).tolist() == [0, 1, -1]
    nulls = pl.DataFrame([pl.Series("emb", [None, None], dtype=pl.List(pl.Float64))])
    assert match(rs, nulls).tolist() == [-1, -1]
    with pytest.raises(InputError, match="'emb_0' is also element 0 of the list column 'emb'"):
        match(rs, df.with_columns(pl.lit(1.0).alias("emb_0")))
