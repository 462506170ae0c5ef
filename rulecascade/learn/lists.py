"""Rule lists built by selection: the candidate pool, tails, wide closing intervals and the second round."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels.boxes import first_box
from .bounds import (
    precision_lower_bound,
)
from .candidates import (
    Boxes,
    Generator,
    count,
    first_occurrences,
    interval_candidates,
)
from .select import bitsets, class_bitsets, popcount


@dataclass
class RulePool:
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


def add_wide_intervals(
    gen: Generator,
    pool: RulePool,
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


def close_with_wide(
    picks: list[int],
    pool: RulePool,
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


def residual_candidates(
    gen: Generator,
    pool: RulePool,
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
    cls_bits = class_bits(gen, val_rows, pool, cache)
    full = np.array([[popcount(b & c) for c in cls_bits] for b in bits], np.int64)
    full_bound = precision_lower_bound(full[np.arange(q.size), add.labels], full.sum(axis=1), conf)
    pool.extend(add, bits, loose[q], vb[q], full, full_bound)
    return int(q.size)


def class_bits(
    gen: Generator, val_rows: np.ndarray, pool: RulePool, cache: dict[str, np.ndarray]
) -> np.ndarray:
    """Which validation rows hold each class, in the pool's bitset layout (made once)."""
    if "class_bits" not in cache:
        cache["class_bits"] = class_bitsets(gen.y[val_rows], gen.n_classes, pool.bits.shape[1])
    return cache["class_bits"]


def add_list(lists: list[np.ndarray], picks: list[int]) -> None:
    """Append ``picks`` as a rule list unless empty or already there."""
    if picks and not any(len(x) == len(picks) and np.array_equal(x, picks) for x in lists):
        lists.append(np.asarray(picks, np.int64))
