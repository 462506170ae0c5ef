"""The audit as one self-contained HTML file, for a reviewer who never opens a terminal.

Plots are drawn by matplotlib as SVG and inlined in the page: static vector images, so the file
needs no script, no font and no network at view time (plotly would embed megabytes of
JavaScript for the same figures). The page is a Jinja2 template (``templates/report.html.j2``,
autoescaped). Both libraries are the ``report`` extra (``pip install 'rulecascade[report]'``),
imported only here.

Sections: the verdict; the set (coverage, error and its bound against the guarantee); per rule
its coverage and precision with confidence intervals against the claimed bound; the
risk-coverage of the set (each prefix of the ordered rules); coverage and error per chunk over
time (with ``--by``); and each drifted (or warned) feature's distribution before / after, with
the rules' thresholds drawn on it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from rules_export import RuleSet

from .chunks import ChunkedAudit
from .drift import DRIFT_P, PSI_DRIFT, WARN_P, DriftReport, FeatureDrift
from .report import AuditReport

__all__ = ["MissingExtraError", "render_html"]

TEMPLATE = "report.html.j2"


class MissingExtraError(ImportError):
    """The ``report`` extra (jinja2, matplotlib) is not installed."""


def _libraries() -> tuple[Any, Any]:
    try:
        import jinja2
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingExtraError(
            f"the HTML report needs jinja2 and matplotlib ({e.name} is missing): "
            "pip install 'rulecascade[report]'"
        ) from None
    return jinja2, plt


_STRIP = (
    re.compile(r"<\?xml[^>]*\?>\s*"),
    re.compile(r"<!DOCTYPE[^>]*>\s*"),
    re.compile(r'\s+xmlns(:\w+)?="[^"]*"'),
    re.compile(r"<metadata>.*?</metadata>\s*", re.S),
)


def _svg(plt: Any, fig: Any) -> str:
    """The figure as inline SVG: no XML prolog, DOCTYPE, namespace URLs or metadata (HTML's
    parser knows the SVG elements and ``xlink:href`` without them)."""
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "rulecascade", "svg.fonttype": "none"}):
        fig.savefig(
            buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None}
        )
    plt.close(fig)
    text = buf.getvalue()
    for pat in _STRIP:
        text = pat.sub("", text)
    return text


def _rules_plot(plt: Any, report: AuditReport) -> str | None:
    rules = [r for r in report.rules if r.covers > 0]
    if not rules:
        return None
    n = len(rules)
    fig, ax = plt.subplots(figsize=(7.5, (0.45 * n if n <= 30 else 0.15 * n + 9) + 1.2))
    y = np.arange(len(rules))[::-1]
    p = np.array([r.precision for r in rules], dtype=float)
    lo = np.array([r.precision_lower_bound for r in rules], dtype=float)
    hi = np.array([r.precision_upper_bound for r in rules], dtype=float)
    ax.errorbar(
        p,
        y,
        xerr=[p - lo, hi - p],
        fmt="o",
        color="#1f5fa8",
        capsize=3,
        label="precision now (interval)",
    )
    claimed = [
        (yy, r.claimed_lower_bound)
        for yy, r in zip(y, rules, strict=True)
        if r.claimed_lower_bound is not None
    ]
    if claimed:
        ax.scatter(
            [c for _, c in claimed],
            [yy for yy, _ in claimed],
            marker="|",
            s=300,
            color="#c0392b",
            label="bound claimed at fit",
            zorder=3,
        )
    ax.set_yticks(y, [f"rule {r.index}" for r in rules])
    ax.set_xlabel("precision on the rows each rule covers")
    ax.set_xlim(max(0.0, float(np.nanmin(lo)) - 0.05), 1.005)
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _svg(plt, fig)


def _risk_coverage_plot(plt: Any, report: AuditReport) -> str | None:
    if not report.rules or report.rows == 0:
        return None
    rows = np.cumsum([r.rows for r in report.rules])
    wrong = np.cumsum([r.rows - r.correct for r in report.rules])
    cov = rows / report.rows
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(rows > 0, wrong / np.maximum(rows, 1), np.nan)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(cov, err, "o-", color="#1f5fa8", label="rules 0..k (in order)")
    for k, (x, e) in enumerate(zip(cov, err, strict=True)):
        ax.annotate(str(k), (x, e), textcoords="offset points", xytext=(3, 4), fontsize=7)
    if report.set.max_error is not None:
        ax.axhline(report.set.max_error, color="#c0392b", ls="--", label="max_error")
    ax.set_xlabel("coverage (fraction of rows answered)")
    ax.set_ylabel("error on answered rows")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(plt, fig)


def _chunks_plot(plt: Any, chunks: ChunkedAudit) -> str | None:
    if not chunks.chunks:
        return None
    labels = [str(c.chunk) for c in chunks.chunks]
    x = np.arange(len(labels))
    cov = [c.report.set.coverage for c in chunks.chunks]
    err = [np.nan if c.report.set.error is None else c.report.set.error for c in chunks.chunks]
    ub = [
        np.nan if c.report.set.error_upper_bound is None else c.report.set.error_upper_bound
        for c in chunks.chunks
    ]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7.5, 5), sharex=True)
    a1.plot(x, cov, "o-", color="#1f5fa8")
    a1.set_ylabel("coverage")
    a1.grid(alpha=0.3)
    a2.plot(x, err, "o-", color="#1f5fa8", label="error")
    a2.plot(x, ub, "v:", color="#7f8c8d", label="upper bound")
    broken = [i for i, c in enumerate(chunks.chunks) if not c.report.holds]
    if broken:
        a2.scatter(
            broken,
            [err[i] for i in broken],
            s=120,
            facecolors="none",
            edgecolors="#c0392b",
            label="broken",
            zorder=3,
        )
    me = chunks.chunks[0].report.set.max_error
    if me is not None:
        a2.axhline(me, color="#c0392b", ls="--", label="max_error")
    a2.set_ylabel("error on covered rows")
    a2.set_xlabel(chunks.by)
    step = max(1, len(labels) // 20)
    a2.set_xticks(x[::step], labels[::step], rotation=45, ha="right", fontsize=8)
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    return _svg(plt, fig)


def _feature_plot(plt: Any, f: FeatureDrift) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ref = np.asarray(f.reference_counts, dtype=float)
    cur = np.asarray(f.current_counts, dtype=float)
    ref = ref / max(ref.sum(), 1.0)
    cur = cur / max(cur.sum(), 1.0)
    if f.kind == "numeric" and f.edges:
        e = np.asarray(f.edges, dtype=float)
        width = float(np.median(np.diff(e))) if e.size > 1 else 1.0
        bounds = np.concatenate([[e[0] - width], e, [e[-1] + width]])
        dens_r = ref / np.diff(bounds)
        dens_c = cur / np.diff(bounds)
        ax.stairs(dens_r, bounds, color="#7f8c8d", fill=True, alpha=0.35, label="at fit")
        ax.stairs(dens_c, bounds, color="#1f5fa8", lw=2, label="now")
        for k, t in enumerate(f.thresholds):
            ax.axvline(
                t.threshold,
                color="#c0392b",
                ls="--",
                lw=1,
                label="rule thresholds" if k == 0 else None,
            )
        ax.set_ylabel("density (fraction / width)")
        ax.set_xlabel(f.feature)
    else:
        x = np.arange(len(f.categories))
        ax.bar(x - 0.2, ref, 0.4, color="#7f8c8d", label="at fit")
        ax.bar(x + 0.2, cur, 0.4, color="#1f5fa8", label="now")
        in_rules = {c for s in f.sets for c in s.categories}
        ax.set_xticks(
            x,
            [("* " if c in in_rules else "") + c for c in f.categories],
            rotation=45,
            ha="right",
            fontsize=8,
        )
        ax.set_ylabel("fraction of rows")
        ax.set_xlabel(f"{f.feature} (* : in a rule's set)")
    ax.set_title(f"{f.feature}: {f.status} (p = {f.p_value:.3g}, PSI = {f.psi:.3f})", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _svg(plt, fig)


def render_html(
    rules: RuleSet,
    report: AuditReport,
    drift: DriftReport,
    chunks: ChunkedAudit | None = None,
    *,
    rules_path: str = "",
    data_path: str = "",
    title: str = "rulecascade audit",
) -> str:
    """The whole report as one HTML document (see the module doc)."""
    jinja2, plt = _libraries()
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rulecascade.audit", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    shown: Sequence[FeatureDrift] = [f for f in drift.features if f.status != "ok"]
    from markupsafe import Markup  # a dependency of jinja2

    def mark(text: str | None) -> Any:
        return None if text is None else Markup(text)

    chunk_holds = chunks is None or chunks.holds
    return env.get_template(TEMPLATE).render(
        title=title,
        rules_path=rules_path,
        data_path=data_path,
        holds=report.holds and chunk_holds,
        report=report,
        rules=rules,
        drift=drift,
        chunks=chunks,
        cut={"drift_p": DRIFT_P, "warn_p": WARN_P, "psi": PSI_DRIFT},
        rules_svg=mark(_rules_plot(plt, report)),
        risk_svg=mark(_risk_coverage_plot(plt, report)),
        chunks_svg=mark(_chunks_plot(plt, chunks)) if chunks is not None else None,
        features=[(f, mark(_feature_plot(plt, f))) for f in shown],
        fmt=_fmt,
    )


def _fmt(v: Any, digits: int = 4) -> str:
    """A number for reading: ``-`` for none, percentages not implied."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)
