"""Serving speed: the numba rule kernel vs the reference evaluator vs a scikit-learn tree, and the
overhead a Cascade adds in front of a cheap model when no rule fires.

    python benchmarks/runtime.py            # 1M rows
    python benchmarks/runtime.py --quick    # 200k rows, fewer repeats

Rule set for the speed comparison: the leaves of a fitted ``DecisionTreeClassifier`` turned into
rules by hand (one rule per leaf, the path's conditions merged per feature), so the rules and the
tree answer the same question with the same number of leaves and thresholds; the script checks
that they agree. Timings are wall-clock, best of N after a warm-up (JIT compiled first).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numba
import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from rulecascade import Cascade
from rulecascade.kernels.dispatch import cuda_available
from rulecascade.serve import compile_rules, evaluate
from rules_export import Feature, Interval, Rule, RuleSet
from rules_export.reference import match as reference_match


def best_of(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def tree_to_ruleset(tree: DecisionTreeClassifier, names: list[str]) -> RuleSet:
    """One rule per leaf (``x <= t`` left, ``x > t`` right), in the tree's leaf order."""
    t = tree.tree_
    classes = [int(c) for c in tree.classes_]
    rules: list[Rule] = []

    def walk(node: int, conds: list[Interval]) -> None:
        if t.children_left[node] == -1:
            label = classes[int(np.argmax(t.value[node][0]))]
            rules.append(Rule(tuple(conds), label, provenance=f"leaf {node}"))
            return
        f, thr = names[t.feature[node]], float(t.threshold[node])
        walk(t.children_left[node], conds + [Interval(f, None, thr)])
        walk(t.children_right[node], conds + [Interval(f, thr, None)])

    walk(0, [])
    return RuleSet(tuple(Feature(n) for n in names), tuple(classes), tuple(rules))


def make_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    logit = X[:, 0] + 0.8 * X[:, 1] * X[:, 2] - 0.6 * X[:, 3] + 0.5 * np.sin(2 * X[:, 4])
    y = (logit + 0.4 * rng.normal(size=n) > 0).astype(np.int64)
    return X, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="200k rows, fewer repeats")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--leaves", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=None)
    args = ap.parse_args()
    n = args.rows or (200_000 if args.quick else 1_000_000)
    repeats = args.repeats or (3 if args.quick else 7)
    d = args.features
    names = [f"x{i}" for i in range(d)]

    X, y = make_data(n, d, seed=0)
    X_fit, y_fit = make_data(200_000, d, seed=1)
    tree = DecisionTreeClassifier(max_leaf_nodes=args.leaves, random_state=0).fit(X_fit, y_fit)
    rules = tree_to_ruleset(tree, names)
    cr = compile_rules(rules)
    labels = np.array([r.label for r in rules.rules])

    # correctness first: the rules answer exactly what the tree answers (on float32 values the
    # tree sees the same numbers), and the kernel what the reference answers
    X32 = X.astype(np.float32)
    idx = evaluate(cr, X32, "cpu")[0]
    agree_tree = float(np.mean(labels[idx] == tree.predict(X32)))
    sample = slice(0, min(n, 200_000))
    agree_ref = bool(
        np.array_equal(evaluate(cr, X[sample], "cpu")[0], reference_match(rules, X[sample]))
    )

    t_tree = best_of(lambda: tree.predict(X), repeats)
    t_kernel = best_of(lambda: evaluate(cr, X, "cpu"), repeats)
    t_cells = best_of(lambda: evaluate(cr, X, "cpu", kernel="cells"), repeats)
    t_rules = best_of(lambda: evaluate(cr, X, "cpu", kernel="rules"), repeats)
    t_kernel32 = best_of(lambda: evaluate(cr, X32, "cpu"), repeats)
    XF = np.asfortranarray(X)
    t_kernel_f = best_of(lambda: evaluate(cr, XF, "cpu"), repeats)
    frame = pl.DataFrame({name: X[:, j] for j, name in enumerate(names)})
    t_polars = best_of(lambda: evaluate(cr, frame, "cpu"), repeats)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # per-core speed; robust when other processes share the CPUs
    t_kernel1 = best_of(lambda: evaluate(cr, X, "cpu"), repeats)
    numba.set_num_threads(threads)
    t_ref = best_of(lambda: reference_match(rules, X), max(1, repeats // 3), warmup=0)
    rows_gpu = []
    if cuda_available():
        same = np.array_equal(evaluate(cr, X, "cuda")[0], evaluate(cr, X, "cpu")[0])
        t_gpu = best_of(lambda: evaluate(cr, X, "cuda"), repeats)
        rows_gpu.append(
            (f"numba.cuda kernel (float64 C-order, incl. transfers; == CPU: {same})", t_gpu)
        )

    # --- cascade overhead when no rule fires --------------------------------------------------
    # rules: the tree's 32 purest leaves (what a learner would keep); rows: ones none of them
    # covers, so every row is checked against every rule and then goes to the model
    leaf_ids = [int(r.provenance.split()[1]) for r in rules.rules]
    vals = tree.tree_.value[leaf_ids][:, 0, :]
    order = np.argsort(-(vals.max(axis=1) / vals.sum(axis=1)), kind="stable")[:32]
    pure = RuleSet(rules.features, rules.classes, tuple(rules.rules[i] for i in sorted(order)))
    pool, kept = [], 0
    seed = 10
    while kept < n:
        Xp, _ = make_data(n, d, seed=seed)
        seed += 1
        Xp = Xp[evaluate(pure, Xp, "cpu")[0] < 0]
        pool.append(Xp)
        kept += len(Xp)
    X_miss = np.ascontiguousarray(np.concatenate(pool)[:n])
    lr = LogisticRegression(max_iter=200).fit(X_fit[:50_000], y_fit[:50_000])
    hgb = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(
        X_fit[:50_000], y_fit[:50_000]
    )
    overheads = {
        "LogisticRegression.predict": measure_overhead(pure, lr.predict, X_miss, repeats),
        "HistGradientBoostingClassifier.predict (100 trees)": measure_overhead(
            pure, hgb.predict, X_miss, max(1, repeats // 2)
        ),
    }

    # --- report ---------------------------------------------------------------------------------
    print(
        f"\n{n:,} rows x {d} float64 features; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end); numba "
        f"threads: {_numba_threads()}; best of {repeats}\n"
    )
    print(
        f"Tree: {tree.get_n_leaves()} leaves, depth {tree.get_depth()}. Rule set: {len(rules)} "
        f"rules, {cr.n_conditions} conditions on {len(cr.columns)} features "
        f"(kernel chosen: {cr.kernel}). Rules == tree on float32 rows: {agree_tree:.6f}; "
        f"kernel == reference: {agree_ref}.\n"
    )
    table = [
        ("sklearn DecisionTreeClassifier.predict", t_tree),
        ("reference evaluator (rules_export.reference.match)", t_ref),
        ("numba kernel, auto (float64 C-order input)", t_kernel),
        ("numba kernel, per-feature bitsets", t_cells),
        ("numba kernel, rule by rule", t_rules),
        ("numba kernel, auto (float32 input)", t_kernel32),
        ("numba kernel, auto (float64 column-major input)", t_kernel_f),
        ("numba kernel, auto (from a polars DataFrame, incl. conversion)", t_polars),
        ("numba kernel, auto, 1 thread", t_kernel1),
        *rows_gpu,
    ]
    print("| evaluator | seconds | rows/s | speed vs sklearn tree |")
    print("|---|---:|---:|---:|")
    for name, t in table:
        print(f"| {name} | {t:.4f} | {n / t:,.0f} | {t_tree / t:.2f}x |")
    print(
        f"\nCascade overhead when no rule fires ({len(pure)} rules, {n:,} rows none of them covers),"
        " as a fraction of the model's own time:\n"
    )
    print(
        "| model | model alone (s) | Cascade.predict (s) | overhead | rule evaluation "
        "| bookkeeping |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, o in overheads.items():
        t_model = o["model_alone"]
        print(
            f"| {name} | {t_model:.4f} | {o['cascade']:.4f} | "
            f"{(o['cascade'] - t_model) / t_model:.1%} | {o['rules'] / t_model:.1%} | "
            f"{o['bookkeeping'] / t_model:.2%} |"
        )
    print(
        "\noverhead = (Cascade.predict - model alone) / model alone; rule evaluation and "
        "bookkeeping from the cascade's own timers (best of N)."
    )


def measure_overhead(rules: RuleSet, model, X_miss: np.ndarray, repeats: int) -> dict[str, float]:
    """Best-of-N seconds: the model alone, the cascade, and the cascade's own rule/bookkeeping time."""
    cascade = Cascade(rules, model)
    assert np.array_equal(cascade.predict(X_miss), model(X_miss))
    out = {
        "model_alone": best_of(lambda: model(X_miss), repeats),
        "cascade": best_of(lambda: cascade.predict(X_miss), repeats),
    }
    rules_t, book_t = [], []
    for _ in range(repeats):
        cascade.predict(X_miss)
        last = cascade.stats.last
        assert last is not None and last.covered == 0 and last.model_calls == 1
        rules_t.append(last.seconds_rules)
        book_t.append(last.seconds_total - last.seconds_rules - last.seconds_model)
    out["rules"], out["bookkeeping"] = min(rules_t), min(book_t)
    return out


def _numba_threads() -> int:
    return int(numba.get_num_threads())


if __name__ == "__main__":
    main()
