"""The CUDA kernel gives the CPU kernel's answers, run under numba's CUDA simulator.

The simulator executes the kernel thread by thread in Python, so the inputs stay small; it runs
in a subprocess because ``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from numba import cuda
    from rulecascade.serve import match
    from rulecascade.kernels.dispatch import select_device
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
        for k in range(int(rng.integers(1, 70 if trial == 5 else 8))):
            conds = []
            for f in rng.choice(["x0", "x1", "z", "c"], size=int(rng.integers(1, 3)), replace=False):
                if f == "c":
                    conds.append(InSet("c", tuple(rng.choice(["a", "b", "q"], 2, replace=False))))
                else:
                    a, b = sorted(rng.choice(grid, 2, replace=False))
                    side = int(rng.integers(3))
                    conds.append(Interval(str(f), a if side != 1 else None, b if side != 2 else None))
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
    rs = RuleSet((Feature("x0"), Feature("x1"), Feature("x2")), (0, 1),
                 (Rule((Interval("x1", 0.0, 0.5),), 1), Rule((Interval("x2", None, 0.1),), 0)))
    X = rng.choice(vals, size=(100, 3))
    for A in (X, X.astype(np.float32)):
        np.testing.assert_array_equal(match(rs, A, device="cuda"), reference_match(rs, A))
    # a projection summed in blocks: the order decides this row (see test_export_agreement)
    for block, want in ((None, 0), (2, -1)):
        p4 = Projection(tuple("abcd"), ("z",), (0.0,) * 4, ((1.0,) * 4,), sum_block=block)
        rs = RuleSet(tuple(Feature(n) for n in "abcd"), ("y",),
                     (Rule((Interval("z", 0.5, None),), "y"),), projection=p4)
        cols = {"a": [1e16], "b": [1.0], "c": [-1e16], "d": [1.0]}
        assert match(rs, cols, device="cuda").tolist() == [want], block
        assert match(rs, cols, device="cpu").tolist() == [want], block
    print("CUDASIM-OK", checked)
    """
)


def test_cuda_kernel_matches_cpu_and_reference_under_simulator():
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "CUDASIM-OK 900" in proc.stdout


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
