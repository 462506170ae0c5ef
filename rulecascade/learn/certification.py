"""Certification of the selected rule lists by fixed-sequence binomial tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bounds import (
    Certification,
    binomial_pvalue,
    error_upper_bound,
    failing_tests,
    fallback_procedure,
    prefix_counts,
    rows_needed,
    sequence_pvalues,
)
from .config import Config


def level_target(level: float, eps: float) -> float:
    """The error target of a selection level: ``level * eps``, kept below 1 (halfway to it)."""
    return min(level * eps, 0.5 * (1.0 + eps)) if level > 1.0 else level * eps


def union_rule(eps: float, conf: float, conf_u: float, scale: float, certify_: bool):
    """``union_ok(errors, covered, prev_errors, prev_covered)`` for selection at target ``eps``.

    With certification: the union's validation errors, made pessimistic and rescaled to the
    certification split, must pass the test at half the level; else a small union (too few
    rows for the test yet), or one grown from a union that passes, may still grow like a single
    qualified rule at half the error rate, any other union at a quarter of it. Without
    certification: the union's Clopper-Pearson bound at the stricter level ``conf_u``."""
    alpha = 1.0 - conf
    m_star = rows_needed(eps, conf)

    def strict_ok(errors: int, covered: int) -> bool:
        e = pessimistic(errors) * scale
        return bool(binomial_pvalue(np.ceil(e), np.floor(covered * scale), eps) <= alpha / 2)

    def union_ok(errors: int, covered: int, prev_errors: int = 0, prev_covered: int = 0) -> bool:
        if not certify_:
            return bool(error_upper_bound(errors, covered, conf_u) <= eps)
        if strict_ok(errors, covered):
            return True
        small = covered * scale < 2 * m_star
        grown = bool(prev_covered) and strict_ok(prev_errors, prev_covered)
        share = 0.5 if small or grown else 0.25
        return bool(
            errors <= share * eps * covered and error_upper_bound(errors, covered, conf) <= eps
        )

    return union_ok


def certify_lists(
    rendered: list[dict],
    yv: np.ndarray,
    yc: np.ndarray,
    cfg: Config,
    alpha: float,
    shared: bool,
    scale: float,
) -> tuple[int, int, Certification, dict[str, Any]]:
    """Certify one of the selected rule lists (strictest level first) on certification rows.

    The hypotheses, fixed from validation rows before certification looks: the prefixes of
    the strictest list, then the prefixes of each later list that cover more validation rows
    than the hypothesis before. ``H: error on covered rows > max_error`` (and each per-class
    cap) is tested in that order by the fallback procedure: half the level split over the start
    points of :func:`start_points`, half over every hypothesis (selection makes validation
    counts optimistic, so validation may rank the steps wrongly); a run of rejections carries
    its level forward. The furthest hypothesis rejected wins.
    Returns (list index, rules kept, certification, report)."""
    eps, caps = cfg.max_error, cfg.class_caps
    val_per = [prefix_counts(r["vm"], r["labels"], yv, caps) for r in rendered]
    hyps: list[tuple[int, int]] = []
    val_cov = -1.0
    for li, r in enumerate(rendered):
        mv = val_per[li][0]
        for k in range(1, len(r["conds"]) + 1):
            if li == 0 or mv[k - 1] > val_cov:
                hyps.append((li, k))
                val_cov = max(val_cov, float(mv[k - 1]))

    def at_hyps(per: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
        m = np.array([per[li][0][k - 1] for li, k in hyps], np.float64)
        e = np.array([per[li][1][k - 1] for li, k in hyps], np.float64)
        x = np.array([per[li][2][k - 1] for li, k in hyps], np.float64).reshape(len(hyps), -1)
        return m, e, x

    mv, ev, xv = at_hyps(val_per)
    # sequences start on steps of the lists proper, never in an extended list's tail
    n_start = sum(1 for li, _ in hyps if not rendered[li].get("tail", False)) or len(hyps)
    starts = start_points(mv[:n_start], ev[:n_start], xv[:n_start], yv, cfg, alpha, scale, shared)
    mc, ec, xc = at_hyps([r["cert_counts"] for r in rendered])
    class_n = [int(np.sum(yc == c)) for c, _ in caps]
    p = sequence_pvalues(mc, ec, xc, class_n, eps, caps)
    # fallback procedure: half the level on the start points validation predicts, half spread
    # over every step (selection makes validation counts optimistic, the winner's curse, so a
    # step validation ranks low may still be the one certification can pass); a run of passes
    # carries its level forward, so an early failure does not end the sequence. The steps of
    # the extended lists' tails get no level of their own: they are tested only with the level
    # a passing run carries to them (fixed-sequence), so adding them costs the others nothing
    weights = np.zeros(len(hyps))
    weights[:n_start] = (1.0 - cfg.start_share) / n_start
    for s0 in starts:
        weights[s0 - 1] += cfg.start_share / len(starts)
    levels, rejected = fallback_procedure(p, weights, alpha)
    hit = np.flatnonzero(rejected)
    best = int(hit[-1]) if hit.size else -1
    level = float(levels[best]) if best >= 0 else alpha * float(weights[starts[0] - 1])
    first = starts[0] - 1
    tested = tuple(float(v) for v in p[first : max(best, first) + 2, 0])
    n_rows = int(yc.shape[0])
    if best >= 0:
        li, k = hyps[best]
        cov, err = int(mc[best]), int(ec[best])
        ub = float(error_upper_bound(err, cov, 1.0 - level))
        n_list = len(rendered[li]["conds"])
        reason = (
            f"certified {k} of {n_list} rules"
            if k == n_list
            else f"certified the first {k} of {n_list} rules; the next step failed"
        )
        if len(rendered) > 1:
            reason += f" (list {li + 1} of {len(rendered)})"
        cert = Certification(k, starts[0], n_rows, cov, err, ub, tested, reason)
    else:
        li, k = 0, 0
        i = starts[0] - 1
        reason = (
            f"no prefix certified: the first step ({int(mc[i])} covered rows, {int(ec[i])} "
            f"errors) fails the {failing_tests(p[i], level, caps)} test at level {level:.3g}"
        )
        cert = Certification(0, starts[0], n_rows, 0, 0, None, (float(p[i, 0]),), reason)
    info = {
        "start_prefixes": [int(v) for v in starts],
        "start_levels": [float(alpha * weights[s0 - 1]) for s0 in starts],
        "level": float(level),
        "start_prefix": int(starts[0]),
        "hypotheses": len(hyps),
        "list": int(li),
        "kept": int(k),
        "covered": int(cert.covered),
        "errors": int(cert.errors),
        "pvalues": [float(v) for v in cert.pvalues],
        "reason": cert.reason,
    }
    return li, k, cert, info


def pessimistic(k):
    """Validation errors made pessimistic: selection favours rules whose errors came out low."""
    return np.ceil(k + 2.0 * np.sqrt(k + 1.0) + 1.0)


def start_points(
    m: np.ndarray,
    e: np.ndarray,
    x: np.ndarray,
    yv: np.ndarray,
    cfg: Config,
    alpha: float,
    scale: float,
    optimistic: bool,
) -> list[int]:
    """Start points (1-based hypothesis numbers) of the certification sequences, chosen on
    validation rows only (never on certification rows), so the sequences are fixed before
    certification looks. ``m``, ``e``, ``x``: validation rows covered, errors, and per-class-cap
    errors of each hypothesis.

    ``predicted``: the first hypothesis whose validation counts, rescaled to the certification
    size and with errors made pessimistic (k -> k + 2 sqrt(k + 1) + 1), would pass every test
    with a margin (else the one with the smallest predicted p-value). ``short``: the first
    predicted to cover 1.5x the rows an error-free test needs, used when it comes before
    ``predicted`` (else hypothesis 1 when validation rows are growth rows, ``optimistic``, where
    error estimates run low). ``surest``: the smallest predicted p-value. The distinct ones are
    the start points; the fallback procedure gives each an equal share of the level."""
    n_h = m.shape[0]
    if n_h == 0:
        return [1]
    two = 1.0 - alpha / 2
    ms, es = m * scale, e * scale
    p = [binomial_pvalue(pessimistic(es), np.floor(ms), cfg.max_error)]
    for j, (c, cap) in enumerate(cfg.class_caps):
        n_c = np.sum(yv == c) * scale
        p.append(binomial_pvalue(pessimistic(x[:, j] * scale), np.full(n_h, np.floor(n_c)), cap))
    worst = np.max(np.stack(p, axis=1), axis=1)
    ok = np.flatnonzero(worst <= alpha / 4)
    predicted = int(ok[0]) + 1 if ok.size else int(np.argmin(worst)) + 1
    # never start where even an error-free test has too few rows
    able = np.flatnonzero(ms >= rows_needed(cfg.max_error, 1.0 - alpha))
    if able.size:
        predicted = max(predicted, int(able[0]) + 1)
    enough = np.flatnonzero(ms >= 1.5 * rows_needed(cfg.max_error, two))
    short = int(enough[0]) + 1 if enough.size else n_h
    starts = {predicted}
    if short < predicted:
        starts.add(short)
    elif optimistic and predicted > 1:
        starts.add(1)
    # the step validation is surest of: list levels do not order the lists by their true error
    # (a wider list can be cleaner than a stricter one), so a sequence may start there too
    starts.add(int(np.argmin(worst)) + 1)
    return sorted(starts)
