"""The learner's CUDA twins give the CPU kernels' results under numba's CUDA simulator.

Run in their own pytest session with ``NUMBA_ENABLE_CUDASIM=1`` (numba reads it at import):
``tests/test_cuda_simulator.py`` starts that session; ``tests/cuda_sim/conftest.py`` keeps these
files out of the ordinary session.
"""

from __future__ import annotations


def test_cuda_histogram_matches_cpu():
    """Node class histograms: the CUDA kernel adds the CPU kernel's counts."""
    import numpy as np

    from rulecascade.kernels import cuda_histogram
    from rulecascade.kernels.histogram import node_histogram

    rng = np.random.default_rng(0)
    for n, f, c in [(0, 3, 2), (1, 1, 1), (57, 4, 3), (300, 5, 2)]:
        codes = np.asfortranarray(rng.integers(0, 256, size=(n, f)).astype(np.uint8))
        y = rng.integers(0, c, size=n).astype(np.int32)
        rows = (
            np.sort(rng.choice(n, size=n // 2 + (n > 0), replace=False))
            if n
            else np.zeros(0, np.int64)
        )
        rows = rows.astype(np.int64)
        feats = np.array([f - 1, 0][: min(2, f)], np.int64)
        cpu = np.zeros((feats.size, 256, c), np.int64)
        gpu = np.ones((feats.size, 256, c), np.int64)  # both add into what is there
        node_histogram(codes, y, rows, feats, c, cpu)
        cuda_histogram.node_histogram(codes, y, rows, feats, c, gpu)
        assert np.array_equal(cpu + 1, gpu), (n, f, c)


def test_box_and_binning_twins_match_cpu():
    """Box counts, margins, bitsets, rule matching and binning: the same arrays."""
    import numpy as np

    from rulecascade.kernels import binning, boxes, boxes_cuda, match_cpu, match_cuda
    from rulecascade.kernels.dispatch import twin

    assert twin(boxes.box_counts, "cuda") is boxes_cuda.box_counts
    assert twin(boxes.box_counts, "cpu") is boxes.box_counts
    try:
        twin(boxes.box_counts, "auto")
        raise SystemExit("twin accepted 'auto'")
    except ValueError as e:
        assert "kernel device" in str(e)
    ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
    rng = np.random.default_rng(1)
    checked = 0
    # (rows, features, classes, boxes): empty inputs, a box with no condition, more classes
    # than the shared-memory counters hold, rows past one tile and one 64-row word
    for n, f, c, k in [
        (0, 3, 2, 4),
        (5, 2, 2, 0),
        (70, 4, 3, 9),
        (300, 6, 300, 5),
        (boxes_cuda.TILE_ROWS + 77, 3, 2, 3),
    ]:
        nb = rng.integers(1, 12, size=f)
        codes = np.empty((n, f), np.uint8, order="F")
        for j in range(f):
            codes[:, j] = rng.integers(0, nb[j], size=n)
            codes[rng.random(n) < 0.15, j] = 255
        y = rng.integers(0, c, size=n).astype(np.int32)
        masks = np.full((k, f, 4), ALL)
        for b in range(1, k):  # box 0: no condition (every row)
            for j in rng.choice(f, size=rng.integers(1, f + 1), replace=False):
                allowed = rng.random(256) < 0.6
                allowed[255] = rng.random() < 0.2
                masks[b, j] = np.packbits(allowed, bitorder="little").view(np.uint64)
        rows = np.sort(rng.choice(n, size=rng.integers(0, n + 1), replace=False)).astype(np.int64)
        shares = rng.random((f, 256))
        a = rng.integers(0, 5, size=(k, c)).astype(np.int64)
        b = a.copy()
        boxes.box_counts(codes, y, rows, masks, shares, a)
        boxes_cuda.box_counts(codes, y, rows, masks, shares, b)
        assert np.array_equal(a, b), (n, f, c, k)
        # outputs with more rows (and words) than needed: the rest is left as it is
        words = max((rows.size + 63) // 64, 1) + 1
        a = rng.integers(0, 2**63, size=(k + 2, words)).astype(np.uint64)
        b = a.copy()
        boxes.box_bitsets(codes, rows, masks, shares, a)
        boxes_cuda.box_bitsets(codes, rows, masks, shares, b)
        assert np.array_equal(a, b), (n, f, c, k)
        # margin histograms into slots (a permutation, other slots untouched); no exact counts
        n_slots = k + 2
        slots = rng.permutation(n_slots)[:k].astype(np.int64)
        hist_a = rng.integers(0, 9, size=(n_slots, f, 256, c)).astype(np.int64)
        in_a = rng.integers(0, 9, size=(n_slots, c)).astype(np.int64)
        hist_b, in_b = hist_a.copy(), in_a.copy()
        no_nv = np.zeros((n_slots, 0), np.uint16)
        boxes.box_margins(codes, y, rows, masks, shares, slots, no_nv, hist_a, in_a)
        boxes_cuda.box_margins(codes, y, rows, masks, shares, slots, no_nv, hist_b, in_b)
        assert np.array_equal(hist_a, hist_b) and np.array_equal(in_a, in_b), (n, f, c, k)
        a = np.ones((k + 1, c), np.uint32)  # another integer type
        b = a.copy()
        boxes.box_counts(codes, y, rows, masks, shares, a)
        boxes_cuda.box_counts(codes, y, rows, masks, shares, b)
        assert np.array_equal(a, b), (n, f, c, k)
        checked += 1

    try:
        boxes_cuda.box_margins(
            codes, y, rows, masks, shares, slots, np.zeros((n_slots, 3), np.uint16), hist_b, in_b
        )
        raise SystemExit("exact counts accepted")
    except ValueError:
        pass

    # widening: fresh margins on the GPU every round == the CPU's incremental updates
    from rulecascade.learn.candidates import Boxes, widen

    n, f = 400, 3
    codes = np.asfortranarray(rng.integers(0, 8, size=(n, f)).astype(np.uint8))
    y = (codes[:, 0] >= 4).astype(np.int32)
    y[rng.random(n) < 0.01] ^= 1  # a little noise inside the budget

    def interval(lo, hi):
        allowed = np.zeros(256, bool)
        allowed[lo : hi + 1] = True
        return np.packbits(allowed, bitorder="little").view(np.uint64)

    seeds = np.full((4, f, 4), ALL)
    for b, lo in enumerate([0, 1, 5, 6]):  # small boxes inside each class's half
        seeds[b, 0] = interval(lo, lo + 1)
        seeds[b, 1] = interval(2, 3)
    pool = Boxes(seeds, np.array([0, 0, 1, 1]), np.zeros((4, 2), np.int64))
    rows = np.arange(n, dtype=np.int64)
    args = (
        codes,
        y,
        rows,
        pool,
        2,
        np.full(f, 8),
        np.zeros(f, bool),
        np.ones(f, bool),
        0.03,
        np.full((f, 256), 1 / 256),
    )
    cpu, gpu = widen(*args), widen(*args, device="cuda")
    assert np.array_equal(cpu.masks, gpu.masks) and np.array_equal(cpu.counts, gpu.counts)
    assert cpu.counts.sum(axis=1).min() > 150  # the boxes did widen (seeds hold ~25 rows)

    # binning: numeric edges, NaN and infinities, categorical codes in and out of range
    n, f = 500, 4
    vals = rng.choice([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0, np.nan, np.inf, -np.inf], size=(n, f))
    vals[:, 3] = rng.choice([0.0, 1.0, 2.0, 5.0, -1.0, np.nan], size=n)
    is_cat = np.array([0, 0, 0, 1], np.uint8)
    edges = np.zeros((f, 3))
    edges[0] = [-0.5, 0.25, 1.0]
    edges[1, :1] = [0.0]
    n_edges = np.array([3, 1, 0, 0], np.int64)
    cat_map = np.full((f, 3), 255, np.uint8)
    cat_map[3] = [0, 254, 1]
    n_cat_map = np.array([0, 0, 0, 3], np.int64)
    rows = np.sort(rng.choice(n, size=300, replace=False)).astype(np.int64)
    for vv in (np.asfortranarray(vals), np.ascontiguousarray(vals)):
        a = np.full((n, f), 7, np.uint8, order="F")
        b = a.copy(order="F")
        binning.bin_columns(vv, rows, is_cat, edges, n_edges, cat_map, n_cat_map, a)
        boxes_cuda.bin_columns(vv, rows, is_cat, edges, n_edges, cat_map, n_cat_map, b)
        assert np.array_equal(a, b)
        assert (a[np.setdiff1d(np.arange(n), rows)] == 7).all()

    # rule matching on raw values: open sides, NaN, categorical codes, a row subset
    from rulecascade.learn.program import compile_rules
    from rulecascade.learn.render import CatCond, NumCond

    conds = [
        [NumCond(0, -0.5, 1.0), CatCond(3, (0, 2))],
        [NumCond(1, None, 0.0)],
        [NumCond(2, 0.25, None)],
        [],
    ]
    program = compile_rules(conds, np.array([0, 0, 0, 3]))
    for rr in (rows, np.zeros(0, np.int64), np.arange(n, dtype=np.int64)):
        a = np.empty(rr.size, np.int64)
        b = np.full(rr.size, -7, np.int64)
        match_cpu.match_rows(vals, rr, *program, a)
        match_cuda.match_rows(vals, rr, *program, b)
        assert np.array_equal(a, b)
    assert checked == 5


def test_fit_on_cuda_writes_the_cpu_rule_file():
    """A fit on device='cuda' writes the CPU fit's rule file, byte for byte."""
    import warnings

    from rulecascade import RuleLearner, datasets

    warnings.simplefilter("ignore")
    ds = datasets.load("phishing")
    files = {}
    for device in ("cpu", "cuda"):
        m = RuleLearner(max_error=0.1, n_trees=4, random_state=0, device=device).fit(ds.X, ds.y)
        assert m.report_["device"] == device
        files[device] = m.rules_.to_json()
        assert len(m.rules_.rules) >= 3
    assert files["cpu"] == files["cuda"]
