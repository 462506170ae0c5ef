"""Fit on the GPU against the CPU: the same ``make_fraud`` table fitted with ``device="cpu"`` and
``device="cuda"`` in one run, seconds per stage side by side, and whether the two rule files
are byte-identical (they must be).

    python benchmarks/gpu_fit.py                                  # 2,000,000 x 100
    python benchmarks/gpu_fit.py --rows 10000000 --out benchmarks/results/gpu_fit.md

The CUDA path moves the row passes of a fit (binning, widening's margins, validation counts,
selection bitsets, certification matching); growing the candidate trees stays on the CPU, so the table
shows where the time moved and what is left. Each device fits once after a warm-up fit on
20,000 rows (JIT compilation reported apart). Needs a CUDA GPU (numba.cuda); without one it
says so and exits with status 2. ``NUMBA_ENABLE_CUDASIM=1`` runs it in numba's simulator, for
checking the script on a few hundred rows only (timings then mean nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless installed

from _common import fmt, markdown_table  # noqa: E402


def _device_name() -> str:
    from numba import cuda

    from rulecascade.kernels.dispatch import cuda_simulated

    if cuda_simulated():
        return "numba CUDA simulator"
    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    return f"{name} (compute capability {'.'.join(map(str, dev.compute_capability))})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--max-error", type=float, default=0.005)
    ap.add_argument("--warm-rows", type=int, default=20_000)
    ap.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    args = ap.parse_args(argv)

    from rulecascade import RuleLearner
    from rulecascade.datasets.synthetic import make_fraud
    from rulecascade.kernels.dispatch import cuda_available

    if not cuda_available():
        print(
            "gpu_fit.py: numba.cuda finds no usable GPU here; nothing to compare", file=sys.stderr
        )
        return 2
    device = _device_name()
    ds = make_fraud(args.rows, n_features=args.features, fraud_rate=0.005, random_state=1)
    X, y = ds.X, ds.y.astype(np.int64)
    warm = min(args.warm_rows, args.rows)
    runs = {}
    for dev in ("cpu", "cuda"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = time.perf_counter()
            RuleLearner(max_error=args.max_error, random_state=0, device=dev).fit(
                X[:warm], y[:warm]
            )
            warm_s = time.perf_counter() - t
            learner = RuleLearner(max_error=args.max_error, random_state=0, device=dev)
            t = time.perf_counter()
            learner.fit(X, y)
            fit_s = time.perf_counter() - t
        text = learner.rules_.to_json()
        runs[dev] = dict(
            warm=warm_s,
            fit=fit_s,
            stages=dict(learner.report_["timings_s"]),
            rules=len(learner.rules_.rules),
            sha=hashlib.sha256(text.encode()).hexdigest()[:16],
        )
    cpu, gpu = runs["cpu"], runs["cuda"]
    same = cpu["sha"] == gpu["sha"]
    stages = [s for s in cpu["stages"] if s != "total"]
    rows = []
    for s in stages:
        a, b = cpu["stages"][s], gpu["stages"].get(s, float("nan"))
        rows.append([s, fmt(a, 2), fmt(b, 2), f"{a / b:.1f}x" if b > 0 else "—"])
    rows.append(
        ["whole fit", fmt(cpu["fit"], 1), fmt(gpu["fit"], 1), f"{cpu['fit'] / gpu['fit']:.1f}x"]
    )
    lines = [
        f"# Fit on the GPU: make_fraud({args.rows:,}, {args.features} features)\n",
        f"Device: {device}; {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"max_error {args.max_error}. Warm-up fits ({warm:,} rows, JIT compilation): CPU "
        f"{cpu['warm']:.1f} s, CUDA {gpu['warm']:.1f} s.\n",
        markdown_table(["stage", "cpu s", "cuda s", "cpu / cuda"], rows) + "\n",
        f"Rule files: {cpu['rules']} rules, sha256 {cpu['sha']} (cpu) vs {gpu['sha']} (cuda): "
        + ("byte-identical." if same else "DIFFERENT (a bug: the twins must agree).")
        + " Stages that run on the GPU: bin, widen (margins), validate, select (bitsets), certify,"
        " second round and wide (their counts); the trees grow on the CPU in both fits.\n",
    ]
    out = "\n".join(lines)
    print(out)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(out)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
