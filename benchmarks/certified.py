"""Certified coverage: RuleLearner against certified baselines given the same rows and test.

    python benchmarks/certified.py [--quick] [--seeds 5] [--datasets a,b] [--eps 0.01,0.1]
                                   [--out benchmarks/results/certified.md]

Protocol per data set and seed: stratified model / calibration / test split (50/25/25). The
model is a HistGradientBoostingClassifier fitted on the model split; in ``fidelity`` mode its
predictions are the labels of the calibration and test rows, in ``truth`` mode the true labels
are. Every method gets the calibration rows only and must certify ``error <= eps`` at
confidence 0.95; coverage and precision are measured on the test rows.

* ``RuleLearner``: the default constructor, ``max_error=eps``, ``random_state=seed``.
* ``B1`` tree leaves: the calibration rows split 55% select / 45% certify (stratified). A
  ``DecisionTreeClassifier`` is fitted on the select rows for each ``min_samples_leaf`` of a
  grid; its leaves are ranked by their Clopper-Pearson precision bound on the select rows;
  the ``min_samples_leaf`` kept is the one whose nested top-k sets cover the most select rows
  within an error bound of ``eps`` (select rows only).
* ``B2`` / ``B3``: a logistic regression / a 50-iteration HistGradientBoosting fitted on the
  select rows, answering when its top probability passes a threshold; the thresholds
  (quantiles of the select rows' top probabilities) are walked from high to low.

Every baseline is certified alike: the nested steps are tested in order on the certify rows,
one-sided exact binomial test of ``error > eps`` at alpha 0.05 (fixed-sequence testing: the
walk stops at the first step that fails, the last passing step is kept), starting at the first
step whose expected certification rows (select coverage rescaled) reach
``m*(eps) = ceil(log 0.05 / log(1 - eps))``.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent.parent))  # the repo, unless installed

from _common import (  # noqa: E402
    Table,
    markdown_table,
    peer_matrix,
    raw_matrix,
    rulecascade_answer,
    rulecascade_fit,
)

from rulecascade import datasets  # noqa: E402
from rulecascade.learn.bounds import rows_needed  # noqa: E402

CONFIDENCE = 0.95
ALPHA = 1.0 - CONFIDENCE
EPS = (0.01, 0.02, 0.05, 0.1, 0.2)
MODES = ("truth", "fidelity")
METHODS = ("RuleLearner", "B1 tree", "B2 logreg", "B3 hgb")
BASELINES = METHODS[1:]
FLIGHTS_ROWS = 120_000
LEAF_GRID = (5, 10, 20, 50, 100, 200)
N_THRESHOLDS = 200


# --------------------------------------------------------------------------- data


def load(name: str, seed: int = 0) -> Table:
    """A bundled data set as a benchmark table (flights: a stratified 120k-row sample)."""
    from sklearn.model_selection import train_test_split

    ds = datasets.load(name)
    table = Table(name, ds.X, np.asarray(ds.y), tuple(ds.categorical))
    if name == "flights" and table.n_rows > FLIGHTS_ROWS:
        idx, _ = train_test_split(
            np.arange(table.n_rows), train_size=FLIGHTS_ROWS, stratify=table.y, random_state=0
        )
        idx = np.sort(idx)
        table = Table(name, table.X[idx], table.y[idx], table.categorical, "120k sample")
    return table


def split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified model / calibration / test indices, 50/25/25."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    model, rest = train_test_split(idx, train_size=0.5, stratify=y, random_state=seed)
    cal, test = train_test_split(rest, train_size=0.5, stratify=y[rest], random_state=seed + 1)
    return np.sort(model), np.sort(cal), np.sort(test)


# --------------------------------------------------------------------------- certification


def fixed_sequence_step(errors: np.ndarray, covered: np.ndarray, eps: float, start: int) -> int:
    """Last step (index) rejected by fixed-sequence testing from ``start``; -1 if none."""
    best = -1
    for i in range(start, len(covered)):
        if covered[i] <= 0 or stats.binom.cdf(errors[i], covered[i], eps) > ALPHA:
            break
        best = i
    return best


def certify_steps(
    expected_rows: np.ndarray,
    cert_masks: list[np.ndarray],
    cert_wrong: np.ndarray,
    eps: float,
) -> int:
    """Index of the step kept by the fixed-sequence test on the certify rows (-1: none).

    ``expected_rows``: per step, the certify rows the select rows predict it covers;
    ``cert_masks``: per step, which certify rows it covers; ``cert_wrong``: which certify rows
    the method answers wrongly (for the step covering them)."""
    m_star = rows_needed(eps, CONFIDENCE)
    able = np.flatnonzero(expected_rows >= m_star)
    if able.size == 0:
        return -1
    covered = np.array([int(m.sum()) for m in cert_masks])
    errors = np.array([int((m & cert_wrong).sum()) for m in cert_masks])
    return fixed_sequence_step(errors, covered, eps, int(able[0]))


def cp_lower(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound on k / n at CONFIDENCE (0 where k == 0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        b = stats.beta.ppf(ALPHA, k, n - k + 1.0)
    return np.where(k <= 0, 0.0, np.nan_to_num(b, nan=0.0))


# --------------------------------------------------------------------------- baselines


def tree_steps(M_sel, y_sel, seed: int):
    """B1: (tree, leaf ids in rank order, leaf labels), min_samples_leaf chosen on select rows."""
    from sklearn.tree import DecisionTreeClassifier

    best = None
    for msl in LEAF_GRID:
        if msl * 2 > len(y_sel):
            continue
        tree = DecisionTreeClassifier(min_samples_leaf=msl, random_state=seed).fit(M_sel, y_sel)
        leaf = tree.apply(M_sel)
        ids, inv = np.unique(leaf, return_inverse=True)
        n_cls = tree.classes_.shape[0]
        counts = np.zeros((ids.size, n_cls), np.int64)
        np.add.at(counts, (inv, np.searchsorted(tree.classes_, y_sel)), 1)
        lab = counts.argmax(axis=1)
        n = counts.sum(axis=1)
        k = counts[np.arange(ids.size), lab]
        order = np.argsort(-cp_lower(k, n), kind="stable")
        # the score used to choose min_samples_leaf: select coverage of the widest prefix whose
        # select error bound stays within every eps of the grid (summed over the grid)
        cum_n, cum_e = np.cumsum(n[order]), np.cumsum((n - k)[order])
        score = 0.0
        for eps in EPS:
            ok = np.flatnonzero(1.0 - cp_lower(cum_n - cum_e, cum_n) <= eps)
            score += cum_n[ok[-1]] if ok.size else 0.0
        if best is None or score > best[0]:
            best = (score, tree, ids[order], tree.classes_[lab[order]], n[order])
    return best[1:]


def b1(M_sel, y_sel, M_cert, y_cert, M_test, eps_grid, seed):
    """Per eps: (test covered mask, test labels) of the certified tree-leaf set."""
    tree, leaves, labels, sel_n = tree_steps(M_sel, y_sel, seed)
    scale = len(y_cert) / len(y_sel)
    rank = {int(v): i for i, v in enumerate(leaves)}
    cert_rank = np.array([rank[int(v)] for v in tree.apply(M_cert)])
    test_rank = np.array([rank[int(v)] for v in tree.apply(M_test)])
    wrong = labels[cert_rank] != y_cert
    steps = np.arange(len(leaves))
    masks = [cert_rank <= s for s in steps]
    out = {}
    for eps in eps_grid:
        k = certify_steps(np.cumsum(sel_n) * scale, masks, wrong, eps)
        out[eps] = (test_rank <= k, labels[test_rank])
    return out


def threshold_baseline(clf, M_sel, y_sel, M_cert, y_cert, M_test, eps_grid):
    """B2/B3: per eps, (test covered mask, test labels) of the certified confidence threshold."""
    clf.fit(M_sel, y_sel)
    p_sel = clf.predict_proba(M_sel).max(axis=1)
    thr = np.unique(np.quantile(p_sel, np.linspace(0.0, 1.0, N_THRESHOLDS + 1)))[::-1]
    pc = clf.predict_proba(M_cert)
    conf_c, lab_c = pc.max(axis=1), clf.classes_[pc.argmax(axis=1)]
    pt = clf.predict_proba(M_test)
    conf_t, lab_t = pt.max(axis=1), clf.classes_[pt.argmax(axis=1)]
    scale = len(y_cert) / len(y_sel)
    expected = np.array([np.sum(p_sel >= t) for t in thr]) * scale
    masks = [conf_c >= t for t in thr]
    wrong = lab_c != y_cert
    out = {}
    for eps in eps_grid:
        k = certify_steps(expected, masks, wrong, eps)
        out[eps] = (conf_t >= thr[k] if k >= 0 else np.zeros(len(conf_t), bool), lab_t)
    return out


def baselines(M_cal, y_cal, M_test, eps_grid, seed):
    """Every baseline's per-eps answers on the test rows."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    idx = np.arange(len(y_cal))
    _, counts = np.unique(y_cal, return_counts=True)
    strat = y_cal if counts.min() >= 2 else None
    sel, cert = train_test_split(idx, train_size=0.55, stratify=strat, random_state=seed)
    args = (M_cal[sel], y_cal[sel], M_cal[cert], y_cal[cert], M_test, eps_grid)
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    hgb = HistGradientBoostingClassifier(max_iter=50, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "B1 tree": b1(*args, seed),
            "B2 logreg": threshold_baseline(lr, *args),
            "B3 hgb": threshold_baseline(hgb, *args),
        }


# --------------------------------------------------------------------------- one data set


def run_dataset(name: str, seeds: list[int], eps_grid, log) -> list[dict]:
    """Result rows (one per seed, mode, eps, method) for one data set."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    table = load(name)
    classes = np.unique(table.y)
    y_all = np.searchsorted(classes, table.y)
    raw = raw_matrix(table.X, table.categorical)
    cat_mask = np.array([c in set(table.categorical) for c in table.X.columns])
    rows = []
    for seed in seeds:
        model_rows, cal, test = split(y_all, seed)
        M, _ = peer_matrix(table.X, table.categorical, cal)
        model = HistGradientBoostingClassifier(
            categorical_features=cat_mask if cat_mask.any() else None, random_state=seed
        ).fit(raw[model_rows], y_all[model_rows])
        pred = model.predict(raw)
        X_cal, X_test = table.X[cal], table.X[test]
        for mode in MODES:
            y = y_all if mode == "truth" else pred
            y_cal, y_test = y[cal], y[test]
            t = time.perf_counter()
            base = baselines(M[cal], y_cal, M[test], eps_grid, seed)
            t_base = time.perf_counter() - t
            for eps in eps_grid:
                learner, secs = rulecascade_fit(
                    X_cal, classes[y_cal], eps, mode=mode, random_state=seed
                )
                cov, lab = rulecascade_answer(learner, X_test, classes)
                answers = {"RuleLearner": (cov, lab, secs)}
                for b in BASELINES:
                    answers[b] = (*base[b][eps], t_base / len(eps_grid) / len(BASELINES))
                for method, (c, lab_, s) in answers.items():
                    n_cov = int(c.sum())
                    err = int((lab_[c] != y_test[c]).sum())
                    rows.append(
                        dict(
                            data=name,
                            seed=seed,
                            mode=mode,
                            eps=eps,
                            method=method,
                            coverage=n_cov / len(y_test),
                            covered=n_cov,
                            errors=err,
                            fit_s=s,
                        )
                    )
            log(f"  {name} seed {seed} {mode}: baselines {t_base:.1f}s")
    return rows


# --------------------------------------------------------------------------- report


def precision_miss(covered: int, errors: int, eps: float) -> bool:
    """Test errors beyond binomial noise of eps: P(Binom(covered, eps) >= errors) < 0.01."""
    return covered > 0 and errors > 0 and stats.binom.sf(errors - 1, covered, eps) < 0.01


def summarize(rows: list[dict], eps_grid) -> tuple[str, dict]:
    """Markdown tables (per data set, then the summary) and the summary's figures."""
    import collections

    cell = collections.defaultdict(list)
    for r in rows:
        cell[(r["data"], r["mode"], r["eps"], r["method"])].append(r)
    names = list(dict.fromkeys(r["data"] for r in rows))
    out = []
    wins = total = 0
    never_empty_miss = []
    spread = collections.defaultdict(list)
    means = collections.defaultdict(list)
    misses = []
    for name in names:
        table_rows = []
        for mode in MODES:
            for eps in eps_grid:
                covs = {
                    m: np.array([r["coverage"] for r in cell[(name, mode, eps, m)]])
                    for m in METHODS
                }
                if not len(covs["RuleLearner"]):
                    continue
                mean = {m: float(v.mean()) for m, v in covs.items()}
                best_b = max(mean[b] for b in BASELINES)
                win = mean["RuleLearner"] >= best_b - 5e-4
                wins += win
                total += 1
                for m in METHODS:
                    means[(m, eps)].append(mean[m])
                    spread[m].append(float(covs[m].max() - covs[m].min()))
                    for r in cell[(name, mode, eps, m)]:
                        if precision_miss(r["covered"], r["errors"], eps):
                            misses.append(r)
                tree_ok = covs["B1 tree"].mean() >= 0.2
                if tree_ok and np.any(covs["RuleLearner"] == 0):
                    never_empty_miss.append(f"{name} {mode} {eps}")
                rl = [r for r in cell[(name, mode, eps, "RuleLearner")]]
                n_cov = sum(r["covered"] for r in rl)
                prec = 1.0 - sum(r["errors"] for r in rl) / n_cov if n_cov else math.nan
                table_rows.append(
                    [
                        mode,
                        eps,
                        f"{mean['RuleLearner']:.3f} ± {covs['RuleLearner'].std():.3f}",
                        *[f"{mean[b]:.3f} ± {covs[b].std():.3f}" for b in BASELINES],
                        "yes" if win else "**no**",
                        prec,
                    ]
                )
        out.append(f"### {name}\n")
        out.append(
            markdown_table(
                [
                    "mode",
                    "eps",
                    "RuleLearner",
                    *BASELINES,
                    "RL >= best",
                    "RL test precision",
                ],
                table_rows,
            )
        )
        out.append("")
    summary = ["## Summary\n"]
    summary.append(
        f"RuleLearner's mean certified coverage over seeds >= the best baseline's in "
        f"**{wins} of {total}** (data set, mode, eps) cells (0.0005 tolerance).\n"
    )
    summary.append("Mean certified test coverage over cells, per eps:\n")
    summary.append(
        markdown_table(
            ["method", *[str(e) for e in eps_grid]],
            [[m, *[float(np.mean(means[(m, e)])) for e in eps_grid]] for m in METHODS],
        )
    )
    summary.append("")
    summary.append("Seed spread (max - min coverage over seeds), mean and worst over cells:\n")
    summary.append(
        markdown_table(
            ["method", "mean spread", "max spread"],
            [[m, float(np.mean(spread[m])), float(np.max(spread[m]))] for m in METHODS],
        )
    )
    summary.append("")
    summary.append(
        "RuleLearner empty on some seed where the tree baseline certifies >= 0.2 on average: "
        + (", ".join(never_empty_miss) if never_empty_miss else "none")
        + "\n"
    )
    if misses:
        summary.append(
            "Precision misses (test errors beyond binomial noise of eps, P < 0.01): "
            + "; ".join(
                f"{r['method']} {r['data']} {r['mode']} eps {r['eps']} seed {r['seed']} "
                f"({r['errors']}/{r['covered']})"
                for r in misses
            )
            + "\n"
        )
    else:
        summary.append("Precision misses (test errors beyond binomial noise of eps): none\n")
    figures = {
        "wins": wins,
        "cells": total,
        "mean": {m: [float(np.mean(means[(m, e)])) for e in eps_grid] for m in METHODS},
        "misses": len(misses),
        "empty": never_empty_miss,
    }
    return "\n".join(summary) + "\n## Per data set\n\n" + "\n".join(out), figures


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, eps 0.01/0.05/0.2")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..n-1 (default 5)")
    ap.add_argument("--datasets", default=None, help="comma-separated names")
    ap.add_argument("--eps", default=None, help="comma-separated targets")
    ap.add_argument("--out", default=None, help="markdown file (default results/certified.md)")
    args = ap.parse_args(argv)
    names = args.datasets.split(",") if args.datasets else datasets.names()
    n_seeds = args.seeds or (2 if args.quick else 5)
    eps_grid = (
        tuple(float(v) for v in args.eps.split(","))
        if args.eps
        else ((0.01, 0.05, 0.2) if args.quick else EPS)
    )
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / "certified.md"
    t0 = time.perf_counter()
    rows: list[dict] = []
    for name in names:
        t = time.perf_counter()
        rows += run_dataset(name, list(range(n_seeds)), eps_grid, print)
        print(f"{name}: {time.perf_counter() - t:.0f}s", flush=True)
    body, fig = summarize(rows, eps_grid)
    cmd = "python benchmarks/certified.py " + " ".join(argv if argv is not None else sys.argv[1:])
    head = [
        "# Certified coverage against certified baselines\n",
        f"`{cmd.strip()}` — {n_seeds} seeds, eps {', '.join(str(e) for e in eps_grid)}, "
        f"confidence {CONFIDENCE}; {platform.machine()}, Python {platform.python_version()}, "
        f"{time.perf_counter() - t0:.0f} s on a shared 2-core machine.\n",
        "Model / calibration / test split 50/25/25 (stratified, per seed); flights is a "
        f"stratified {FLIGHTS_ROWS:,}-row sample. Coverage is certified coverage on the test "
        "rows (mean ± sd over seeds). Truth mode: true labels; fidelity mode: a "
        "HistGradientBoosting model's predictions (fitted on the model split). Baselines: B1 "
        "certified tree leaves (select 55% / certify 45% of the calibration rows); B2/B3 a "
        "logistic regression / 50-iteration HistGradientBoosting confidence threshold; all "
        "certified by fixed-sequence exact binomial tests from the first step whose expected "
        "certification rows reach m*(eps) (see the module docstring).\n",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(head) + "\n" + body)
    print(body.split("## Per data set")[0])
    print(f"wrote {out} ({time.perf_counter() - t0:.0f}s)")
    return fig


if __name__ == "__main__":
    main()
