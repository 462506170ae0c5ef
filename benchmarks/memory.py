"""Memory of a fit against the size of its input: wide float tables (1,500 rows x N columns).

Each size runs in a fresh process: the data are read from CSV as ``rulecascade fit`` reads
them, then ``RuleLearner.fit`` runs while a thread samples the resident set size (RSS) every
10 ms and, at each new peak, notes where the main thread is (the innermost rulecascade frames).
Reported: peak RSS above the process's RSS after reading the data (the fit's own memory), as
a multiple of the input's float64 matrix (rows x columns x 8 bytes), the time of the fit, and
how much of it ``report_["timings_s"]`` accounts for.

    python benchmarks/memory.py                       # 250, 500, 1000, 2000 columns
    python benchmarks/memory.py --cols 1000 5000      # other widths
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROWS = 1500
RESULTS = Path(__file__).parent / "results" / "memory.md"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def where(frame) -> str:
    """The innermost three rulecascade frames of a stack, innermost first."""
    out = []
    while frame is not None and len(out) < 3:
        name = frame.f_code.co_filename
        if "rulecascade" in name and "benchmarks" not in name:
            rel = name[name.rfind("rulecascade") :]
            out.append(f"{rel}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(out) or "(outside rulecascade)"


def child(path: str) -> None:
    from rulecascade.data import read_table
    from rulecascade.learn import RuleLearner

    df = read_table(path)
    X, y = df.drop("y"), df.get_column("y").to_numpy()
    X.shape  # noqa: B018
    base = rss_bytes()
    peak = [base, "before the fit"]
    main = threading.main_thread().ident
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            r = rss_bytes()
            if r > peak[0]:
                peak[0] = r
                peak[1] = where(sys._current_frames().get(main))
            time.sleep(0.01)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    learner = RuleLearner(max_error=0.01, random_state=0).fit(X, y)
    wall = time.perf_counter() - t0
    done.set()
    t.join()
    timings = learner.report_.get("timings_s", {})
    print(
        json.dumps(
            {
                "rows": X.height,
                "cols": X.width,
                "base_rss": base,
                "peak_rss": peak[0],
                "peak_at": peak[1],
                "wall": wall,
                "timings": timings,
                "rules": len(learner.rules_.rules),
            }
        )
    )


def make_csv(path: Path, cols: int) -> None:
    import polars as pl

    rng = np.random.default_rng(cols)
    y = (rng.random(ROWS) < 0.5).astype(np.int64)  # every column tells the classes apart a bit,
    X = rng.random((ROWS, cols)) + 0.6 * y[:, None]  # as in an embedding

    pl.DataFrame({f"f{i}": X[:, i] for i in range(cols)}).with_columns(pl.Series("y", y)).write_csv(
        path
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cols", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for cols in args.cols:
            path = Path(d) / f"w{cols}.csv"
            make_csv(path, cols)
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            res = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            r = json.loads(res.stdout.strip().splitlines()[-1])
            r["csv_bytes"] = path.stat().st_size
            rows.append(r)
            print(json.dumps(r), flush=True)
    lines = [
        "# Memory of a fit (benchmarks/memory.py)",
        "",
        f"{ROWS:,} rows x N float columns, read from CSV; each size in a fresh process.",
        "input = the float64 matrix (rows x N x 8 bytes); fit memory = peak RSS during",
        "`RuleLearner.fit` minus RSS after reading the data; timed = the share of the fit's",
        "wall time that `report_['timings_s']['total']` accounts for.",
        "",
        "| columns | CSV MB | input MB | fit memory MB | x input | fit s | timed | peak at |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        inp = r["rows"] * r["cols"] * 8
        extra = r["peak_rss"] - r["base_rss"]
        total = r["timings"].get("total", 0.0)
        lines.append(
            f"| {r['cols']:,} | {r['csv_bytes'] / 1e6:.1f} | {inp / 1e6:.1f} | "
            f"{extra / 1e6:.0f} | {extra / inp:.1f} | {r['wall']:.1f} | "
            f"{total / r['wall']:.0%} | {r['peak_at'].split(' < ')[0]} |"
        )
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        grow_in = b["cols"] / a["cols"]
        grow_mem = (b["peak_rss"] - b["base_rss"]) / max(a["peak_rss"] - a["base_rss"], 1)
        lines += [
            "",
            f"{grow_in:.0f}x the columns: {grow_mem:.1f}x the fit memory, "
            f"{b['wall'] / a['wall']:.1f}x the time.",
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
