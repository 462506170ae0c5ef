"""The CUDA twin of the histogram kernel gives the CPU kernel's counts (CUDA simulator)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from rulecascade.kernels import cuda_histogram
    from rulecascade.kernels.histogram import node_histogram

    rng = np.random.default_rng(0)
    for n, f, c in [(0, 3, 2), (1, 1, 1), (57, 4, 3), (300, 5, 2)]:
        codes = np.asfortranarray(rng.integers(0, 256, size=(n, f)).astype(np.uint8))
        y = rng.integers(0, c, size=n).astype(np.int32)
        rows = np.sort(rng.choice(n, size=n // 2 + (n > 0), replace=False)) if n else np.zeros(0, np.int64)
        rows = rows.astype(np.int64)
        feats = np.array([f - 1, 0][: min(2, f)], np.int64)
        cpu = np.zeros((feats.size, 256, c), np.int64)
        gpu = np.ones((feats.size, 256, c), np.int64)  # both add into what is there
        node_histogram(codes, y, rows, feats, c, cpu)
        cuda_histogram.node_histogram(codes, y, rows, feats, c, gpu)
        assert np.array_equal(cpu + 1, gpu), (n, f, c)
    print("ok")
    """
)


def test_cuda_histogram_matches_cpu_in_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
