"""The learning kernels against plain numpy twins, on random inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecascade.kernels.binning import MISSING, bin_columns
from rulecascade.kernels.boxes import (
    box_bitsets,
    box_counts,
    box_margins,
    margins_update,
    widen_step,
)
from rulecascade.kernels.histogram import KIND_CANDIDATE, grow_forest, node_histogram
from rulecascade.learn.binning import Binner
from rulecascade.learn.candidates import Boxes, dedupe, widen

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


def _allowed_np(masks: np.ndarray) -> np.ndarray:
    """(K, F, 256) bool from (K, F, 4) uint64 masks."""
    bits = np.unpackbits(masks.view(np.uint8), axis=-1, bitorder="little")
    return bits.reshape(masks.shape[0], masks.shape[1], 256).astype(bool)


@st.composite
def problems(draw, max_rows=80, max_features=5, max_classes=3, max_boxes=6):
    n = draw(st.integers(0, max_rows))
    f = draw(st.integers(1, max_features))
    c = draw(st.integers(1, max_classes))
    k = draw(st.integers(1, max_boxes))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    nb = rng.integers(1, 12, size=f)
    codes = np.empty((n, f), np.uint8, order="F")
    for j in range(f):
        codes[:, j] = rng.integers(0, nb[j], size=n)
        codes[rng.random(n) < 0.15, j] = MISSING
    y = rng.integers(0, c, size=n).astype(np.int32)
    masks = np.zeros((k, f, 4), np.uint64)
    for b in range(k):
        for j in range(f):
            kind = rng.integers(0, 3)
            if kind == 0:
                masks[b, j] = ALL
            else:
                allowed = rng.random(256) < 0.5
                allowed[MISSING] = False
                if kind == 1:  # an interval
                    lo, hi = sorted(rng.integers(0, nb[j], size=2))
                    allowed[:] = False
                    allowed[lo : hi + 1] = True
                masks[b, j] = np.packbits(allowed, bitorder="little").view(np.uint64)
    rows = np.sort(rng.choice(n, size=rng.integers(0, n + 1), replace=False)).astype(np.int64)
    return codes, y, c, masks, rows, nb


def _inside_np(codes, masks, rows):
    allowed = _allowed_np(masks)
    sub = codes[rows]
    k, f = masks.shape[:2]
    inside = np.ones((k, rows.size), bool)
    viol = np.zeros((k, rows.size, f), bool)
    for b in range(k):
        for j in range(f):
            ok = allowed[b, j, sub[:, j]]
            viol[b, :, j] = ~ok
            inside[b] &= ok
    return inside, viol


@SETTINGS
@given(problems())
def test_node_histogram_matches_numpy(p):
    codes, y, c, _, rows, _ = p
    feats = np.arange(codes.shape[1], dtype=np.int64)
    out = np.zeros((feats.size, 256, c), np.int64)
    node_histogram(codes, y, rows, feats, c, out)
    want = np.zeros_like(out)
    for j in feats:
        np.add.at(want[j], (codes[rows, j], y[rows]), 1)
    assert np.array_equal(out, want)


@SETTINGS
@given(problems(), st.booleans())
def test_box_counts_and_bitsets_match_numpy(p, c_order):
    codes, y, c, masks, rows, _ = p
    if c_order:
        codes = np.ascontiguousarray(codes)
    shares = np.random.default_rng(0).random((codes.shape[1], 256))
    out = np.zeros((masks.shape[0], c), np.int64)
    box_counts(codes, y, rows, masks, shares, out)
    inside, _ = _inside_np(codes, masks, rows)
    want = np.stack([np.bincount(y[rows][inside[b]], minlength=c) for b in range(len(masks))])
    assert np.array_equal(out, want)
    words = max(1, (rows.size + 63) // 64)
    bits = np.zeros((masks.shape[0], words), np.uint64)
    box_bitsets(codes, rows, masks, shares, bits)
    got = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little")[:, : rows.size]
    assert np.array_equal(got.astype(bool), inside)


@SETTINGS
@given(problems())
def test_box_margins_match_numpy(p):
    codes, y, c, masks, rows, _ = p
    shares = np.full((codes.shape[1], 256), 1 / 256)
    k, f = masks.shape[:2]
    hist = np.full((k, f, 256, c), -1, np.int64)  # the kernel clears its slots
    inbox = np.full((k, c), -1, np.int64)
    box_margins(
        codes, y, rows, masks, shares, np.arange(k), np.zeros((k, 0), np.uint16), hist, inbox
    )
    inside, viol = _inside_np(codes, masks, rows)
    constrained = ~np.all(masks == ALL, axis=2)
    want = np.zeros_like(hist)
    for b in range(k):
        nv = viol[b].sum(axis=1)
        for j in np.flatnonzero(constrained[b]):
            sel = (nv == 0) | ((nv == 1) & viol[b, :, j])
            np.add.at(want[b, j], (codes[rows[sel], j], y[rows[sel]]), 1)
    assert np.array_equal(hist, want)
    assert np.array_equal(inbox, [np.bincount(y[rows][inside[b]], minlength=c) for b in range(k)])


def _grown(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each box with some bins added and some conditions dropped (a widening step)."""
    out = masks.copy()
    for k in range(out.shape[0]):
        for j in range(out.shape[1]):
            u = rng.random()
            if u < 0.2:
                out[k, j] = ALL
            elif u < 0.6:
                for b in [*rng.integers(0, 12, size=3), MISSING if rng.random() < 0.3 else 0]:
                    out[k, j, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return out


@SETTINGS
@given(problems(), st.integers(0, 2**32 - 1))
def test_margins_update_equals_a_fresh_count(p, seed):
    # the incremental margins of widening: an update over the rows of the bins a step lets
    # in gives what counting every row on the grown box gives, violation counts included
    from rulecascade.learn.candidates import _bin_index

    codes, y, c, masks, rows, _ = p
    k, f = masks.shape[:2]
    shares = np.full((f, 256), 1 / 256)
    slots = np.arange(k)
    state = [np.zeros((k, rows.size), np.uint16), np.zeros((k, f, 256, c), np.int64)]
    state.append(np.zeros((k, c), np.int64))
    box_margins(codes, y, rows, masks, shares, slots, *state)  # exact violation counts
    hist = np.zeros((k, f, 256, c), np.int64)
    inbox = np.zeros((k, c), np.int64)
    box_margins(codes, y, rows, masks, shares, slots, np.zeros((k, 0), np.uint16), hist, inbox)
    assert np.array_equal(state[1], hist) and np.array_equal(state[2], inbox)
    inside, viol = _inside_np(codes, masks, rows)
    assert np.array_equal(state[0], viol.sum(axis=2))  # exact, not capped at 2
    grown = _grown(masks, np.random.default_rng(seed))
    margins_update(codes, y, rows, masks, grown, slots, *_bin_index(codes, rows), *state)
    want = [np.zeros_like(x) for x in state]
    box_margins(codes, y, rows, grown, shares, slots, *want)
    for got, exp in zip(state, want, strict=True):
        assert np.array_equal(got, exp)


def test_widen_gives_the_same_boxes_with_and_without_incremental_margins(monkeypatch):
    import rulecascade.learn.candidates as cand

    codes, y = _tree_problem(5, n=4000, f=5)
    rows = np.arange(0, 4000, 2, dtype=np.int64)
    seeds = []
    for i in np.flatnonzero(y[rows] == 0)[:40]:
        m = np.full((5, 4), ALL)
        for j in range(3):
            b = codes[rows[i], j]
            m[j] = 0
            m[j, b >> 6] = np.uint64(1) << np.uint64(b & 63)
        seeds.append(m)
    before = Boxes(np.stack(seeds), np.zeros(len(seeds), np.int64), np.zeros((len(seeds), 2), int))
    args = (
        2,
        np.full(5, 10),
        np.zeros(5, bool),
        np.ones(5, bool),
        0.02,
        np.full((5, 256), 1 / 256),
    )
    inc = widen(codes, y, rows, before, *args, backoff=0.25)
    monkeypatch.setattr(cand, "_bin_index", lambda codes, rows: None)  # count afresh each round
    full = widen(codes, y, rows, before, *args, backoff=0.25)
    assert np.array_equal(inc.masks, full.masks) and np.array_equal(inc.counts, full.counts)
    assert not np.array_equal(inc.masks, before.masks)  # the boxes did widen


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True, width=64),
            st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300, -1e300]),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(2, 255),
)
def test_binning_matches_searchsorted(vals, max_bins):
    x = np.asarray(vals, dtype=np.float64).reshape(-1, 1)
    rows = np.arange(x.shape[0], dtype=np.int64)
    b = Binner.fit(x, np.zeros(1, bool), np.zeros(1, np.int64), rows, max_bins)
    codes = b.transform(x)
    e = b.edges[0, : b.n_edges[0]]
    assert np.all(np.diff(e) > 0) and np.all(np.isfinite(e))
    want = np.where(np.isnan(x[:, 0]), MISSING, np.searchsorted(e, x[:, 0], side="left"))
    half = rows[::2]  # only the given rows are binned, the others read as missing
    part = b.transform(x, half)
    assert np.array_equal(part[half], codes[half]) and np.all(part[rows[1::2]] == MISSING)
    assert np.array_equal(codes[:, 0], want)
    assert codes[~np.isnan(x[:, 0]), 0].max(initial=0) < b.n_bins[0] <= max_bins
    # every bin below the last holds its upper edge: thresholds sit between data values
    for j, edge in enumerate(e):
        assert np.any(x[:, 0] == edge) and codes[x[:, 0] == edge, 0][0] == j


def test_binning_categorical_caps_cardinality():
    rng = np.random.default_rng(0)
    k = 400
    codes = rng.zipf(1.3, size=5000) % k
    x = codes.astype(np.float64).reshape(-1, 1)
    x[:10] = np.nan
    x[10:20] = -1.0  # unseen
    rows = np.arange(x.shape[0], dtype=np.int64)
    b = Binner.fit(x, np.ones(1, bool), np.array([k]), rows)
    out = b.transform(x)[:, 0]
    assert b.n_bins[0] == 255
    assert np.all(out[:20] == MISSING)
    freq = np.bincount(codes[20:], minlength=k)
    top = set(np.lexsort((np.arange(k), -freq))[:254].tolist())
    for c in range(k):
        got = out[20:][codes[20:] == c]
        if got.size:
            assert np.all(got == (b.cat_map[0, c]))
            assert (got[0] < 254) == (c in top)


def test_bin_columns_direct():
    values = np.asfortranarray([[np.nan, 0.0], [-np.inf, 1.0], [np.inf, 7.0], [2.0, np.nan]])
    edges = np.full((2, 254), np.inf)
    edges[0, :2] = [1.0, 2.0]
    cat_map = np.zeros((2, 8), np.uint8)
    cat_map[1, :] = np.arange(8)
    out = np.empty((4, 2), np.uint8, order="F")
    args = (np.array([0, 1], np.uint8), edges, np.array([2, 0]), cat_map, np.array([0, 3]))
    bin_columns(values, np.arange(4), *args, out)
    assert out[:, 0].tolist() == [MISSING, 0, 2, 1]
    assert out[:, 1].tolist() == [0, 1, MISSING, MISSING]  # 7 is not a known category
    # a row subset: those rows binned alike, the others untouched
    sub = np.full((4, 2), 77, np.uint8, order="F")
    bin_columns(values, np.array([1, 3]), *args, sub)
    assert sub[[1, 3]].tolist() == out[[1, 3]].tolist() and (sub[[0, 2]] == 77).all()


def _tree_problem(seed, n=400, f=4, c=2):
    rng = np.random.default_rng(seed)
    codes = np.asfortranarray(rng.integers(0, 10, size=(n, f)).astype(np.uint8))
    codes[rng.random((n, f)) < 0.05] = MISSING
    y = ((codes[:, 0].astype(int) + codes[:, 1]) % c).astype(np.int32)
    y[codes[:, 0] < 3] = 0
    return codes, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grow_forest_records_are_exact_boxes(seed):
    codes, y = _tree_problem(seed)
    n, f = codes.shape
    t = 3
    rng = np.random.default_rng(seed)
    tree_rows = np.stack([np.sort(rng.choice(n, 300, replace=False)) for _ in range(t)])
    out_masks = np.zeros((t, 256, f, 4), np.uint64)
    out_counts = np.zeros((t, 256, 2), np.int64)
    out_kind = np.zeros((t, 256), np.int8)
    out_n = np.zeros(t, np.int64)
    grow_forest(
        codes,
        y,
        2,
        np.full(f, 10),
        np.zeros(f, np.uint8),
        tree_rows.astype(np.int64),
        np.full(t, 300),
        np.arange(t, dtype=np.uint64) + 7,
        2,
        4,
        30,
        0.0,
        10,
        3,
        out_masks,
        out_counts,
        out_kind,
        out_n,
    )
    assert out_n.min() > 0
    for tr in range(t):
        rows = tree_rows[tr]
        inside, _ = _inside_np(codes, out_masks[tr, : out_n[tr]], rows)
        for k in range(out_n[tr]):
            counts = np.bincount(y[rows][inside[k]], minlength=2)
            assert np.array_equal(counts, out_counts[tr, k])
            assert counts.min() == 0  # budget 0: every record is pure
            if out_kind[tr, k] == KIND_CANDIDATE:
                assert counts.sum() >= 10
            allowed = _allowed_np(out_masks[tr, k : k + 1])[0]
            for j in range(f):  # a constrained feature never admits missing values
                if not np.all(out_masks[tr, k, j] == ALL):
                    assert not allowed[j, MISSING]


def test_grow_forest_does_not_depend_on_threads():
    import numba

    codes, y = _tree_problem(5, n=2000, f=6)
    rows = np.arange(2000, dtype=np.int64)
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            from rulecascade.learn.candidates import grow_trees

            cands, seeds = grow_trees(
                codes,
                y,
                rows,
                2,
                np.full(6, 10),
                np.zeros(6, bool),
                n_trees=4,
                max_features=3,
                subsample=0.7,
                min_cand=20,
                min_seed=3,
                budget_rate=0.0,
                max_depth=30,
                rng=np.random.default_rng(3),
            )
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        results.append((cands.masks.tobytes(), seeds.masks.tobytes(), cands.counts.tobytes()))
    assert results[0] == results[1]


@pytest.mark.parametrize("budget", [0.0, 0.05])
def test_widen_keeps_budget_and_grows(budget):
    codes, y = _tree_problem(11, n=3000, f=4)
    codes = np.ascontiguousarray(codes)
    rows = np.arange(3000, dtype=np.int64)
    # seeds: single-cell boxes of class-0 rows
    seeds = []
    for i in np.flatnonzero(y == 0)[:20]:
        m = np.full((4, 4), ALL)
        for j in range(2):
            if codes[i, j] != MISSING:
                m[j] = 0
                m[j, codes[i, j] >> 6] = np.uint64(1) << np.uint64(codes[i, j] & 63)
        seeds.append(m)
    masks = np.stack(seeds)
    labels = np.zeros(len(seeds), np.int64)
    shares = np.full((4, 256), 1 / 256)
    before = Boxes(masks, labels, np.zeros((len(seeds), 2), np.int64))
    after = widen(
        codes,
        y,
        rows,
        before,
        2,
        np.full(4, 10),
        np.zeros(4, bool),
        np.ones(4, bool),
        budget,
        shares,
    )
    inside_b, _ = _inside_np(codes, masks, rows)
    inside_a, _ = _inside_np(codes, after.masks, rows)
    assert np.all(inside_a >= inside_b)  # widening only adds rows
    for k in range(len(seeds)):
        cnt = np.bincount(y[inside_a[k]], minlength=2)
        assert np.array_equal(cnt, after.counts[k])
        if np.bincount(y[inside_b[k]], minlength=2)[1] == 0:
            assert cnt[1] <= np.floor(budget * cnt.sum())
    assert inside_a.sum() > inside_b.sum()


def test_widen_step_drops_redundant_condition():
    # one feature, every row class 0: the condition is redundant and is dropped
    hist = np.zeros((1, 1, 256, 2), np.int64)
    hist[0, 0, :5, 0] = 10
    inbox = np.array([[20, 0]])
    masks = np.zeros((1, 1, 4), np.uint64)
    masks[0, 0, 0] = np.uint64(0b1100)
    gains = np.zeros(1, np.int64)
    widen_step(
        hist,
        inbox,
        masks,
        np.zeros(1, np.int64),
        np.array([5]),
        np.zeros(1, np.uint8),
        np.ones(1, np.uint8),
        0.0,
        0.0,
        np.zeros(1, np.uint8),
        gains,
    )
    assert np.all(masks[0, 0] == ALL) and gains[0] == 30


def test_dedupe_keeps_first_occurrences():
    m = np.zeros((4, 2, 4), np.uint64)
    m[1, 0, 0] = 1
    m[3, 0, 0] = 1
    b = Boxes(m, np.array([0, 0, 1, 0]), np.arange(8).reshape(4, 2))
    d = dedupe(b)
    assert len(d) == 3 and d.counts[:, 0].tolist() == [0, 2, 4]


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_match_rules_matches_reference(seed):
    from rulecascade.learn.program import compile_rules, match
    from rulecascade.learn.render import CatCond, NumCond
    from rules_export import Feature, InSet, Interval, Rule, RuleSet
    from rules_export.reference import match as ref_match

    rng = np.random.default_rng(seed)
    n = 60
    num = rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf], size=(n, 2))
    cats = ("a", "b", "c")
    cat = rng.choice([0.0, 1.0, 2.0, -1.0, np.nan], size=n)
    values = np.column_stack([num, cat])
    conds, rules = [], []
    for _ in range(rng.integers(0, 5)):
        cs, rs = [], []
        for f in rng.choice(3, size=rng.integers(1, 4), replace=False):
            if f < 2:
                lo, hi = sorted(rng.choice([-0.5, 0.0, 0.5, 1.0, 1.5], size=2, replace=False))
                lo = None if rng.random() < 0.3 else float(lo)
                hi = None if lo is not None and rng.random() < 0.3 else float(hi)
                cs.append(NumCond(int(f), lo, hi))
                rs.append(Interval(f"n{f}", lo, hi))
            else:
                codes = tuple(sorted(rng.choice(3, size=rng.integers(1, 3), replace=False)))
                cs.append(CatCond(2, tuple(int(c) for c in codes)))
                rs.append(InSet("c", tuple(cats[c] for c in codes)))
        conds.append(cs)
        rules.append(Rule(tuple(rs), 1))
    rs = RuleSet(
        (Feature("n0"), Feature("n1"), Feature("c", "categorical", cats)), (0, 1), tuple(rules)
    )
    program = compile_rules(conds, np.array([0, 0, 3]))
    got = match(values, program)
    # a row subset is read in place and gives what matching the copied rows gives
    rows = np.sort(rng.choice(n, size=int(rng.integers(0, n)), replace=False))
    assert np.array_equal(match(values, program, rows), got[rows])
    assert np.array_equal(match(np.ascontiguousarray(values), program, rows), got[rows])
    raw = {
        "n0": values[:, 0],
        "n1": values[:, 1],
        "c": np.array(
            [None if np.isnan(v) else ("zz" if v < 0 else cats[int(v)]) for v in cat], object
        ),
    }
    assert np.array_equal(got, ref_match(rs, raw))


def test_interval_candidates_form_a_nested_path_within_the_budget():
    # one feature, 200 bins; class 1 appears once every 40 bins: the purest interval of class 0
    # is short, wider ones admit 1, 2, ... errors; the path holds every step and steps between
    from rulecascade.learn.candidates import interval_candidates

    n_bins = 200
    codes = np.repeat(np.arange(n_bins, dtype=np.uint8), 10)[:, None]
    y = np.zeros(codes.shape[0], np.int32)
    y[np.flatnonzero(codes[:, 0] % 40 == 39)[::10]] = 1  # one error row per 40 bins
    rows = np.arange(codes.shape[0], dtype=np.int64)
    rate = 0.003
    boxes = interval_candidates(
        codes, y, rows, 2, np.array([n_bins]), np.zeros(1, bool), (rate,), min_rows=20
    )
    inside = [
        np.unpackbits(boxes.masks[k, 0].view(np.uint8), bitorder="little")[codes[:, 0]] == 1
        for k in range(len(boxes))
    ]
    zero = [k for k in range(len(boxes)) if boxes.labels[k] == 0]
    for k in zero:
        cnt = np.bincount(y[inside[k]], minlength=2)
        assert np.array_equal(cnt, boxes.counts[k])  # counts are the box's rows
        assert cnt[1] <= np.floor(rate * cnt.sum())  # every interval within the budget
    sizes = sorted(int(inside[k].sum()) for k in zero)
    errors = {int(boxes.counts[k, 1]) for k in zero}
    assert {0, 1, 2, 3} <= errors  # the error-count ladder
    assert len(sizes) >= 8 and sizes[0] < sizes[-1] / 2  # shrunk core .. widest, steps between
