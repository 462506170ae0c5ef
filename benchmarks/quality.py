"""Quality / speed comparison of rulecascade against rule-learning peers (issue #3).

    python benchmarks/quality.py [--quick] [--datasets a,b] [--out benchmarks/results/quality.md]

Protocol per data set: stratified fit / calibration / test split (30/40/30, seed 0). The
"expensive model" is a HistGradientBoostingClassifier trained on the fit split. Every peer and
rulecascade learns on the calibration split with the true labels; everything is measured on the
test split. Risk-coverage: for each peer configuration (coverage c, test precision p), rulecascade
is fitted with ``max_error = max(1 - p, 0.001)`` at confidence 0.95 (no test data involved) and
must reach coverage >= c at test precision >= p.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless installed

from _common import (  # noqa: E402
    DATASETS,
    Answer,
    evaluate,
    fmt,
    load_table,
    markdown_table,
    peer_matrix,
    raw_matrix,
    rulecascade_answer,
    rulecascade_fit,
    split_indices,
    timed,
)
from peers import default_peers, import_skope_rules, peer_versions  # noqa: E402

from rulecascade.learn.bounds import rows_needed  # noqa: E402

CONFIDENCE = 0.95
GUARANTEE_TARGETS = (0.01, 0.005)
SWEEP = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
QUICK_SWEEP = (0.005, 0.01, 0.05, 0.1)
#: many-class data sets of numeric features (pixels, like an embedding; image statistics): the
#: risk-coverage table also fits rulecascade on projections, each a fixed configuration:
#: (column label, RuleLearner parameters, what the label means)
_LDA = (
    "lda",
    {"projection": "lda"},
    'discriminant directions of the growth rows (`projection="lda"`)',
)
_LDA_RAW = (
    "lda+raw",
    {"projection": "lda", "keep_inputs": True},
    'the same directions beside the raw columns (`projection="lda", keep_inputs=True`)',
)
PROJECTED = {
    "digits": (
        ("pca16", {"projection": "pca", "n_components": 16}, "a 16-component PCA projection"),
        _LDA,
        _LDA_RAW,
    ),
    "image_segments": (_LDA, _LDA_RAW),
}


# --------------------------------------------------------------------------- rulecascade


def rule_stats(learner) -> tuple[int, float]:
    rules = learner.rules_.rules
    if not rules:
        return 0, 0.0
    conds = [len({c.feature for c in r.conditions}) for r in rules]
    return len(rules), float(np.mean(conds))


class RuleCascadeRuns:
    """Fits of rulecascade on one data set, cached by (max_error, certify, mode)."""

    def __init__(self, X_cal, y_cal, X_test, y_test, model_test, classes, model_cal, **kwargs):
        self.X_cal, self.y_cal, self.X_test = X_cal, y_cal, X_test
        self.y_test, self.model_test, self.classes = y_test, model_test, classes
        self.model_cal = model_cal
        self.kwargs = kwargs  # extra RuleLearner parameters (e.g. a projection)
        self.cache: dict[tuple, tuple[Answer, dict]] = {}

    def get(self, max_error: float, certify: bool = True, mode: str = "truth"):
        key = (round(float(max_error), 6), certify, mode)
        if key not in self.cache:
            y = self.y_cal if mode == "truth" else self.model_cal
            learner, secs = rulecascade_fit(
                self.X_cal, y, key[0], certify, mode, confidence=CONFIDENCE, **self.kwargs
            )
            covered, labels = rulecascade_answer(learner, self.X_test, self.classes)
            n_rules, cpr = rule_stats(learner)
            report = dict(getattr(learner, "report_", {}) or {})
            g = learner.rules_.guarantee
            config = f"{mode} max_error={key[0]:g}" + ("" if certify else " uncertified")
            ans = Answer(
                "rulecascade", config, covered, labels, secs, n_rules, cpr, len(self.y_cal)
            )
            m = evaluate(ans, self.y_test, self.model_test)
            m["report"] = report
            m["certified"] = bool(g.certified) if g is not None else False
            m["cert_rows"] = int(g.certification_rows) if g is not None else 0
            self.cache[key] = (ans, m)
        return self.cache[key]

    def best_at_precision(self, p: float) -> tuple[float, str]:
        """Largest test coverage among all fits so far whose realized test precision >= p."""
        best, how = 0.0, "—"
        for (me, certify, mode), (_, m) in self.cache.items():
            if mode != "truth" or m["covered"] == 0:
                continue
            if m["precision"] >= p and m["coverage"] > best:
                best = m["coverage"]
                how = f"{me:g}" + ("" if certify else " unc.")
        return best, how


# --------------------------------------------------------------------------- one data set


def out_of_reach(max_error: float, n_calibration: int) -> bool:
    """Whether no learner certifying on a split of ``n_calibration`` rows can certify
    ``max_error`` at all: even a set covering every calibration row without an error, every
    one of them a certification row, is fewer rows than the bound needs."""
    return n_calibration < rows_needed(max_error, CONFIDENCE)


def _rows_used(report: dict) -> str:
    r = report.get("rows", {}) if isinstance(report, dict) else {}
    return " / ".join(str(r.get(k, "?")) for k in ("growth", "validation", "certification"))


def run_dataset(name: str, quick: bool, log) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier

    table = load_table(name, quick=quick)
    classes, y = np.unique(table.y, return_inverse=True)
    y = y.astype(np.int64)
    fit_idx, cal_idx, test_idx = split_indices(y, seed=0)
    log(
        f"## {name}\n\n{table.n_rows:,} rows x {table.X.width} features, {len(classes)} classes"
        + (f" ({table.note})" if table.note else "")
        + f"; split fit / calibration / test = {len(fit_idx):,} / {len(cal_idx):,} / "
        f"{len(test_idx):,} rows (stratified, seed 0).\n"
    )
    raw = raw_matrix(table.X, table.categorical)
    Xp, cat_mask = peer_matrix(table.X, table.categorical, cal_idx)
    model = HistGradientBoostingClassifier(
        random_state=0, categorical_features=cat_mask if cat_mask.any() else None
    )
    _, model_s = timed(lambda: model.fit(raw[fit_idx], y[fit_idx]))
    pred_test = model.predict(raw[test_idx]).astype(np.int64)
    pred_cal = model.predict(raw[cal_idx]).astype(np.int64)
    y_test = y[test_idx]

    rows, results = [], []
    for peer in default_peers(len(classes), quick=quick, n_rows=len(cal_idx)):
        try:
            _, secs = timed(lambda p=peer: p.fit(Xp[cal_idx], y[cal_idx]))
            covered, labels = peer.answer(Xp[test_idx])
        except Exception as exc:  # a peer failing is a result, not a crash
            log(f"- {peer.name}: failed: {type(exc).__name__}: {exc}\n")
            continue
        ans = Answer(
            peer.family,
            peer.config,
            covered,
            labels,
            secs,
            peer.n_rules,
            peer.conditions_per_rule,
            peer.rows_used,
        )
        m = evaluate(ans, y_test, pred_test)
        results.append((ans, m))

    X_cal = table.X[cal_idx]
    X_test = table.X[test_idx]
    rc = RuleCascadeRuns(
        X_cal, y[cal_idx], X_test, y_test, pred_test, np.arange(len(classes)), pred_cal
    )
    rc_rows = [rc.get(me) for me in GUARANTEE_TARGETS]
    rc_rows += [rc.get(me, mode="fidelity") for me in GUARANTEE_TARGETS]

    def row(ans: Answer, m: dict) -> list:
        return [
            ans.method,
            ans.config,
            m["coverage"],
            m["precision"],
            m["precision_model"],
            m["cascade_acc"],
            m["model_acc"],
            f"{m['rare_recall_cascade']:.3f} / {m['rare_recall_model']:.3f}",
            fmt(ans.fit_s, 2),
            ans.n_rules,
            None if ans.conditions_per_rule is None else round(ans.conditions_per_rule, 1),
            f"{ans.rows_used:,}",
        ]

    for ans, m in results + rc_rows:
        rows.append(row(ans, m))
    headers = [
        "method",
        "config",
        "coverage",
        "prec (truth)",
        "prec (model)",
        "cascade acc",
        "model acc",
        "rarest-class recall cascade / model",
        "fit s",
        "rules",
        "conds/rule",
        "train rows",
    ]
    log(
        f"Expensive model: HistGradientBoosting, fit in {model_s:.1f} s, test accuracy "
        f"{(pred_test == y_test).mean():.4f}.\n"
    )
    log(markdown_table(headers, rows) + "\n")

    # risk-coverage: rulecascade at max_error = 1 - p for every peer configuration
    sweep = QUICK_SWEEP if quick else SWEEP
    for me in sweep:
        rc.get(me)
        rc.get(me, certify=False)
    variants = [
        (
            label,
            what,
            RuleCascadeRuns(
                X_cal, y[cal_idx], X_test, y_test, pred_test, np.arange(len(classes)), pred_cal,
                **kwargs,
            ),
        )
        for label, kwargs, what in PROJECTED.get(name, ())
    ]  # fmt: skip
    variant_wins = [0] * len(variants)
    rc_table, wins, losses, ties, unreachable = [], 0, 0, 0, 0
    for ans, m in results:
        c, p = m["coverage"], m["precision"]
        if m["covered"] == 0:
            verdict = "n/a (peer covers nothing)"
            ties += 1
            me = None
            rm = {"coverage": math.nan, "precision": math.nan, "covered": 0}
        else:
            me = max(1.0 - p, 0.001)
            _, rm = rc.get(me)
            ok_cov = rm["coverage"] >= c
            ok_prec = rm["covered"] > 0 and rm["precision"] >= p
            if ok_cov and ok_prec:
                verdict, wins = "**win**", wins + 1
            else:
                losses += 1
                why = []
                if not ok_cov:
                    why.append("coverage")
                if rm["covered"] > 0 and not ok_prec:
                    why.append("precision")
                verdict = "LOSS (" + ", ".join(why) + ")"
                if out_of_reach(me, len(cal_idx)):
                    verdict += " †"
                    unreachable += 1
        best, how = rc.best_at_precision(p) if m["covered"] else (math.nan, "—")
        extra = []
        for k, (_, _, runs) in enumerate(variants):
            pm = {"coverage": math.nan, "precision": math.nan}
            if me is not None:
                _, pm = runs.get(me)
                won = pm["coverage"] >= c and pm["covered"] > 0 and pm["precision"] >= p
                variant_wins[k] += won
            extra += [pm["coverage"], fmt(pm["precision"], 4)]
        rc_table.append(
            [
                f"{ans.method} {ans.config}",
                c,
                fmt(p, 4),
                None if me is None else f"{me:.4g}",
                rm["coverage"],
                fmt(rm["precision"], 4),
                verdict,
                best,
                how,
                *extra,
            ]
        )
    log(
        f"Risk-coverage on {name}: rulecascade fitted with max_error = max(1 - p, 0.001), "
        f"confidence {CONFIDENCE}, on the calibration split only. The columns "
        "`rc cov @ realized prec >= p` and `(max_error)` are post hoc (they look at test "
        "precision): the largest test coverage of any rulecascade fit in the sweep (certified "
        "or not) whose realized test precision is at least p, and its max_error.\n"
    )
    log(
        markdown_table(
            [
                "peer",
                "peer cov c",
                "peer prec p",
                "rc max_error",
                "rc cov",
                "rc prec",
                "result",
                "rc cov @ realized prec >= p",
                "(max_error)",
            ]
            + [f"rc {label} {col}" for label, _, _ in variants for col in ("cov", "prec")],
            rc_table,
        )
        + "\n"
    )
    log(
        f"Wins {wins}, losses {losses} (of them out of any certificate's reach, †: "
        f"{unreachable}), peer configurations covering nothing {ties}. † marks a peer "
        f"configuration that no learner certifying on these {len(cal_idx):,} calibration rows "
        "can match: certifying max_error = 1 - p needs more error-free covered rows than there "
        "are calibration rows.\n"
    )
    for (label, what, _), won in zip(variants, variant_wins, strict=True):
        log(
            f"rulecascade on {what}, fitted on the calibration split (columns `rc {label}`): "
            f"wins {won} of {wins + losses}.\n"
        )

    sweep_rows = []
    for (me, certify, mode), (ans, m) in sorted(rc.cache.items()):
        if mode != "truth":
            continue
        rep = m["report"]
        sweep_rows.append(
            [
                f"{me:g}",
                "yes" if certify else "no",
                m["coverage"],
                fmt(m["precision"], 4),
                f"{m['errors']} / {m['covered']}",
                ans.n_rules,
                fmt(ans.fit_s, 2),
                _rows_used(rep),
                str(rep.get("stop_reason", ""))[:90].replace("|", "/"),
            ]
        )
    log(f"rulecascade sweep on {name} (certified vs uncertified = certify=False):\n")
    log(
        markdown_table(
            [
                "max_error",
                "certified",
                "coverage",
                "test prec",
                "errors / covered",
                "rules",
                "fit s",
                "growth / valid. / cert. rows",
                "stop reason (truncated)",
            ],
            sweep_rows,
        )
        + "\n"
    )
    guarantee = []
    for me in GUARANTEE_TARGETS:
        for mode in ("truth", "fidelity"):
            ans, m = rc.get(me, mode=mode)
            prec = m["precision"] if mode == "truth" else m["precision_model"]
            ok = (
                "vacuous (no coverage)"
                if m["covered"] == 0
                else ("yes" if prec >= 1.0 - me else "**NO**")
            )
            guarantee.append([name, mode, f"{me:g}", m["coverage"], m["covered"], fmt(prec, 4), ok])
    return {
        "name": name,
        "wins": wins,
        "losses": losses,
        "unreachable": unreachable,
        "ties": ties,
        "guarantee": guarantee,
    }


# --------------------------------------------------------------------------- speed


def run_speed(n_rows: int, skope_rows: int, log) -> None:
    import polars as pl

    from rulecascade.datasets.synthetic import make_fraud

    ds = make_fraud(n_rows, n_features=50, fraud_rate=0.005, random_state=1)
    X, y = ds.X, ds.y.astype(np.int64)
    # warm up the numba kernels on a small slice (compile time reported separately)
    _, warm_s = rulecascade_fit(X[:20_000], y[:20_000], 0.005, confidence=CONFIDENCE)
    learner, rc_s = rulecascade_fit(X, y, 0.005, confidence=CONFIDENCE)
    n_rules, _ = rule_stats(learner)
    rows = [
        [
            "rulecascade max_error=0.005",
            f"{n_rows:,}",
            fmt(rc_s, 1),
            fmt(rc_s, 1),
            n_rules,
            f"first fit in the process (numba JIT compile + 20k rows): {warm_s:.1f} s",
        ]
    ]
    Xs = X[:skope_rows]
    Xnp = Xs.with_columns(pl.col(c).to_physical().cast(pl.Float64) for c in ds.categorical)
    Xnp = np.nan_to_num(Xnp.to_numpy().astype(np.float64), nan=0.0)
    skope_cls = import_skope_rules()
    for n_jobs in (2,):  # both methods get the machine's 2 cores
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m, sk_s = timed(
                lambda nj=n_jobs: skope_cls(precision_min=0.95, random_state=0, n_jobs=nj).fit(
                    Xnp, y[:skope_rows]
                )
            )
        scaled = sk_s * n_rows / skope_rows
        rows.append(
            [
                f"skope-rules precision_min=0.95 n_jobs={n_jobs}",
                f"{skope_rows:,}",
                fmt(sk_s, 1),
                fmt(scaled, 1),
                len(m.rules_),
                "same rows"
                if skope_rows == n_rows
                else f"scaled linearly x{n_rows / skope_rows:g} (a lower bound: trees are n log n)",
            ]
        )
    log(
        f"## Speed: fit on make_fraud({n_rows:,}, 50 features)\n\n"
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}. skope-rules gets the same "
        "rows as a float64 matrix (categoricals as codes, NaN -> 0, as it rejects NaN).\n"
    )
    log(
        markdown_table(
            ["method", "rows fitted", "fit s", f"s for {n_rows:,} rows", "rules", "note"], rows
        )
        + "\n"
    )
    best_skope = min(float(r[3]) for r in rows[1:])
    log(
        f"rulecascade: {rc_s:.1f} s (goal < 60 s: {'met' if rc_s < 60 else 'NOT met'}); "
        f"speed-up vs the faster skope-rules run: {best_skope / rc_s:.1f}x "
        f"(goal >= 10x: {'met' if best_skope / rc_s >= 10 else 'NOT met'}).\n"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller data and fewer configurations")
    ap.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated names")
    ap.add_argument("--out", default=None, help="markdown file to write (default: print only)")
    ap.add_argument("--no-speed", action="store_true", help="skip the 1M-row speed benchmark")
    ap.add_argument("--speed-rows", type=int, default=None)
    ap.add_argument("--skope-rows", type=int, default=None)
    args = ap.parse_args(argv)

    chunks: list[str] = []

    def log(text: str) -> None:
        print(text, flush=True)
        chunks.append(text)
        if args.out:  # written as it goes, so a long run leaves its finished data sets
            _write_atomic(Path(args.out), "\n".join(chunks))

    t0 = time.perf_counter()
    versions = peer_versions()
    try:
        from rulecascade import RuleLearner  # noqa: F401
    except ImportError:
        print("rulecascade.RuleLearner is not available", file=sys.stderr)
        return 2
    import subprocess

    import rulecascade

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    log(
        "# rulecascade quality benchmark" + (" (--quick)" if args.quick else "") + "\n\n"
        f"rulecascade {rulecascade.__version__} (repo commit {commit or '?'}, imported from "
        f"`{Path(rulecascade.__file__).parent}`); peers: "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
        + " (skope-rules through the shim in benchmarks/peers.py). Peers get a float64 matrix "
        "(categoricals as codes, NaN -> calibration median); rulecascade gets the polars frame. "
        "Labels = truth unless the config says fidelity (labels = the model's predictions, "
        "precision then judged vs the model). Peers over a row cap train on a stratified "
        "subsample of the calibration split (train rows column).\n"
    )
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    summaries = [run_dataset(n, args.quick, log) for n in names]

    log("## Summary\n")
    log(
        markdown_table(
            [
                "data set",
                "risk-coverage wins",
                "losses",
                "of them out of any certificate's reach",
                "peer configs covering nothing",
            ],
            [[s["name"], s["wins"], s["losses"], s["unreachable"], s["ties"]] for s in summaries],
        )
        + "\n"
    )
    log("Guarantee check (test precision >= 1 - max_error; fidelity: vs the model):\n")
    log(
        markdown_table(
            ["data set", "mode", "max_error", "coverage", "covered test rows", "test prec", "met"],
            [g for s in summaries for g in s["guarantee"]],
        )
        + "\n"
    )
    if not args.no_speed:
        n = args.speed_rows or (100_000 if args.quick else 1_000_000)
        run_speed(n, min(args.skope_rows or n, n), log)
    log(f"Total benchmark time: {time.perf_counter() - t0:.0f} s.\n")
    if args.out:
        _write_atomic(Path(args.out), "\n".join(chunks))
    return 0


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a reader never sees a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
