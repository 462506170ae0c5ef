"""The CUDA rule-matching kernel gives the CPU kernel's and the reference's answers (CUDA simulator).

Run in their own pytest session with ``NUMBA_ENABLE_CUDASIM=1`` (numba reads it at import):
``tests/test_cuda_simulator.py`` starts that session; ``tests/cuda_sim/conftest.py`` keeps these
files out of the ordinary session.
"""

from __future__ import annotations


def test_cuda_kernel_matches_cpu_and_reference():
    """Random rule sets with projections and categories, on threshold neighbours, NaN and inf."""
    import numpy as np
    from numba import cuda

    from rulecascade.kernels.dispatch import select_device
    from rulecascade.serve import match
    from rules_export import Feature, InSet, Interval, Projection, Rule, RuleSet
    from rules_export.reference import match as reference_match

    assert cuda.is_available() and select_device("cuda") == "cuda"
    assert select_device("auto", 10**7) == "cpu"  # auto never picks the simulator
    rng = np.random.default_rng(3)
    grid = [-1.0, -0.25, 0.0, 0.1, float(np.float32(0.1)), 0.5, 2.0]
    vals = sorted({v for t in grid for v in (t, np.nextafter(t, 9), np.nextafter(t, -9))})
    vals += [np.nan, np.inf, -np.inf]
    proj = Projection(("x0", "x1"), ("z",), (0.5, -1.0), ((1.5, -0.25),))
    feats = (Feature("x0"), Feature("x1"), Feature("c", "categorical", ("a", "b")))
    checked = 0
    for trial in range(6):
        rules = []
        for _k in range(int(rng.integers(1, 70 if trial == 5 else 8))):
            conds = []
            for f in rng.choice(
                ["x0", "x1", "z", "c"], size=int(rng.integers(1, 3)), replace=False
            ):
                if f == "c":
                    conds.append(InSet("c", tuple(rng.choice(["a", "b", "q"], 2, replace=False))))
                else:
                    a, b = sorted(rng.choice(grid, 2, replace=False))
                    side = int(rng.integers(3))
                    conds.append(
                        Interval(str(f), a if side != 1 else None, b if side != 2 else None)
                    )
            rules.append(Rule(tuple(conds), int(rng.integers(2))))
        rs = RuleSet(feats, (0, 1), tuple(rules), projection=proj)
        n = 150
        cols = {
            "x0": rng.choice(vals, n),
            "x1": rng.choice(vals, n),
            "c": list(rng.choice(np.array(["a", "b", "zz", None], dtype=object), n)),
        }
        want = reference_match(rs, cols)
        cpu = match(rs, cols, device="cpu")
        gpu = match(rs, cols, device="cuda")
        assert gpu.dtype == np.int64
        np.testing.assert_array_equal(cpu, want)
        np.testing.assert_array_equal(gpu, want)
        checked += n
    # a raw numeric array (read in place on the CPU, used columns sent to the device)
    rs = RuleSet(
        (Feature("x0"), Feature("x1"), Feature("x2")),
        (0, 1),
        (Rule((Interval("x1", 0.0, 0.5),), 1), Rule((Interval("x2", None, 0.1),), 0)),
    )
    X = rng.choice(vals, size=(100, 3))
    for A in (X, X.astype(np.float32)):
        np.testing.assert_array_equal(match(rs, A, device="cuda"), reference_match(rs, A))
    # a projection summed in blocks: the order decides this row (see test_export_agreement)
    for block, want in ((None, 0), (2, -1)):
        p4 = Projection(tuple("abcd"), ("z",), (0.0,) * 4, ((1.0,) * 4,), sum_block=block)
        rs = RuleSet(
            tuple(Feature(n) for n in "abcd"),
            ("y",),
            (Rule((Interval("z", 0.5, None),), "y"),),
            projection=p4,
        )
        cols = {"a": [1e16], "b": [1.0], "c": [-1e16], "d": [1.0]}
        assert match(rs, cols, device="cuda").tolist() == [want], block
        assert match(rs, cols, device="cpu").tolist() == [want], block
    assert checked == 900
