"""The CUDA twins under numba's CUDA simulator: ``tests/cuda_sim`` in a pytest session of its own.

``NUMBA_ENABLE_CUDASIM`` must be set before numba is imported, so those tests cannot run in this
process; here they run as an ordinary pytest session with the simulator on, and this test passes
when every one of them passes (its output is shown when one fails).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_cuda_twins_pass_under_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/cuda_sim", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        cwd=ROOT,
    )
    out = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, out
    summary = re.search(r"(\d+) passed", out)
    assert summary and int(summary.group(1)) == 4, out
    assert "skipped" not in out and "failed" not in out, out
