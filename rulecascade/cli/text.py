"""Plain-text read-outs of rule sets, audits and diffs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rules_export import RuleSet


def fmt_value(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def signed_pts(v: float | None) -> str:
    return "unknown" if v is None else f"{100 * v:+.1f}pt"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def label_text(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def guarantee_lines(rules: RuleSet) -> list[str]:
    g = rules.guarantee
    if g is None:
        return ["guarantee: none recorded"]
    against = "true labels" if g.mode == "truth" else "the model's outputs"
    lines = [
        f"guarantee: error on covered rows <= {g.max_error:g} vs {against}, "
        f"at {100 * g.confidence:g}% confidence"
    ]
    for lab, cap in g.per_class_max_error:
        lines.append(
            f"  per class: at most {100 * cap:g}% of class {label_text(lab)} rows answered otherwise"
        )
    if g.certification_rows:
        lines.append(
            f"  certified: {fmt_value(g.certified)}; {g.certification_errors:,} errors on "
            f"{g.certification_covered:,} covered of {g.certification_rows:,} certification rows"
            f" (error upper bound {fmt_value(g.error_upper_bound)})"
            + (f", by {g.method}" if g.method else "")
        )
    else:
        lines.append(f"  certified: {fmt_value(g.certified)}")
    return lines


def schema_lines(rules: RuleSet) -> list[str]:
    numeric = [f.name for f in rules.features if f.kind == "numeric"]
    cats = [f for f in rules.features if f.kind == "categorical"]
    used = rules.used_features
    lines = [
        f"features: {len(rules.features)} ({len(numeric)} numeric, {len(cats)} categorical); "
        f"the rules read {len(used)}: {', '.join(used[:12])}{', ...' if len(used) > 12 else ''}"
    ]
    for f in cats[:10]:
        shown = ", ".join(f.categories[:8]) + (", ..." if len(f.categories) > 8 else "")
        lines.append(f"  {f.name}: categorical {{{shown}}}")
    if rules.projection is not None:
        p = rules.projection
        lines.append(
            f"  projection: {len(p.inputs)} inputs -> {len(p.outputs)} derived features "
            f"({', '.join(p.outputs[:6])}{', ...' if len(p.outputs) > 6 else ''})"
            + (f", summed in blocks of {p.sum_block}" if p.sum_block is not None else "")
        )
    lines.append(f"classes: {', '.join(label_text(c) for c in rules.classes)}")
    return lines


def show_text(rules: RuleSet, path: str) -> str:
    rows = []
    for i, r in enumerate(rules.rules):
        rows.append(
            [
                str(i),
                r.describe(),
                fmt_value(r.stats.support) if r.stats.validation_counts else "-",
                fmt_value(r.stats.precision_lower_bound),
            ]
        )
    head = [f"{path}: {len(rules.rules)} rule{'s' if len(rules.rules) != 1 else ''}"]
    if rules.library_version:
        head[0] += f" (rulecascade {rules.library_version})"
    body = (
        text_table(
            ["#", "rule (first match wins)", "support", "bound"], rows, [True, False, True, True]
        )
        if rows
        else "(no rules: every row goes to the model)"
    )
    return "\n".join([*head, *schema_lines(rules), *guarantee_lines(rules), "", body]) + "\n"


def audit_text(report: Any, rules_path: str, data_path: str) -> str:
    conf = f"{100 * report.confidence:g}%"
    lines = [
        f"audit of {rules_path} on {data_path}: {report.rows:,} rows, {len(report.rules)} rule"
        + ("s" if len(report.rules) != 1 else ""),
        f"tests: alpha {report.alpha:g} family-wise over {report.tests} tests "
        f"(Bonferroni: {report.alpha_per_test:.3g} each)",
        "",
    ]
    rows = []
    for r in report.rules:
        if r.broken:
            status = f"BROKEN p={r.p_value:.2g}"
        elif r.claimed_lower_bound is None:
            status = "no claim"
        elif r.covers == 0:
            status = "no rows"
        else:
            status = "ok"
        rows.append(
            [
                str(r.index),
                label_text(r.label),
                fmt_value(r.rows),
                pct(r.coverage),
                pct(r.covers_fraction),
                pct(r.fit_coverage),
                signed_pts(r.coverage_drift),
                fmt_value(r.precision),
                fmt_value(r.precision_lower_bound),
                fmt_value(r.claimed_lower_bound),
                status,
            ]
        )
    if rows:
        lines.append(
            text_table(
                [
                    "#",
                    "label",
                    "answers",
                    "share",
                    "covers",
                    "at fit",
                    "drift",
                    "precision",
                    f"lower {conf}",
                    "claimed",
                    "status",
                ],
                rows,
                [True, False, True, True, True, True, True, True, True, True, False],
            )
        )
        lines.append(
            "answers/share: rows the rule answers (first match wins); covers: rows its conditions"
            " hold on, as measured at fit; drift, precision and the claim use covers."
        )
    else:
        lines.append("(no rules)")
    for r in report.rules:
        if r.broken:
            lines.append(
                f"rule {r.index} is broken: {r.rule}: precision {fmt_value(r.precision)} on "
                f"{r.covers:,} rows it covers, claimed at least {fmt_value(r.claimed_lower_bound)}"
            )
    s = report.set
    lines.append("")
    fit_cov = f"; at fit {pct(s.fit_coverage)}" if s.fit_coverage is not None else ""
    lines.append(
        f"set: {s.covered:,} of {s.rows:,} rows covered ({pct(s.coverage)}{fit_cov}); "
        f"{s.errors:,} errors on covered rows: error {fmt_value(s.error)}, "
        f"upper {conf} bound {fmt_value(s.error_upper_bound)}"
    )
    if s.max_error is not None:
        against = "true labels" if s.mode == "truth" else "the model's outputs"
        verdict = f"BROKEN p={s.p_value:.2g}" if s.broken else "holds"
        if s.certified is False:
            verdict += " (a target: not certified at fit)"
        lines.append(
            f"guarantee: max_error {s.max_error:g} vs {against} (the --target column): {verdict}"
            f"; within it at {conf} on this data: {fmt_value(s.recertified)}"
        )
    else:
        lines.append("guarantee: none recorded in the rule file")
    for c in s.per_class:
        verdict = f"BROKEN p={c.p_value:.2g}" if c.broken else "holds"
        if s.certified is False:
            verdict += " (a target: not certified at fit)"
        lines.append(
            f"per class {label_text(c.label)}: {c.wrong:,} of {c.rows:,} rows answered otherwise "
            f"({pct(c.error, 2)}; cap {100 * c.max_error:g}%): {verdict}"
        )
    if report.other_label_rows:
        lines.append(
            f"note: {report.other_label_rows:,} rows have a label that is not a class of the "
            "rule set (counted as errors where a rule answers them)"
        )
    lines.append("")
    if report.holds:
        lines.append("verdict: every bound holds (exit 0)")
    else:
        broken = [f"rule {i}" for i in report.broken_rules]
        if s.broken:
            broken.append("set error")
        broken += [f"class {label_text(c.label)} cap" for c in s.per_class if c.broken]
        lines.append(f"verdict: BROKEN: {', '.join(broken)} (exit 1)")
    return "\n".join(lines) + "\n"


def diff_text(d: Any, a_path: str, b_path: str) -> str:
    lines = [f"--- {a_path}", f"+++ {b_path}"]
    n_changed = len(d.changed)
    lines.append(
        f"rules: {d.unchanged} unchanged, {n_changed} changed, {len(d.added)} added, "
        f"{len(d.removed)} removed" + (", order of the shared rules changed" if d.reordered else "")
    )
    for c in d.changed:
        lines.append(f"~ [{c.a_index}] -> [{c.b_index}] {c.rule_b}")
        for cond in c.conditions:
            lines.append(f"    {cond['a_text']}  ->  {cond['b_text']}")
        if c.label:
            lines.append(f"    label {label_text(c.label['a'])} -> {label_text(c.label['b'])}")
        if c.precision_lower_bound:
            pb = c.precision_lower_bound
            lines.append(f"    precision bound {fmt_value(pb['a'])} -> {fmt_value(pb['b'])}")
        if c.validation_counts:
            vc = c.validation_counts
            lines.append(f"    validation counts {vc['a']} -> {vc['b']}")
    for r in d.removed:
        lines.append(f"- [{r['index']}] {r['rule']}")
    for r in d.added:
        lines.append(f"+ [{r['index']}] {r['rule']}")
    if d.features:
        for f in d.features.get("added", ()):
            lines.append(f"features: + {f['name']} ({f['kind']})")
        for f in d.features.get("removed", ()):
            lines.append(f"features: - {f['name']} ({f['kind']})")
        for f in d.features.get("changed", ()):
            lines.append(f"features: ~ {f['name']}: {f['a']} -> {f['b']}")
        if "order" in d.features:
            lines.append("features: column order changed")
    if d.classes:
        lines.append(f"classes: {d.classes['a']} -> {d.classes['b']}")
    if d.projection:
        p = d.projection
        what = "added" if not p["a"] else "removed" if not p["b"] else "changed"
        parts = f" ({', '.join(p['changed'])})" if p["a"] and p["b"] else ""
        lines.append(f"projection: {what}{parts}")
    for k, v in sorted(d.guarantee.items()):
        lines.append(f"guarantee {k}: {v['a']} -> {v['b']}")
    for k, v in sorted(d.fit_params.items()):
        lines.append(f"fit_params {k}: {v['a']} -> {v['b']}")
    if d.data_fingerprint:
        lines.append("data fingerprint: differs (fitted on other data)")
    if d.library_version:
        lines.append(
            f"library version: {d.library_version['a']} -> {d.library_version['b']} (not a difference)"
        )
    if d.metadata_keys:
        lines.append(f"metadata differs in: {', '.join(d.metadata_keys)} (not a difference)")
    lines.append("identical (exit 0)" if d.identical else "different (exit 1)")
    return "\n".join(lines) + "\n"


def drift_text(drift: Any) -> str:
    """The feature-drift table (or the line saying there is no reference)."""
    if not drift.reference:
        return f"feature drift: {drift.note}\n"
    if not drift.features:
        return "feature drift: no summarised feature is read by the rules\n"
    rows = [
        [
            f.feature,
            f.test,
            fmt_value(f.statistic),
            f"{f.p_value:.3g}",
            f"{f.psi:.3f}",
            ", ".join(
                f"<={fmt_value(t.threshold)}: {pct(t.reference_below)}->{pct(t.current_below)}"
                for t in f.thresholds[:3]
            )
            + (", ..." if len(f.thresholds) > 3 else ""),
            f.status,
        ]
        for f in drift.features
    ]
    table = text_table(
        ["feature", "test", "statistic", "p", "PSI", "below thresholds (fit->now)", "status"],
        rows,
        [False, False, True, True, True, False, False],
    )
    return (
        "feature drift (vs the calibration data stored at fit; drift: p < 0.001 and PSI >= 0.1, "
        "warn: p < 0.05):\n" + table + "\n"
    )


def chunks_text(chunks: Any) -> str:
    """One line per chunk: rows, coverage, error, status."""
    rows = [
        [
            str(c.chunk),
            fmt_value(c.report.rows),
            pct(c.report.set.coverage),
            fmt_value(c.report.set.error),
            fmt_value(c.report.set.error_upper_bound),
            c.status,
        ]
        for c in chunks.chunks
    ]
    n = len(chunks.chunks)
    table = text_table(
        [chunks.by, "rows", "coverage", "error", "upper", "status"],
        rows,
        [False, True, True, True, True, False],
    )
    return (
        f"per {chunks.by} ({n} chunk{'s' if n != 1 else ''}; tests at alpha / {n}):\n"
        + table
        + "\n"
    )


def certify_text(result: Any, rules_path: str, data_path: str, out: str | None) -> str:
    """The outcome of ``certify`` with its figures."""
    lines = [
        f"certify {rules_path} on {data_path}: {result.rows:,} rows, {result.covered:,} covered, "
        f"{result.errors:,} errors",
        result.reason,
    ]
    for c in result.per_class:
        lines.append(
            f"per class {label_text(c.label)}: {c.wrong:,} of {c.rows:,} rows answered otherwise "
            f"(cap {c.max_error:g}, p = {c.p_value:.3g}): {'holds' if c.holds else 'REFUSED'}"
        )
    if result.holds and out:
        lines.append(f"wrote {out}")
    return "\n".join(lines) + "\n"
