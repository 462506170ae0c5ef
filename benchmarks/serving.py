"""Serving from data frames: the model's own predict vs rule evaluation vs the cascade, side by
side on pandas, polars, pyarrow and numpy inputs, with a numpy sum over the columns the rules
read as the memory-traffic bound, and the first call's compilation cost.

    python benchmarks/serving.py            # make_fraud(450_000): train / calibrate / serve thirds
    python benchmarks/serving.py --quick    # make_fraud(90_000), fewer repeats, no 1M batch

Setup (issue #20): ``make_fraud(n, random_state=11)`` (48 float32 + 2 categorical columns),
a ``HistGradientBoostingClassifier`` (100 trees, categorical features from dtype) trained on
the first third, ``RuleLearner(max_error=0.002, mode="fidelity")`` fitted on the second third
(the model's predictions), the last third served. A 500-tree model (same settings, no early
stopping) is the more expensive reference. Timings: wall clock, best of N after a warm-up call;
ratios, not absolute times, are the result (the machine is shared).

"The model on frame F" is the model's predict on that input: pandas directly, the other types
converted to the pandas frame the model was trained on inside the timed call (what a service
holding such a frame pays). "numpy" is a mapping of column name -> numpy array (float32
columns, categorical columns as numpy string arrays).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import rulecascade  # noqa: E402
from datasets.synthetic import make_fraud  # noqa: E402
from rulecascade import Cascade, RuleLearner  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "serving.md"


def best_of(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def setup(n: int, cache: Path | None) -> tuple:
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())
    ds = make_fraud(n, random_state=11)
    feats = [c for c in ds.frame.columns if c != ds.target]
    frame = ds.frame.select(feats)
    y = ds.frame[ds.target].to_numpy()
    third = n // 3
    pdf = frame.to_pandas()
    kw = {"categorical_features": "from_dtype", "random_state": 0}
    model = HistGradientBoostingClassifier(**kw).fit(pdf.iloc[:third], y[:third])
    big = HistGradientBoostingClassifier(max_iter=500, early_stopping=False, **kw)
    big.fit(pdf.iloc[: min(third, 50_000)], y[: min(third, 50_000)])
    y_cal = model.predict(pdf.iloc[third : 2 * third])
    learner = RuleLearner(max_error=0.002, mode="fidelity").fit(frame[third : 2 * third], y_cal)
    out = (model, big, learner.rules_, frame[2 * third :])
    if cache is not None:
        cache.write_bytes(pickle.dumps(out))
    return out


def as_inputs(df: pl.DataFrame) -> dict[str, object]:
    cats = [c for c, t in df.schema.items() if t == pl.Categorical]
    numpy_cols = {
        c: (df[c].cast(pl.String).to_numpy().astype(str) if c in cats else df[c].to_numpy())
        for c in df.columns
    }
    return {"pandas": df.to_pandas(), "polars": df, "pyarrow": df.to_arrow(), "numpy": numpy_cols}


def model_on(model: object, kind: str, X: object, template: pd.DataFrame) -> Callable:
    predict = model.predict  # type: ignore[attr-defined]
    if kind == "pandas":
        return lambda: predict(X)
    if kind in ("polars", "pyarrow"):
        return lambda: predict(X.to_pandas())  # type: ignore[attr-defined]
    dtypes = template.dtypes

    def from_numpy() -> object:
        frame = pd.DataFrame(X)
        for c in frame.columns:
            if isinstance(dtypes[c], pd.CategoricalDtype):
                frame[c] = pd.Categorical(frame[c], categories=dtypes[c].categories)
        return predict(frame)

    return from_numpy


def memory_bound(rules: object, X: pl.DataFrame) -> float:
    """A plain numpy sum over the columns the rules read (category codes for categoricals)."""
    used = list(rules.used_features)  # type: ignore[attr-defined]
    arrays = [
        X[c].to_physical().to_numpy() if X[c].dtype == pl.Categorical else X[c].to_numpy()
        for c in used
    ]
    nbytes = sum(a.nbytes for a in arrays)
    t = best_of(lambda: [a.sum() for a in arrays], 7)
    return t, nbytes


def take(X: object, n: int) -> object:
    if isinstance(X, dict):
        return {k: v[:n] for k, v in X.items()}
    if isinstance(X, pd.DataFrame):
        return X.iloc[:n]
    return X.slice(0, n)  # type: ignore[attr-defined]


def grow(df: pl.DataFrame, n: int) -> pl.DataFrame:
    reps = -(-n // df.height)
    return pl.concat([df] * reps).slice(0, n).rechunk()


COLD = """
import time, pickle, sys
t0 = time.perf_counter()
import rulecascade
model, big, rules, frame = pickle.loads(open(sys.argv[1], 'rb').read())
X = frame.slice(0, 1000).to_pandas()
out = {}
if sys.argv[2] == 'warmup':
    t = time.perf_counter(); rulecascade.warmup(quiet=True); out['warmup_s'] = time.perf_counter() - t
t = time.perf_counter(); rulecascade.match(rules, X); out['first_call_s'] = time.perf_counter() - t
t = time.perf_counter(); rulecascade.match(rules, X); out['second_call_s'] = time.perf_counter() - t
print('JSON' + __import__('json').dumps(out))
"""


def cold_start(setup_file: Path) -> dict[str, dict[str, float]]:
    """A fresh process with an empty kernel cache: the first call without and after warmup,
    and a fresh process on the cache warmup filled."""
    res = {}
    with tempfile.TemporaryDirectory() as d1, tempfile.TemporaryDirectory() as d2:
        for label, cache, mode in (
            ("empty cache, no warmup", d1, "plain"),
            ("empty cache, warmup() first", d2, "warmup"),
            ("filled cache (new process)", d2, "plain"),
        ):
            env = dict(os.environ, RULECASCADE_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
            t = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-c", COLD, str(setup_file), mode],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            line = next(x for x in run.stdout.splitlines() if x.startswith("JSON"))
            res[label] = dict(json.loads(line[4:]), process_s=time.perf_counter() - t)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--setup-cache", type=Path, default=None, help="pickle of the fitted setup")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start measurement")
    args = ap.parse_args()
    n = 90_000 if args.quick else 450_000
    repeats = 3 if args.quick else 5
    t0 = time.perf_counter()
    model, big, rules, served = setup(n, args.setup_cache)
    print(
        f"setup {time.perf_counter() - t0:.0f} s; {len(rules.rules)} rules on "
        f"{len(rules.used_features)} features; {served.height} rows served",
        flush=True,
    )
    rulecascade.warmup(quiet=True)
    inputs = as_inputs(served)
    template = inputs["pandas"]
    lines = [
        "# Serving from data frames: model vs rules vs cascade",
        "",
        f"`python benchmarks/serving.py{' --quick' if args.quick else ''}` on {platform.machine()}, "
        f"{os.cpu_count()} cores (shared), Python {platform.python_version()}; "
        f"make_fraud({n:,}, random_state=11), {len(rules.rules)} rules reading "
        f"{len(rules.used_features)} of {served.width} columns, {served.height:,} rows served. "
        "Best of several runs after a warm-up call; ratios are the result.",
        "",
    ]

    # --- 1. rule evaluation vs the model and the memory bound, per input type --------------
    t_sum, nbytes = memory_bound(rules, served)
    lines += [
        "## Rule evaluation vs the model's predict, per input type",
        "",
        f"Memory bound: a numpy sum over the {len(rules.used_features)} used columns "
        f"({nbytes / 1e6:.1f} MB) takes {t_sum * 1e3:.2f} ms "
        f"({nbytes / t_sum / 1e9:.1f} GB/s on this machine).",
        "",
        "| input | model.predict (ms) | rulecascade.match (ms) | model / match (goal >= 10) "
        "| match / numpy sum (goal <= 3) | Cascade.predict (ms) | model / cascade |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    cascade = Cascade(rules, model)
    coverage = None
    for kind, X in inputs.items():
        t_model = best_of(model_on(model, kind, X, template), max(2, repeats - 2))
        t_match = best_of(lambda X=X: rulecascade.match(rules, X), repeats)
        t_casc = best_of(lambda X=X: cascade.predict(X), max(2, repeats - 2))
        coverage = cascade.stats.last.coverage
        lines.append(
            f"| {kind} | {t_model * 1e3:.1f} | {t_match * 1e3:.2f} | {t_model / t_match:.1f} "
            f"| {t_match / t_sum:.1f} | {t_casc * 1e3:.1f} | {t_model / t_casc:.1f} |"
        )
        print(lines[-1], flush=True)
    lines += ["", f"Coverage of the rules on the served rows: {coverage:.4f}.", ""]

    # --- 2. the cascade vs the model alone, per batch size ---------------------------------
    sizes = [1, 100, 10_000, served.height] + ([] if args.quick else [1_000_000])
    for ref_name, ref in (
        ("100-tree HistGradientBoosting", model),
        ("500-tree HistGradientBoosting", big),
    ):
        lines += [
            f"## Cascade vs the {ref_name} alone, per batch size",
            "",
            "Goal: speed-up >= min(1/(1-c), 20) / 2 at coverage c"
            + (
                "."
                if ref is model
                else " (batches up to the served rows: the 1M batch only for "
                "the 100-tree model, to keep the run short)."
            ),
            "",
            "| input | batch rows | coverage | model (ms) | cascade (ms) | speed-up | goal | met |",
            "|---|---:|---:|---:|---:|---:|---:|:---:|",
        ]
        casc = Cascade(rules, ref)
        for kind in ("pandas", "polars"):
            for size in sizes if ref is model else [s for s in sizes if s <= served.height]:
                src = served if size <= served.height else grow(served, size)
                X = take(as_inputs(src)[kind] if size > served.height else inputs[kind], size)
                reps = repeats if size < 100_000 else 2
                t_model = best_of(model_on(ref, kind, X, template), reps)
                t_casc = best_of(lambda X=X, casc=casc: casc.predict(X), reps)
                c = casc.stats.last.coverage
                goal = min(1 / (1 - c) if c < 1 else np.inf, 20) / 2
                speed = t_model / t_casc
                lines.append(
                    f"| {kind} | {size:,} | {c:.4f} | {t_model * 1e3:.2f} | {t_casc * 1e3:.2f} "
                    f"| {speed:.1f} | {goal:.1f} | {'yes' if speed >= goal else 'no'} |"
                )
                print(lines[-1], flush=True)
        lines.append("")

    # --- 3. the first call ----------------------------------------------------------------
    if not args.no_cold:
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
            fh.write(pickle.dumps((model, big, rules, served.slice(0, 2000))))
        try:
            cold = cold_start(Path(fh.name))
        finally:
            os.unlink(fh.name)
        lines += [
            "## First call in a fresh process (`RULECASCADE_CACHE_DIR` set to an empty folder)",
            "",
            "| case | warmup() (s) | first match, 1,000 rows (s) | second match (s) | whole process (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, r in cold.items():
            w = f"{r['warmup_s']:.1f}" if "warmup_s" in r else "-"
            lines.append(
                f"| {label} | {w} | {r['first_call_s']:.2f} | {r['second_call_s']:.4f} "
                f"| {r['process_s']:.1f} |"
            )
            print(lines[-1], flush=True)
        lines.append("")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
