"""The learning pipeline on an encoded matrix: split, bin, grow, widen, validate, select, certify.

:func:`learn_rules` works on float64 or float32 values (categorical columns as integer codes)
and class indices; :class:`rulecascade.RuleLearner` turns its result into a
``rules_export.RuleSet``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ..kernels.boxes import first_box
from .binning import Binner
from .bounds import (
    Certification,
    count_text,
    min_certifiable,
    precision_lower_bound,
    prefix_counts,
    rows_needed,
)
from .candidates import (
    Generator,
    bin_shares,
    count,
)
from .certification import certify_lists, level_target, union_rule
from .config import Config
from .lists import (
    RulePool,
    add_list,
    add_wide_intervals,
    class_bits,
    close_with_wide,
    residual_candidates,
)
from .program import compile_rules, match
from .render import CatCond, NumCond, gap_tables, render_rule
from .select import bitsets, select_greedy
from .splits import plan_splits


@dataclass
class Learned:
    conditions: list[list[NumCond | CatCond]]
    labels: np.ndarray  # class index per rule, in rule order
    growth_counts: np.ndarray  # (R, C)
    validation_counts: np.ndarray  # (R, C)
    bounds: np.ndarray  # (R,) precision lower bounds on validation
    certification: Certification | None
    report: dict[str, Any] = field(default_factory=dict)


def learn_rules(
    values: np.ndarray,
    is_cat: np.ndarray,
    n_categories: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    cfg: Config,
    rng: np.random.Generator,
    splits: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Learned:
    """Rules for ``y`` (class indices) on ``values``; ``splits``: (growth, validation,
    certification) row indices, else drawn by :func:`plan_splits`."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    n, n_features = values.shape
    eps, conf = cfg.max_error, cfg.confidence
    alpha = 1.0 - conf
    m_star = rows_needed(eps, conf)
    report: dict[str, Any] = {
        "rows": {"calibration": int(n)},
        "rows_needed_for_certification": int(m_star),
    }
    empty = Learned(
        [],
        np.zeros(0, np.int64),
        np.zeros((0, n_classes), np.int64),
        np.zeros((0, n_classes), np.int64),
        np.zeros(0),
        None,
        report,
    )

    def stop(reason: str) -> Learned:
        report["stop_reason"] = reason
        report["timings_s"] = timings
        return empty

    if n_classes < 2:
        return stop("only one class in the labels: no rule is needed (the fallback answers)")
    if splits is None:
        splits = plan_splits(y, n_classes, cfg, rng)
    grow_rows, val_rows, cert_rows = splits
    # small sets: no validation split, rules are bounded and selected on growth rows
    shared = val_rows is grow_rows or (
        val_rows.size == grow_rows.size and np.array_equal(val_rows, grow_rows)
    )
    report["rows"].update(
        growth=int(grow_rows.size),
        validation=0 if shared else int(val_rows.size),
        certification=int(cert_rows.size),
    )
    report["selection_on_growth_rows"] = bool(shared)
    # a rule qualifies when its bound reaches 1 - slack*eps: that needs this many clean rows
    rule_eps = min(0.5, cfg.rule_slack * eps)
    m_rule = rows_needed(rule_eps, conf)
    if cfg.certify and cert_rows.size < m_star:
        return stop(
            f"not enough data to certify max_error={eps} at confidence={conf}: that needs at "
            f"least {count_text(m_star)} covered certification rows without error, but the "
            f"certification split has {cert_rows.size} rows (of {n}); pass more calibration rows or raise "
            f"max_error (to at least {min_certifiable(cert_rows.size, conf):.3g}: what a rule "
            "covering every certification row without error would certify)"
        )
    if val_rows.size < m_rule:
        return stop(
            f"not enough data: a rule needs at least {count_text(m_rule)} validation rows to "
            f"reach a precision bound of {1 - rule_eps:.4g}, the validation split has {val_rows.size}"
        )
    ratio = grow_rows.size / max(val_rows.size, 1)
    if cfg.min_support is not None:
        min_cand = int(cfg.min_support)
    else:
        min_cand = max(
            2, int(math.ceil(0.5 * m_rule * ratio)), grow_rows.size // (10 * cfg.max_rules)
        )
    min_seed = max(2, min_cand // 8)
    budget_rate = cfg.purity_share * eps
    priors = np.bincount(y[grow_rows], minlength=n_classes) / max(grow_rows.size, 1)
    for c, cap in cfg.class_caps:
        if priors[c] > 0:
            budget_rate = min(budget_rate, 0.5 * cap * priors[c])
    report["min_support"] = int(min_cand)
    report["purity_budget"] = float(budget_rate)

    # --- bin -------------------------------------------------------------------------------
    t = time.perf_counter()
    fit_rows = grow_rows if shared else np.concatenate([grow_rows, val_rows])
    binner = Binner.fit(values, is_cat, n_categories, fit_rows, cfg.max_bins, rng=rng)
    # only growth and validation rows are binned: certification matches raw values
    codes = binner.transform(values, fit_rows, cfg.device)
    mins, maxs = binner.value_range(values, codes, fit_rows)
    below, above = gap_tables(binner, mins, maxs)
    no_missing = ~np.any(codes[fit_rows] == 255, axis=0)
    nb = binner.n_bins
    can_full = np.ones(n_features, bool)
    for f in range(n_features):
        if not binner.is_cat[f] and nb[f] >= 1:
            can_full[f] = np.isfinite(above[f, 0]) or np.isfinite(below[f, nb[f] - 1])
    y32 = y.astype(np.int32)
    shares = bin_shares(codes, grow_rows)
    timings["bin"] = time.perf_counter() - t

    # --- grow, widen -------------------------------------------------------------------------
    mf = cfg.max_features or max(2, int(math.ceil(math.sqrt(n_features))) + 1)
    loose_rate = budget_rate
    if (
        cfg.loose_share is not None
        and cfg.loose_share > cfg.purity_share
        and grow_rows.size >= cfg.loose_min_rows
    ):
        loose_rate = budget_rate * cfg.loose_share / cfg.purity_share
    cap_rate = budget_rate / max(cfg.purity_share * eps, 1e-300)  # < 1 under per-class caps
    rates = [min(1.0, cap_rate) * sh * eps for sh in cfg.interval_shares]
    if cfg.certify and cert_rows.size:  # no wider than an error rate certification can pass
        k = int(stats.binom.ppf(alpha / 2, cert_rows.size, eps))
        if stats.binom.cdf(k, cert_rows.size, eps) > alpha / 2:
            k -= 1
        rates = [min(r, max(k, 0) / cert_rows.size) for r in rates]
    gen = Generator(
        codes=codes,
        y=y32,
        n_classes=n_classes,
        binner=binner,
        can_full=can_full,
        shares=shares,
        cfg=cfg,
        rng=rng,
        max_features=min(mf, n_features),
        min_cand=min_cand,
        min_seed=min_seed,
        budget_rate=budget_rate,
        loose_rate=loose_rate,
        interval_rates=tuple(sorted(set(rates))),
    )
    allb, loose, gen_info = gen.run(grow_rows, timings)
    report["candidates"] = gen_info

    # --- validate ----------------------------------------------------------------------------
    t = time.perf_counter()
    vcounts = count(codes, y32, val_rows, allb.masks, n_classes, shares, cfg.device)
    vn = vcounts.sum(axis=1)
    vk = vcounts[np.arange(len(allb)), allb.labels] if len(allb) else np.zeros(0, np.int64)
    vbound = precision_lower_bound(vk, vn, conf) if len(allb) else np.zeros(0)
    qual = np.flatnonzero((vbound >= 1.0 - rule_eps) & (vn - vk <= eps * vn))
    report["candidates"]["qualified"] = int(qual.size)
    timings["validate"] = time.perf_counter() - t
    if qual.size == 0:
        return stop(
            f"no candidate rule reached a validation precision bound of {1 - rule_eps:.4g} "
            f"(best: {float(vbound.max()) if vbound.size else 0.0:.4g})"
        )

    # --- select ------------------------------------------------------------------------------
    t = time.perf_counter()
    qb = allb.take(qual)
    bits = bitsets(codes, val_rows, qb.masks, shares, cfg.device)
    n_val_c = np.bincount(y[val_rows], minlength=n_classes)
    # union: certification must be likely to pass. Rescale the union's validation counts to the
    # certification split, make its errors pessimistic (selection favours rules whose
    # validation errors came out low), and require the certification test to reject with room
    # to spare; without a certification split, require the union's bound at a stricter level.
    scale = cert_rows.size / max(val_rows.size, 1) if cfg.certify else 1.0
    conf_u = float(stats.norm.cdf(cfg.union_z * stats.norm.ppf(conf)))
    budgets = {c: 0.5 * cap * n_val_c[c] for c, cap in cfg.class_caps}
    # one greedy list per level of the error target (strictest first): certification walks
    # them in that order and keeps the widest that holds (see ``certify_lists``)
    levels = sorted(set(cfg.levels)) if cfg.certify else [1.0]
    if 1.0 not in levels:
        levels = sorted(levels + [1.0])
    lists: list[np.ndarray] = []
    tails: list[np.ndarray] = []  # each list, then the rules the tail prior lets in after it
    sel: dict[str, Any] = {}
    pool = RulePool(qb, bits, loose[qual], vbound[qual], vcounts[qual], vbound[qual])

    def pick(level: float, prior: float, start: list[int], allowed=None):
        """Greedy picks (pool indices) at a selection level, after ``start``."""
        target = level_target(level, eps)
        # tree candidates past the purity budget take part at the looser levels only
        lo = pool.loose
        sub = np.flatnonzero(~lo) if level < cfg.loose_level else np.arange(lo.size)
        pos = {int(q): i for i, q in enumerate(sub)}
        picks, reason, info = select_greedy(
            pool.bits[sub],
            pool.boxes.labels[sub],
            pool.bound[sub],
            y[val_rows],
            n_classes,
            max_rules=cfg.max_rules,
            union_ok=union_rule(target, conf, conf_u, scale, cfg.certify),
            marginal_ok=lambda e, m: e + prior <= target * m,
            class_error_budget=budgets,
            start=[pos[q] for q in start],
            allowed=None if allowed is None else allowed[sub],
        )
        return [int(sub[q]) for q in picks], reason, info

    base = {level: pick(level, cfg.marginal_prior, []) for level in levels}
    # sequential covering: candidates grown and validated on the rows a list leaves, where a
    # box needs to be clean only outside the rules before it, extend the lists
    ext = {level: picks for level, (picks, _, _) in base.items()}
    added: list[int] = []
    cache: dict[str, np.ndarray] = {}
    t_round = time.perf_counter()
    for _ in range(cfg.residual_rounds if cfg.order == "greedy" else 0):
        done: list[list[int]] = []
        n_added = 0
        for level in levels:
            if ext[level] and ext[level] not in done:
                done.append(ext[level])
                n_added += residual_candidates(
                    gen, pool, ext[level], val_rows, grow_rows, conf, rule_eps, eps, cache
                )
        added.append(n_added)
        if not n_added:
            break
        ext = {lv: pick(lv, cfg.marginal_prior, p)[0] if p else p for lv, p in ext.items()}
    if added:
        report["candidates"]["residual"] = added
        timings["second_round"] = time.perf_counter() - t_round
    tight = pool.bound >= 1.0 - min(0.5, cfg.tail_slack * eps)
    first = np.arange(tight.size) < qual.size  # the first round's candidates
    with_tail = cfg.tail_prior is not None and cfg.tail_prior < cfg.marginal_prior
    extended: list[np.ndarray] = []
    for level in levels:
        picks, sel_reason, sel_info = base[level]
        if level == 1.0:
            sel = {"picked": len(picks), "stop_reason": sel_reason, **sel_info}
        add_list(lists, picks)
        if with_tail and picks:
            # a tail rule's new rows are too few to vouch for it: its own record must
            # (first-round candidates: the lists and tails are those a fit without the second
            # round makes, so the extended lists only add steps after them)
            longer, _, _ = pick(level, cfg.tail_prior, picks, tight & first)
            if len(longer) > len(picks):
                add_list(tails, longer)
            if tight.size > qual.size:  # the tail may take second-round rules too
                wider, _, _ = pick(level, cfg.tail_prior, picks, tight)
                if len(wider) > len(picks) and wider != longer:
                    add_list(extended, wider)
        if len(ext[level]) > len(picks):
            add_list(extended, ext[level])
            if with_tail:
                longer, _, _ = pick(level, cfg.tail_prior, ext[level], tight)
                if len(longer) > len(ext[level]):
                    add_list(extended, longer)
    if cfg.wide_shares and cfg.residual_rounds and cfg.order == "greedy":
        # one wide interval (past the error target on its own) closing a list: the union is
        # what certification tests, and a clean list leaves room for a noisier last region
        # (within every per-class budget selection keeps)
        t_wide = time.perf_counter()
        n_wide = add_wide_intervals(
            gen,
            pool,
            grow_rows,
            val_rows,
            conf,
            rule_eps,
            tuple(min(0.5, f * eps) for f in cfg.wide_shares),
        )
        report["candidates"]["wide"] = n_wide
        if n_wide:
            wide = np.arange(len(pool)) >= len(pool) - n_wide
            cls_bits = class_bits(gen, val_rows, pool, cache)
            union_ok = union_rule(eps, conf, conf_u, scale, cfg.certify)
            for lst in [*lists, *tails, *extended]:
                if len(lst) >= cfg.max_rules:  # no room for a closing rule
                    continue
                closed = close_with_wide(list(lst), pool, wide, cls_bits, union_ok, budgets)
                if closed is not None:
                    add_list(extended, closed)
        timings["wide"] = time.perf_counter() - t_wide
    # the tails, then the extended lists, come after every list: certification reaches them
    # only past the steps it would test without them
    n_base = len(lists)
    for x in tails:
        add_list(lists, x.tolist())
    n_tails = len(lists)
    for x in extended:
        add_list(lists, x.tolist())
    timings["select"] = (
        time.perf_counter() - t - timings.get("second_round", 0.0) - timings.get("wide", 0.0)
    )
    sel["levels"] = [float(v) for v in levels]
    sel["lists"] = [len(x) for x in lists[:n_base]]
    sel["tail_lists"] = [len(x) for x in lists[n_base:n_tails]]
    sel["extended_lists"] = [len(x) for x in lists[n_tails:]]
    report["selection"] = sel
    if not lists:
        return stop(f"selection picked no rule: {sel['stop_reason']}")

    # --- render ------------------------------------------------------------------------------
    t = time.perf_counter()
    vrows = grow_rows if shared else val_rows
    codes_v = np.asfortranarray(codes[vrows])
    rendered = []
    for li, picks in enumerate(lists):
        pb = pool.stat_bound[picks]
        psup = pool.stat_counts[picks].sum(axis=1)
        if cfg.order == "bound":
            order = np.lexsort((np.arange(picks.size), -psup, -pb))
        else:  # selection order: each prefix adds the next-best increment
            order = np.arange(picks.size)
        chosen = pool.boxes.take(picks[order])
        conds, keep = [], []
        for k in range(len(chosen)):
            c = render_rule(chosen.masks[k], binner, below, above, no_missing)
            if c:
                conds.append(c)
                keep.append(k)
        if not conds:
            continue
        keep = np.asarray(keep, np.int64)
        chosen = chosen.take(keep)
        program = compile_rules(conds, n_categories)
        vm = np.empty(vrows.size, np.int64)  # validation rows' first rule
        first_box(codes_v, np.ascontiguousarray(chosen.masks), vm)
        rendered.append(
            dict(
                conds=conds,
                labels=chosen.labels.astype(np.int64),
                bounds=pb[order][keep],
                vcounts=pool.stat_counts[picks[order][keep]],
                masks=chosen.masks,
                tail=li >= n_base,
                program=program,
                vm=vm,
            )
        )
    timings["render"] = time.perf_counter() - t
    if not rendered:
        return stop("selection picked no rule that can be written as conditions")

    def result_for(r: dict, k: int, cert: Certification | None) -> Learned:
        # the rendered thresholds keep the binned partition on growth and validation rows
        fb = np.empty(fit_rows.size, np.int64)
        first_box(np.asfortranarray(codes[fit_rows]), np.ascontiguousarray(r["masks"]), fb)
        if not np.array_equal(match(values, r["program"], fit_rows, cfg.device), fb):
            raise AssertionError("internal error: rendered thresholds change the partition")
        gcounts = count(codes, y32, grow_rows, r["masks"][:k], n_classes, shares, cfg.device)
        return Learned(
            r["conds"][:k],
            r["labels"][:k],
            gcounts,
            r["vcounts"][:k],
            r["bounds"][:k],
            cert,
            report,
        )

    # --- certify -----------------------------------------------------------------------------
    if not cfg.certify:
        report["stop_reason"] = f"selection: {sel['stop_reason']}; not certified (certify=False)"
        report["timings_s"] = timings
        return result_for(rendered[0], len(rendered[0]["conds"]), None)  # one level: 1.0
    t = time.perf_counter()
    y_cert = y[cert_rows]
    for r in rendered:
        # only the prefix counts are kept: a first-rule array per list is 8 bytes a row
        first = match(values, r["program"], cert_rows, cfg.device)
        r["cert_counts"] = prefix_counts(first, r["labels"], y_cert, cfg.class_caps)
    which, k, cert, info = certify_lists(rendered, y[val_rows], y_cert, cfg, alpha, shared, scale)
    timings["certify"] = time.perf_counter() - t
    report["certification"] = info
    report["rules"] = int(k)
    report["stop_reason"] = f"selection: {sel['stop_reason']}; certification: {cert.reason}"
    result = result_for(rendered[which], k, cert)
    timings["total"] = time.perf_counter() - t0
    report["timings_s"] = timings
    return result
