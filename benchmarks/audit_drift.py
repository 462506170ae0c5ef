"""What feature drift and per-chunk audits add to an audit: side by side in one run, as ratios.

Rules fitted on ``make_fraud`` (numeric and categorical columns, summaries stored at fit); then on
new data of 100k and 1M rows: the audit alone, the audit plus drift, and the audit per chunk of a
30-valued column (which measures each chunk's drift too). Written to
``benchmarks/results/audit_drift.md``.

    python benchmarks/audit_drift.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from rulecascade import RuleLearner
from rulecascade.audit import audit, audit_chunks, drift
from rulecascade.datasets import make_fraud
from rulecascade.serve import match


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    fit = make_fraud(200_000, random_state=1)
    model = RuleLearner(max_error=0.01, random_state=0).fit(fit.X, fit.y)
    rules = model.rules_
    lines = [
        "# Audit cost of feature drift and per-chunk audits",
        "",
        f"Rules: {len(rules)} fitted on make_fraud(200,000); summarised features: "
        f"{', '.join(s.feature + ' (' + s.kind + ')' for s in rules.feature_summaries)}. "
        "Same process, same data per row count; ratios to the audit alone (rule ids computed "
        "once and shared, as the CLI does).",
        "",
        "| rows | audit s | + drift (ratio) | per chunk, 30 chunks (ratio) |",
        "|---:|---:|---:|---:|",
    ]
    for n in args.rows:
        new = make_fraud(n, random_state=2)
        X, y = new.X, new.y
        by = np.arange(n) % 30
        ids = np.asarray(match(rules, X))
        t_audit, _ = _timed(lambda X=X, y=y, ids=ids: audit(rules, X, y, rule_ids=ids))
        t_drift, _ = _timed(lambda X=X: drift(rules, X))
        t_chunks, _ = _timed(
            lambda X=X, y=y, by=by, ids=ids: audit_chunks(rules, X, y, by, rule_ids=ids)
        )
        lines.append(
            f"| {n:,} | {t_audit:.2f} | {(t_audit + t_drift) / t_audit:.2f} | "
            f"{t_chunks / t_audit:.2f} |"
        )
        print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "audit_drift.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
