"""How much a certified fit's held-out coverage depends on the split (issue #3).

    python benchmarks/stability.py [--seeds 10] [--datasets a,b] [--mode truth|fidelity]
                                   [--params JSON] [--out FILE]

The quality benchmark uses one split (seed 0), and on small sets one split decides a lot: which
rows land in growth, validation and certification moves coverage by tens of points. Here each
data set is split fit / calibration / test with several seeds (the same stratified 30/40/30
protocol); rulecascade learns on the calibration split with the true labels (``--mode
fidelity``: with the predictions of a HistGradientBoostingClassifier trained on the fit split,
and is then judged against the model's test predictions) and random_state = seed, at a few
max_error values (confidence 0.95), and is measured on the test split. Per
max_error: how many seeds kept a rule, the mean and range of test coverage, the lowest test
precision, and how many kept rule sets met ``1 - max_error`` on the test rows (a finite test
split can miss it by chance even when the rules' true error is below the cap: each miss comes
with the binomial p-value of its test errors at the cap). ``--params`` passes RuleLearner
parameters to every fit (e.g. ``'{"projection": "lda"}'``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless installed

from _common import (  # noqa: E402
    fmt,
    load_table,
    markdown_table,
    raw_matrix,
    rulecascade_answer,
    rulecascade_fit,
    split_indices,
)

CONFIDENCE = 0.95
TARGETS = {
    "breast_cancer": (0.02, 0.05, 0.1, 0.2),
    "phishing": (0.02, 0.05, 0.1, 0.2),
    "digits": (0.1, 0.2, 0.3),
    "image_segments": (0.05, 0.1, 0.2),
    "shuttle": (0.001, 0.002, 0.005),
    "default": (0.005, 0.01, 0.02, 0.05),
    "flights": (0.01, 0.02, 0.05, 0.1),
    "fraud": (0.002, 0.005, 0.01),
}


def fit_and_measure(
    X_cal,
    y_cal,
    X_test,
    y_test,
    max_error: float,
    seed: int,
    mode: str,
    n_classes: int,
    params: dict | None = None,
) -> dict:
    """One certified fit on the calibration rows (labels: class indices), measured on the test
    rows."""
    learner, _ = rulecascade_fit(
        X_cal,
        y_cal,
        max_error,
        mode=mode,
        confidence=CONFIDENCE,
        random_state=seed,
        **(params or {}),
    )
    covered, labels = rulecascade_answer(learner, X_test, np.arange(n_classes))
    errors = int(np.sum(labels[covered] != y_test[covered]))
    return {"covered": int(covered.sum()), "rows": int(len(y_test)), "errors": errors}


def run_dataset(
    name: str, seeds: int, log, mode: str = "truth", params: dict | None = None
) -> list[list]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    table = load_table(name)
    classes, y = np.unique(table.y, return_inverse=True)
    y = y.astype(np.int64)
    fits: dict[float, list[dict]] = {me: [] for me in TARGETS[name]}
    t0 = time.perf_counter()
    raw = raw_matrix(table.X, table.categorical) if mode == "fidelity" else None
    cats = np.array([c in set(table.categorical) for c in table.X.columns])
    for seed in range(seeds):
        fit, cal, test = split_indices(y, seed=seed)
        y_cal, y_test = y[cal], y[test]
        if raw is not None:  # labels = the expensive model's predictions
            model = HistGradientBoostingClassifier(
                random_state=seed, categorical_features=cats if cats.any() else None
            ).fit(raw[fit], y[fit])
            y_cal = model.predict(raw[cal]).astype(np.int64)
            y_test = model.predict(raw[test]).astype(np.int64)
        for me in TARGETS[name]:
            fits[me].append(
                fit_and_measure(
                    table.X[cal], y_cal, table.X[test], y_test, me, seed, mode, len(classes), params
                )
            )
    log(
        f"- {name}: {seeds} seeds x {len(TARGETS[name])} targets in {time.perf_counter() - t0:.0f} s"
    )
    rows = []
    for me, runs in fits.items():
        kept = [r for r in runs if r["covered"]]
        cov = np.array([r["covered"] / r["rows"] for r in runs])
        prec = [1.0 - r["errors"] / r["covered"] for r in kept]
        misses = [r for r in kept if r["errors"] > me * r["covered"]]
        pvals = [float(stats.binom.sf(r["errors"] - 1, r["covered"], me)) for r in misses]
        rows.append(
            [
                name,
                f"{me:g}",
                f"{len(kept)} / {len(runs)}",
                float(cov.mean()),
                f"{cov.min():.3f} – {cov.max():.3f}",
                fmt(min(prec), 4) if prec else "—",
                f"{len(kept) - len(misses)} / {len(kept)}",
                ", ".join(f"{p:.2f}" for p in pvals) or "—",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument(
        "--datasets", default="breast_cancer,phishing,digits,image_segments,default,shuttle"
    )
    ap.add_argument("--mode", choices=("truth", "fidelity"), default="truth")
    ap.add_argument(
        "--params", default="{}", help='RuleLearner parameters as JSON, e.g. {"projection": "lda"}'
    )
    ap.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    args = ap.parse_args(argv)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as e:
        ap.error(f"--params is not JSON: {e}")
    if not isinstance(params, dict):
        ap.error("--params must be a JSON object")
    names = [n for n in args.datasets.split(",") if n]
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        ap.error(f"unknown data set(s) {unknown}; choose from {sorted(TARGETS)}")

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    rows = []
    for name in names:
        rows += run_dataset(name, args.seeds, log, args.mode, params)
    text = (
        f"# Certified coverage over {args.seeds} split seeds (confidence {CONFIDENCE}, "
        f"{args.mode} mode{', parameters ' + json.dumps(params) if params else ''})\n\n"
        + markdown_table(
            [
                "data set",
                "max_error",
                "seeds with rules",
                "mean test coverage",
                "coverage range",
                "lowest test precision",
                "kept sets meeting 1 - max_error on test",
                "p-values of the misses at the cap",
            ],
            rows,
        )
        + "\n"
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
