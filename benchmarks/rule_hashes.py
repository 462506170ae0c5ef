"""SHA-256 of the rule files that the bundled data sets give, for refactors that must not change them.

    python benchmarks/rule_hashes.py [--out FILE]

Fits ``RuleLearner`` on every bundled data set (truth and fidelity labels, a few targets, the
options that change the learner's path: independent rules, per-class caps, projections) and
prints one line per fit: ``<case> <sha256 of the JSON rule file>``. Run it before and after a
change that should not alter what the learner writes, and compare the two outputs with ``diff``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless installed

CASES = (
    ("breast_cancer", {"max_error": 0.05}),
    ("breast_cancer", {"max_error": 0.1, "sequential": False}),
    ("phishing", {"max_error": 0.05}),
    ("credit_default", {"max_error": 0.01}),
    ("credit_default", {"max_error": 0.02, "per_class_max_error": {1: 0.2}}),
    ("digits", {"max_error": 0.1, "projection": "lda"}),
    ("digits", {"max_error": 0.2, "projection": "pca", "keep_inputs": True}),
    ("image_segments", {"max_error": 0.05}),
    ("shuttle", {"max_error": 0.002}),
    ("flights", {"max_error": 0.05}),
)
FLIGHTS_ROWS = 60_000


def _data(name: str):
    from rulecascade.datasets import load

    ds = load(name)
    X, y = ds.X, np.asarray(ds.y)
    if X.height > FLIGHTS_ROWS:
        idx = np.random.default_rng(0).choice(X.height, FLIGHTS_ROWS, replace=False)
        idx.sort()
        X, y = X[idx], y[idx]
    return X, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the lines to this file")
    args = ap.parse_args()

    import rules_export
    from rulecascade import RuleLearner

    lines = []
    for name, params in CASES:
        X, y = _data(name)
        for mode in ("truth", "fidelity"):
            labels = y
            if mode == "fidelity":
                import polars.selectors as cs
                from sklearn.tree import DecisionTreeClassifier

                half = X.height // 2
                num = X.select(cs.numeric()).fill_null(0).fill_nan(0).to_numpy()
                model = DecisionTreeClassifier(max_depth=6, random_state=0)
                model.fit(num[:half], y[:half])
                Xf, labels = X[half:], model.predict(num[half:])
            else:
                Xf = X
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                learner = RuleLearner(mode=mode, random_state=0, **params).fit(Xf, labels)
            text = rules_export.dumps(learner.rules_)
            digest = hashlib.sha256(text.encode()).hexdigest()
            case = f"{name}:{mode}:" + ",".join(f"{k}={v}" for k, v in sorted(params.items()))
            line = f"{case} {len(learner.rules_.rules)} {digest}"
            print(line, flush=True)
            lines.append(line)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
