"""Benchmark of rules_export: SQL render time and size, and evaluation speed.

    python benchmarks/export.py            # 10 / 1,000 / 10,000 rules; 1M rows
    python benchmarks/export.py --quick    # 10 / 100 / 1,000 rules; 100k rows

Prints markdown tables:

1. render time and SQL size (bytes) of ``to_sql`` (SELECT form) for DuckDB and PostgreSQL (and
   the standalone Python module) as the number of rules grows;
2. evaluation throughput (rows/s) on the same random data: the numpy reference evaluator,
   DuckDB running the exported SELECT (aggregated inside DuckDB, so the time is evaluation, not
   transfer to Python), and the exported Python module. Every engine's per-rule hit counts are
   checked against the reference before its time is reported.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import rules_export as rx  # noqa: E402
from rules_export.sql import to_sql  # noqa: E402

N_FEATURES = 20
CATEGORIES = ["red", "green", "blue", "it's", "naïve"]


def random_rules(n_rules: int, seed: int = 0) -> rx.RuleSet:
    """Rules like a learner's: 2-5 conditions, thresholds at data quantiles, some categorical."""
    rng = np.random.default_rng(seed)
    names = [f"f{i}" for i in range(N_FEATURES)]
    rules = []
    for _ in range(n_rules):
        conds: list[rx.Interval | rx.InSet] = []
        for f in rng.choice(names, size=int(rng.integers(2, 6)), replace=False):
            a, b = sorted(np.round(rng.normal(size=2), 3).tolist())
            side = rng.integers(3)
            if side == 0 and a < b:
                conds.append(rx.Interval(str(f), a, b))
            elif side == 1:
                conds.append(rx.Interval(str(f), None, b))
            else:
                conds.append(rx.Interval(str(f), a, None))
        if rng.random() < 0.3:
            k = int(rng.integers(1, 4))
            conds.append(rx.InSet("colour", tuple(rng.choice(CATEGORIES, size=k, replace=False))))
        rules.append(rx.Rule(tuple(conds), str(rng.choice(["yes", "no", "maybe"]))))
    feats = rx.make_features([*names, "colour"], ["colour"], {"colour": CATEGORIES})
    return rx.RuleSet(feats, ("yes", "no", "maybe"), tuple(rules))


def random_data(n_rows: int, seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {
        f"f{i}": rng.normal(size=n_rows).astype(np.float64) for i in range(N_FEATURES)
    }
    data["f0"][rng.random(n_rows) < 0.01] = np.nan
    data["colour"] = np.array(rng.choice([*CATEGORIES, "other"], size=n_rows), dtype=object)
    return data


def timed(fn, repeat: int = 1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def render_table(sizes: list[int]) -> str:
    lines = [
        "| rules | target | render time (s) | size (bytes) | bytes per rule |",
        "|---:|---|---:|---:|---:|",
    ]
    for n in sizes:
        rules = random_rules(n)
        for target in ("duckdb", "postgres", "python"):
            if target == "python":
                secs, text = timed(lambda r=rules: rx.to_python(r), repeat=1 if n > 1000 else 3)
            else:
                secs, text = timed(
                    lambda r=rules, d=target: to_sql(r, d, table="events"),
                    repeat=1 if n > 1000 else 3,
                )
            size = len(text.encode("utf-8"))
            label = {"duckdb": "SQL duckdb", "postgres": "SQL postgres", "python": "Python module"}
            lines.append(f"| {n:,} | {label[target]} | {secs:.3f} | {size:,} | {size / n:,.0f} |")
            print(f"  rendered {n} rules for {target}: {secs:.2f}s", file=sys.stderr)
    return "\n".join(lines)


def eval_table(rule_counts: list[int], n_rows: int, python_rows: int) -> str:
    import duckdb
    import pyarrow as pa

    data = random_data(n_rows)
    table = pa.table(data)
    con = duckdb.connect()
    con.register("events", table)
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    lines = [
        "| rules | evaluator | rows | time (s) | rows/s |",
        "|---:|---|---:|---:|---:|",
    ]
    for n in rule_counts:
        rules = random_rules(n)
        secs, ref = timed(lambda r=rules: rx.match(r, data))
        counts = np.bincount(ref + 1, minlength=n + 1)
        lines.append(
            f"| {n:,} | reference (numpy) | {n_rows:,} | {secs:.3f} | {n_rows / secs:,.0f} |"
        )
        print(f"  reference {n} rules: {secs:.2f}s", file=sys.stderr)

        sql = to_sql(rules, "duckdb", table="events")
        query = f'SELECT "rule_id", count(*) FROM ({sql}) AS q GROUP BY "rule_id"'
        secs, rows = timed(lambda q=query: con.execute(q).fetchall(), repeat=2)
        got = np.zeros(n + 1, dtype=np.int64)
        for rid, c in rows:
            got[rid + 1] = c
        assert np.array_equal(got, counts), "DuckDB disagrees with the reference"
        lines.append(
            f"| {n:,} | DuckDB, exported SELECT ({threads} threads) | {n_rows:,} | {secs:.3f} | "
            f"{n_rows / secs:,.0f} |"
        )
        print(f"  duckdb {n} rules: {secs:.2f}s", file=sys.stderr)

        namespace: dict = {}
        exec(compile(rx.to_python(rules), "exported", "exec"), namespace)
        py_n = python_rows if n <= 100 else python_rows // 10  # pure Python: keep it short
        cols = {k: v[:py_n].tolist() for k, v in data.items()}
        secs, ids = timed(lambda c=cols, m=namespace: m["match_columns"](c))
        assert ids == ref[:py_n].tolist(), "exported Python disagrees with the reference"
        lines.append(
            f"| {n:,} | exported Python module | {py_n:,} | {secs:.3f} | {py_n / secs:,.0f} |"
        )
        print(f"  python {n} rules: {secs:.2f}s", file=sys.stderr)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a fast check")
    args = parser.parse_args(argv)
    if args.quick:
        sizes, eval_rules, n_rows, py_rows = [10, 100, 1000], [10, 100], 100_000, 10_000
    else:
        sizes, eval_rules, n_rows, py_rows = [10, 1000, 10_000], [10, 1000], 1_000_000, 100_000

    import duckdb
    import sqlglot

    print(
        f"rules_export benchmark: Python {platform.python_version()}, sqlglot {sqlglot.__version__}, "
        f"duckdb {duckdb.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, "
        f"{platform.machine()}"
    )
    print()
    print("Render time and size of the exported SELECT (and Python module):")
    print()
    print(render_table(sizes))
    print()
    print(f"Evaluation on {n_rows:,} rows x {N_FEATURES} numeric + 1 categorical features:")
    print()
    print(eval_table(eval_rules, n_rows, py_rows))


if __name__ == "__main__":
    main()
