"""The CUDA kernel gives the CPU kernel's answers, run under numba's CUDA simulator.

The simulator test itself is ``tests/cuda_sim/test_match_cuda.py`` (a session of its own); here
the clear error without a GPU, and the real-GPU test that runs where one is present.
"""

from __future__ import annotations

import pytest


def test_cuda_request_without_gpu_is_a_clear_error(monkeypatch):
    import numpy as np
    import pytest

    from rulecascade.kernels import dispatch
    from rulecascade.serve import match
    from rules_export import Feature, Interval, Rule, RuleSet

    monkeypatch.setattr(dispatch, "cuda_available", lambda: False)
    rs = RuleSet((Feature("x"),), (0,), (Rule((Interval("x", 0.0, None),), 0),))
    with pytest.raises(dispatch.DeviceError, match="no usable GPU"):
        match(rs, np.zeros((2, 1)), device="cuda")
    assert dispatch.select_device("auto", 10**7) == "cpu"
    np.testing.assert_array_equal(match(rs, np.ones((2, 1)), device="auto"), [0, 0])


def _real_gpu() -> bool:
    from rulecascade.kernels.dispatch import cuda_available, cuda_simulated

    return cuda_available() and not cuda_simulated()


@pytest.mark.skipif(not _real_gpu(), reason="no CUDA GPU on this machine (CI uses the simulator)")
def test_cuda_kernel_on_a_real_gpu_matches_reference_on_many_rows():
    import numpy as np

    from rulecascade.serve import match
    from rules_export import Feature, InSet, Interval, Rule, RuleSet
    from rules_export.reference import match as reference_match

    rng = np.random.default_rng(5)
    grid = [-1.0, -0.25, 0.0, 0.1, float(np.float32(0.1)), 0.5, 2.0]
    vals = sorted({v for t in grid for v in (t, np.nextafter(t, 9), np.nextafter(t, -9))})
    vals += [np.nan, np.inf, -np.inf]
    rules = []
    for _ in range(200):
        a, b = sorted(rng.choice(grid, 2, replace=False))
        conds = [Interval(str(rng.choice(["x0", "x1", "x2"])), a, b)]
        if rng.random() < 0.3:
            conds.append(InSet("c", ("a",)))
        rules.append(Rule(tuple(conds), int(rng.integers(2))))
    feats = (Feature("x0"), Feature("x1"), Feature("x2"), Feature("c", "categorical", ("a", "b")))
    rs = RuleSet(feats, (0, 1), tuple(rules))
    n = 300_000
    cols = {f"x{j}": rng.choice(vals, n) for j in range(3)}
    cols["c"] = list(rng.choice(np.array(["a", "b", "zz", None], dtype=object), n))
    np.testing.assert_array_equal(match(rs, cols, device="cuda"), reference_match(rs, cols))
