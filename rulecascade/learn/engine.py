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

from ..kernels.boxes import first_box, match_rules
from ..kernels.dispatch import twin
from .binning import Binner, float_dtype
from .bounds import (
    Certification,
    binomial_pvalue,
    error_upper_bound,
    failing_tests,
    fallback_procedure,
    min_certifiable,
    precision_lower_bound,
    prefix_counts,
    rows_needed,
    sequence_pvalues,
)
from .candidates import (
    Boxes,
    Generator,
    bin_shares,
    count,
    first_occurrences,
    interval_candidates,
)
from .select import bitsets, class_bitsets, popcount, select_greedy
from .thresholds import shortest_decimal

__all__ = [
    "Config",
    "Learned",
    "NumCond",
    "CatCond",
    "compile_rules",
    "learn_rules",
    "match",
    "plan_splits",
]


@dataclass(frozen=True)
class Config:
    max_error: float = 0.005
    confidence: float = 0.95
    class_caps: tuple[tuple[int, float], ...] = ()  # (class index, cap)
    max_rules: int = 100
    n_trees: int = 20
    max_features: int | None = None
    min_support: int | None = None  # growth rows; None: derived from the target
    max_bins: int = 255
    n_widen: int = 256
    certify: bool = True
    rule_slack: float = 10.0  # a rule qualifies when its precision bound >= 1 - slack * eps
    # (at most 0.5) and its validation error rate <= eps: a loose gate, since the union is what
    # certification tests; a tight one (3 eps) shut out the rules of rare classes and of data
    # sets with many classes, whose validation rows are too few for a tight bound of their own
    union_z: float = 3.0  # selection keeps the union's validation error bound, at z * the
    # normal quantile of the confidence, below max_error (room for certification noise)
    subsample: float = 0.6
    backoff: float = 0.25  # widening gives back this share of a side stopped by other classes
    order: str = "greedy"  # rule order: "greedy" (selection order) or "bound"
    # selection targets (x max_error), one rule list each; certification walks them strictest
    # first and keeps the widest that holds (later levels cost no confidence)
    levels: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
    marginal_prior: float = 1.0  # a pick's new rows need (errors + prior) <= eps * rows
    tail_prior: float | None = 0.0  # then each list goes on with this prior (None: it
    # stops): clean small regions of rare classes join as a tail, tested after every list and
    # only with the level a passing run carries to it (so it costs the other steps nothing)
    tail_slack: float = 3.0  # ... among rules whose own bound >= 1 - tail_slack * eps
    purity_share: float = 0.25  # candidates keep growth errors <= share * eps of their rows
    loose_share: float | None = 0.75  # a second set of trees stops at this share of eps
    # (None: no second set) ...
    loose_min_rows: int = 10_000  # ... when there are at least this many growth rows (with
    # fewer, growth counts cannot tell a slightly impure region from a bad one)
    loose_level: float = 2.0  # candidates past the purity budget join selection from this level
    interval_shares: tuple[float, ...] = (0.25, 0.5, 0.75)  # one-condition candidates: the
    # widest interval per feature and class with growth errors <= share * eps of its rows
    max_growth_rows: int = 300_000
    max_validation_rows: int = 1_000_000  # past this, validation rows buy little (bounds and
    # selection are already tight) and cost time and memory in every count: the rest go to
    # certification, whose test gains power from them at a linear cost
    max_depth: int = 40
    small_rows: int = 0  # fewer rows left after certification: no validation split (0: never)
    start_share: float = 0.5  # share of the certification level put on the start points
    cert_shares: tuple[float, float] = (0.4, 0.5)  # certification share of the rows: bounds
    # (40% at least: the test's power decides what can be kept; more growth rows buy less)
    growth_share: float = 2.0 / 3.0  # growth share of the rows left after certification
    wide_shares: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)  # one-condition intervals at these
    # error rates (x max_error) may close a list when the union stays within the target (with
    # the second round on: the rules then read as a list, not each clean on its own)
    device: str = "cpu"  # where the row passes of binning, validation, selection and
    # certification run: "cpu" or "cuda" (the numba.cuda twins; same counts, same rules), or
    # "auto-cuda" (the twins, falling back to the CPU kernel when a GPU call fails)
    residual_rounds: int = 1  # rounds of candidates grown and validated on the rows each
    # list leaves (sequential covering), extending the lists; the extended lists are tested
    # after the others, like the tails


@dataclass(frozen=True)
class NumCond:
    feature: int
    low: float | None
    high: float | None


@dataclass(frozen=True)
class CatCond:
    feature: int
    codes: tuple[int, ...]  # category codes (indices into the feature's category list)


@dataclass
class Learned:
    conditions: list[list[NumCond | CatCond]]
    labels: np.ndarray  # class index per rule, in rule order
    growth_counts: np.ndarray  # (R, C)
    validation_counts: np.ndarray  # (R, C)
    bounds: np.ndarray  # (R,) precision lower bounds on validation
    certification: Certification | None
    report: dict[str, Any] = field(default_factory=dict)


def _split(y: np.ndarray, n_classes: int, fractions: tuple[float, ...], rng) -> list[np.ndarray]:
    """Stratified split of row indices into parts with the given fractions (sorted indices)."""
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    cum = np.cumsum(fractions)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        bounds = np.round(cum * idx.size).astype(np.int64)
        start = 0
        for p, b in enumerate(bounds):
            parts[p].append(idx[start:b])
            start = b
    return [np.sort(np.concatenate(p)).astype(np.int64) for p in parts]


def _gap_tables(binner: Binner, mins: np.ndarray, maxs: np.ndarray):
    """below[f, b]: largest value in bins <= b; above[f, b]: smallest value in bins >= b."""
    with np.errstate(invalid="ignore"):
        below = np.fmax.accumulate(maxs, axis=1)
        above = np.fmin.accumulate(mins[:, ::-1], axis=1)[:, ::-1]
    return below, above


def _cut(below: np.ndarray, above: np.ndarray, f: int, b: int) -> float | None:
    """A short threshold t with (values in bins <= b) <= t < (values in bins > b)."""
    lo = below[f, b]
    hi = above[f, b + 1]
    if np.isnan(lo) and np.isnan(hi):
        return None
    if np.isnan(hi):
        hi = math.inf
    if np.isnan(lo) or lo == -math.inf:
        if not math.isfinite(hi):
            return None
        lo = hi - max(1.0, abs(hi))
    if lo == math.inf or not lo < hi:
        return None
    return shortest_decimal(float(lo), float(hi))


def _render(
    mask: np.ndarray,
    binner: Binner,
    below: np.ndarray,
    above: np.ndarray,
    no_missing: np.ndarray | None = None,
) -> list[NumCond | CatCond] | None:
    """Conditions of one box (None if a condition cannot be written; empty list: no condition).

    A box with no condition (the whole space) is written as ``x > t`` below the smallest value
    of the first numeric feature without missing values among the fitting rows
    (``no_missing``), else as "in every category" of the first such categorical feature, as
    rule sets need one condition per rule; empty if there is none."""
    conds: list[NumCond | CatCond] = []
    all_ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    for f in range(mask.shape[0]):
        if np.all(mask[f] == all_ones):
            continue
        nb = int(binner.n_bins[f])
        bits = np.unpackbits(mask[f].view(np.uint8), bitorder="little")[:nb].astype(bool)
        if binner.is_cat[f]:
            k = int(binner.n_cat_map[f])
            codes = np.flatnonzero(bits[binner.cat_map[f, :k]]) if k else np.zeros(0, int)
            if codes.size == 0:
                return None
            conds.append(CatCond(f, tuple(int(c) for c in codes)))
            continue
        on = np.flatnonzero(bits)
        if on.size == 0:
            return None
        lo_b, hi_b = int(on[0]), int(on[-1])
        low = high = None
        if lo_b > 0:
            low = _cut(below, above, f, lo_b - 1)
            if low is None:
                return None
        if hi_b < nb - 1:
            high = _cut(below, above, f, hi_b)
            if high is None:
                return None
        if low is None and high is None:  # full non-missing range: x > t below the minimum
            vmin = above[f, 0]
            vmax = below[f, nb - 1]
            if np.isfinite(vmin):
                low = shortest_decimal(vmin - max(1.0, abs(vmin)), vmin)
            elif np.isfinite(vmax):
                high = shortest_decimal(vmax, math.inf)
            else:
                return None
        conds.append(NumCond(f, low, high))
    if not conds and no_missing is not None:  # the whole space: one always-true condition
        for f in np.flatnonzero(no_missing & ~binner.is_cat.astype(bool)):
            vmin = above[f, 0]
            if np.isfinite(vmin):
                return [NumCond(int(f), shortest_decimal(vmin - max(1.0, abs(vmin)), vmin), None)]
        for f in np.flatnonzero(no_missing & binner.is_cat.astype(bool)):
            k = int(binner.n_cat_map[f])
            if k:
                return [CatCond(int(f), tuple(range(k)))]
    return conds


def compile_rules(conditions: list[list[NumCond | CatCond]], n_categories: np.ndarray):
    """Flat arrays for :func:`rulecascade.kernels.boxes.match_rules`."""
    starts = [0]
    feat, iscat, low, high, sstart, slen, table = [], [], [], [], [], [], []
    offset = 0
    for conds in conditions:
        for c in conds:
            feat.append(c.feature)
            if isinstance(c, CatCond):
                k = int(n_categories[c.feature])
                t = np.zeros(k, np.uint8)
                t[list(c.codes)] = 1
                iscat.append(1)
                low.append(np.nan)
                high.append(np.nan)
                sstart.append(offset)
                slen.append(k)
                table.append(t)
                offset += k
            else:
                iscat.append(0)
                low.append(np.nan if c.low is None else c.low)
                high.append(np.nan if c.high is None else c.high)
                sstart.append(0)
                slen.append(0)
        starts.append(len(feat))
    return (
        np.asarray(starts, np.int64),
        np.asarray(feat, np.int64),
        np.asarray(iscat, np.uint8),
        np.asarray(low, np.float64),
        np.asarray(high, np.float64),
        np.asarray(sstart, np.int64),
        np.asarray(slen, np.int64),
        np.concatenate(table) if table else np.zeros(1, np.uint8),
    )


def match(
    values: np.ndarray, program, rows: np.ndarray | None = None, device: str = "cpu"
) -> np.ndarray:
    """First matching rule per row of ``values`` (float64 or float32, categorical as codes),
    or per row of ``values`` listed in ``rows`` (read in place on the CPU, not copied); -1 if
    none."""
    if rows is None:
        rows = np.arange(values.shape[0], dtype=np.int64)
    out = np.empty(rows.shape[0], np.int64)
    if rows.shape[0]:
        vals = np.asarray(values, dtype=float_dtype(values))
        twin(match_rules, device)(vals, np.asarray(rows, np.int64), *program, out)
    return out


def plan_splits(
    y: np.ndarray, n_classes: int, cfg: Config, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (growth, validation, certification) row indices.

    The certification share is sized from the target: enough rows that about half of them,
    covered without error, certify ``max_error`` (at the Bonferroni level of two fixed
    sequences), between 40% and 50% of the rows (``cfg.cert_shares``; the test's power decides
    what can be kept, so it gets more than growth needs). Growth gets ``cfg.growth_share`` (two
    thirds) of the rest, at most ``max_growth_rows`` (more rows buy little there), and
    validation the remainder, at most ``max_validation_rows`` (the rows past it go to
    certification); with ``small_rows`` set, on sets with fewer rows left no
    validation split is held out: the validation array is the growth array itself, and
    selection works on growth rows (the guarantee comes from certification alone). Without
    ``certify`` validation gets the certification share too, up to its cap (the rest is left
    out: a sample).
    """
    n = y.shape[0]
    if cfg.certify:
        need = rows_needed(cfg.max_error, 1.0 - (1.0 - cfg.confidence) / 2)
        c = float(np.clip(need / (0.5 * max(n, 1)), *cfg.cert_shares))
        rest = 1.0 - c
        if rest * n < cfg.small_rows:
            grow, cert = _split(y, n_classes, (rest, c), rng)
            return grow, grow, cert
        g = min(rest * cfg.growth_share, cfg.max_growth_rows / max(n, 1))
        v = min(rest - g, cfg.max_validation_rows / max(n, 1))
        fr = (g, v, 1.0 - g - v)
    else:
        g = min(0.6, cfg.max_growth_rows / max(n, 1))
        fr = (g, min(1.0 - g, cfg.max_validation_rows / max(n, 1)), 0.0)
    grow, val, cert = _split(y, n_classes, fr, rng)
    return grow, val, cert


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
            f"least {m_star} covered certification rows without error, but the certification "
            f"split has {cert_rows.size} rows (of {n}); pass more calibration rows or raise "
            f"max_error (to at least {min_certifiable(cert_rows.size, conf):.3g}: what a rule "
            "covering every certification row without error would certify)"
        )
    if val_rows.size < m_rule:
        return stop(
            f"not enough data: a rule needs at least {m_rule} validation rows to reach a "
            f"precision bound of {1 - rule_eps:.4g}, the validation split has {val_rows.size}"
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
    below, above = _gap_tables(binner, mins, maxs)
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
    # them in that order and keeps the widest that holds (see ``_certify_lists``)
    levels = sorted(set(cfg.levels)) if cfg.certify else [1.0]
    if 1.0 not in levels:
        levels = sorted(levels + [1.0])
    lists: list[np.ndarray] = []
    tails: list[np.ndarray] = []  # each list, then the rules the tail prior lets in after it
    sel: dict[str, Any] = {}
    pool = _Pool(qb, bits, loose[qual], vbound[qual], vcounts[qual], vbound[qual])

    def pick(level: float, prior: float, start: list[int], allowed=None):
        """Greedy picks (pool indices) at a selection level, after ``start``."""
        target = _level_target(level, eps)
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
            union_ok=_union_rule(target, conf, conf_u, scale, cfg.certify),
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
                n_added += _residual_candidates(
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
        _add_list(lists, picks)
        if with_tail and picks:
            # a tail rule's new rows are too few to vouch for it: its own record must
            # (first-round candidates: the lists and tails are those a fit without the second
            # round makes, so the extended lists only add steps after them)
            longer, _, _ = pick(level, cfg.tail_prior, picks, tight & first)
            if len(longer) > len(picks):
                _add_list(tails, longer)
            if tight.size > qual.size:  # the tail may take second-round rules too
                wider, _, _ = pick(level, cfg.tail_prior, picks, tight)
                if len(wider) > len(picks) and wider != longer:
                    _add_list(extended, wider)
        if len(ext[level]) > len(picks):
            _add_list(extended, ext[level])
            if with_tail:
                longer, _, _ = pick(level, cfg.tail_prior, ext[level], tight)
                if len(longer) > len(ext[level]):
                    _add_list(extended, longer)
    if cfg.wide_shares and cfg.residual_rounds and cfg.order == "greedy":
        # one wide interval (past the error target on its own) closing a list: the union is
        # what certification tests, and a clean list leaves room for a noisier last region
        # (within every per-class budget selection keeps)
        t_wide = time.perf_counter()
        n_wide = _add_wide_intervals(
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
            cls_bits = _class_bits(gen, val_rows, pool, cache)
            union_ok = _union_rule(eps, conf, conf_u, scale, cfg.certify)
            for lst in [*lists, *tails, *extended]:
                if len(lst) >= cfg.max_rules:  # no room for a closing rule
                    continue
                closed = _close_with_wide(list(lst), pool, wide, cls_bits, union_ok, budgets)
                if closed is not None:
                    _add_list(extended, closed)
        timings["wide"] = time.perf_counter() - t_wide
    # the tails, then the extended lists, come after every list: certification reaches them
    # only past the steps it would test without them
    n_base = len(lists)
    for x in tails:
        _add_list(lists, x.tolist())
    n_tails = len(lists)
    for x in extended:
        _add_list(lists, x.tolist())
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
            c = _render(chosen.masks[k], binner, below, above, no_missing)
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
    which, k, cert, info = _certify_lists(rendered, y[val_rows], y_cert, cfg, alpha, shared, scale)
    timings["certify"] = time.perf_counter() - t
    report["certification"] = info
    report["rules"] = int(k)
    report["stop_reason"] = f"selection: {sel['stop_reason']}; certification: {cert.reason}"
    result = result_for(rendered[which], k, cert)
    timings["total"] = time.perf_counter() - t0
    report["timings_s"] = timings
    return result


@dataclass
class _Pool:
    """The qualified candidates, in the order selection indexes them: validation bitsets,
    loose flags (past the purity budget), the bounds that rank ties in selection, and what the
    rule file says of each rule (its counts and bound on every validation row it covers,
    order ignored)."""

    boxes: Boxes
    bits: np.ndarray
    loose: np.ndarray
    bound: np.ndarray
    stat_counts: np.ndarray
    stat_bound: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)

    def unseen(self, new: Boxes, ok: np.ndarray) -> np.ndarray:
        """Indices of the ``new`` boxes with ``ok`` that the pool (and earlier ones) lack."""
        cand = np.flatnonzero(ok)
        n_old = len(self.boxes)
        merged = Boxes.concat([self.boxes, new.take(cand)], new.masks.shape[1], new.counts.shape[1])
        first = first_occurrences(merged)
        return cand[first[first >= n_old] - n_old].astype(np.int64)

    def extend(
        self,
        add: Boxes,
        bits: np.ndarray,
        loose: np.ndarray,
        bound: np.ndarray,
        stat_counts: np.ndarray,
        stat_bound: np.ndarray,
    ) -> None:
        """Append candidates with their bitsets, flags, selection bounds and statistics."""
        old = self.boxes
        self.boxes = Boxes.concat([old, add], old.masks.shape[1], old.counts.shape[1])
        self.bits = np.concatenate([self.bits, bits], axis=0)
        self.loose = np.r_[self.loose, loose]
        self.bound = np.r_[self.bound, bound]
        self.stat_counts = np.concatenate([self.stat_counts, stat_counts], axis=0)
        self.stat_bound = np.r_[self.stat_bound, stat_bound]


def _add_wide_intervals(
    gen: Generator,
    pool: _Pool,
    grow_rows: np.ndarray,
    val_rows: np.ndarray,
    conf: float,
    rule_eps: float,
    rates: tuple[float, ...],
) -> int:
    """One-condition intervals at the error ``rates`` whose validation bound reaches
    ``1 - rule_eps``, appended to ``pool`` (new ones only); returns how many."""
    binner = gen.binner
    new = interval_candidates(
        gen.codes,
        gen.y,
        grow_rows,
        gen.n_classes,
        binner.n_bins,
        binner.is_cat,
        rates,
        gen.min_cand,
        n_between=0,
    )
    if not len(new):
        return 0
    vc = count(gen.codes, gen.y, val_rows, new.masks, gen.n_classes, gen.shares, gen.cfg.device)
    vb = precision_lower_bound(vc[np.arange(len(new)), new.labels], vc.sum(axis=1), conf)
    q = pool.unseen(new, vb >= 1.0 - rule_eps)
    if q.size:
        add = new.take(q)
        bits = bitsets(gen.codes, val_rows, add.masks, gen.shares, gen.cfg.device)
        pool.extend(add, bits, np.ones(q.size, bool), vb[q], vc[q], vb[q])
    return int(q.size)


def _close_with_wide(
    picks: list[int],
    pool: _Pool,
    wide: np.ndarray,
    cls_bits: np.ndarray,
    union_ok,
    budgets: dict[int, float] | None = None,
) -> list[int] | None:
    """``picks`` plus the wide interval that adds the most validation rows while the union
    keeps ``union_ok`` and, for each class ``c`` in ``budgets``, answers at most
    ``budgets[c]`` class-c rows with another label; None if none does."""
    if not picks:
        return None
    budgets = budgets or {}
    bits, labels = pool.bits, pool.boxes.labels

    def wrong_per_class(new: np.ndarray, label: int) -> dict[int, int]:
        return {c: popcount(new & cls_bits[c]) for c in budgets if c != label}

    covered = np.zeros(bits.shape[1], np.uint64)
    cov = err = 0
    x_c = dict.fromkeys(budgets, 0)
    for q in picks:
        new = bits[q] & ~covered
        n = popcount(new)
        cov += n
        err += n - popcount(new & cls_bits[int(labels[q])])
        for c, k in wrong_per_class(new, int(labels[q])).items():
            x_c[c] += k
        covered |= bits[q]
    best, best_n = None, 0
    for w in np.flatnonzero(wide):
        new = bits[w] & ~covered
        n = popcount(new)
        if n <= best_n:
            continue
        e = n - popcount(new & cls_bits[int(labels[w])])
        if not union_ok(err + e, cov + n, err, cov):
            continue
        wrong = wrong_per_class(new, int(labels[w]))
        if any(x_c[c] + k > budgets[c] for c, k in wrong.items()):
            continue
        best, best_n = int(w), n
    return None if best is None else [*picks, best]


def _residual_candidates(
    gen: Generator,
    pool: _Pool,
    picks: list[int],
    val_rows: np.ndarray,
    grow_rows: np.ndarray,
    conf: float,
    rule_eps: float,
    eps: float,
    cache: dict[str, np.ndarray],
) -> int:
    """Candidates grown on the growth rows no rule of ``picks`` covers, qualified like the first
    round's on the validation rows none covers, appended to ``pool`` (new ones only); returns
    how many. Their selection bound is that of the rows left; their stats count every
    validation row they cover, like every other rule's."""
    if "codes_g" not in cache:  # column-major growth rows for the box kernel, made once
        cache["codes_g"] = np.asfortranarray(gen.codes[grow_rows])
    first = np.empty(grow_rows.size, np.int64)
    first_box(cache["codes_g"], np.ascontiguousarray(pool.boxes.masks[picks]), first)
    rg = grow_rows[first < 0]
    union = np.bitwise_or.reduce(pool.bits[picks], axis=0)  # validation rows covered
    hit = np.unpackbits(union.view(np.uint8), bitorder="little")[: val_rows.size]
    rv = val_rows[hit == 0]
    if rg.size < 2 * gen.min_cand or rv.size == 0 or np.unique(gen.y[rg]).size < 2:
        return 0
    new, loose, _ = gen.run(rg, {})  # its growing time is the second round's
    if not len(new):
        return 0
    vc = count(gen.codes, gen.y, rv, new.masks, gen.n_classes, gen.shares, gen.cfg.device)
    vn = vc.sum(axis=1)
    vk = vc[np.arange(len(new)), new.labels]
    vb = precision_lower_bound(vk, vn, conf)
    q = pool.unseen(new, (vb >= 1.0 - rule_eps) & (vn - vk <= eps * vn))
    if q.size == 0:
        return 0
    add = new.take(q)
    bits = bitsets(gen.codes, val_rows, add.masks, gen.shares, gen.cfg.device)
    cls_bits = _class_bits(gen, val_rows, pool, cache)
    full = np.array([[popcount(b & c) for c in cls_bits] for b in bits], np.int64)
    full_bound = precision_lower_bound(full[np.arange(q.size), add.labels], full.sum(axis=1), conf)
    pool.extend(add, bits, loose[q], vb[q], full, full_bound)
    return int(q.size)


def _class_bits(
    gen: Generator, val_rows: np.ndarray, pool: _Pool, cache: dict[str, np.ndarray]
) -> np.ndarray:
    """Which validation rows hold each class, in the pool's bitset layout (made once)."""
    if "class_bits" not in cache:
        cache["class_bits"] = class_bitsets(gen.y[val_rows], gen.n_classes, pool.bits.shape[1])
    return cache["class_bits"]


def _add_list(lists: list[np.ndarray], picks: list[int]) -> None:
    """Append ``picks`` as a rule list unless empty or already there."""
    if picks and not any(len(x) == len(picks) and np.array_equal(x, picks) for x in lists):
        lists.append(np.asarray(picks, np.int64))


def _level_target(level: float, eps: float) -> float:
    """The error target of a selection level: ``level * eps``, kept below 1 (halfway to it)."""
    return min(level * eps, 0.5 * (1.0 + eps)) if level > 1.0 else level * eps


def _union_rule(eps: float, conf: float, conf_u: float, scale: float, certify_: bool):
    """``union_ok(errors, covered, prev_errors, prev_covered)`` for selection at target ``eps``.

    With certification: the union's validation errors, made pessimistic and rescaled to the
    certification split, must pass the test at half the level; else a small union (too few
    rows for the test yet), or one grown from a union that passes, may still grow like a single
    qualified rule at half the error rate, any other union at a quarter of it. Without
    certification: the union's Clopper-Pearson bound at the stricter level ``conf_u``."""
    alpha = 1.0 - conf
    m_star = rows_needed(eps, conf)

    def strict_ok(errors: int, covered: int) -> bool:
        e = _pessimistic(errors) * scale
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


def _certify_lists(
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
    points of :func:`_start_points`, half over every hypothesis (selection makes validation
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
    starts = _start_points(mv[:n_start], ev[:n_start], xv[:n_start], yv, cfg, alpha, scale, shared)
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


def _pessimistic(k):
    """Validation errors made pessimistic: selection favours rules whose errors came out low."""
    return np.ceil(k + 2.0 * np.sqrt(k + 1.0) + 1.0)


def _start_points(
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
    p = [binomial_pvalue(_pessimistic(es), np.floor(ms), cfg.max_error)]
    for j, (c, cap) in enumerate(cfg.class_caps):
        n_c = np.sum(yv == c) * scale
        p.append(binomial_pvalue(_pessimistic(x[:, j] * scale), np.full(n_h, np.floor(n_c)), cap))
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
