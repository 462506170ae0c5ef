"""Candidate boxes on the growth split: randomized histogram trees, then widening of boxes.

:class:`Generator` runs the whole recipe (trees, loose trees, widening, one-condition
intervals) on any set of growth rows: all of them, or those a selected rule list leaves.

All counting happens in the numba kernels; this module draws the random inputs (row samples,
tree seeds), batches boxes to bound memory, and removes duplicates deterministically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..kernels.boxes import box_counts, box_margins, margins_update, widen_step
from ..kernels.dispatch import twin
from ..kernels.histogram import KIND_CANDIDATE, KIND_SEED, grow_forest
from .binning import Binner

if TYPE_CHECKING:
    from .config import Config

__all__ = [
    "Boxes",
    "Generator",
    "dedupe",
    "first_occurrences",
    "grow_trees",
    "interval_candidates",
    "widen",
]

_MEMORY = 64 * 1024 * 1024  # bytes for per-batch kernel outputs
_UPDATE_SHARE = 0.3  # margins are updated in place when a step lets in at most this share of
# the rows, else counted afresh (an update visits a row at several times the cost of a count)


@dataclass
class Boxes:
    masks: np.ndarray  # (K, F, 4) uint64
    labels: np.ndarray  # (K,) int64 class index answered
    counts: np.ndarray  # (K, C) int64 class counts on the rows they were grown on

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def take(self, idx: np.ndarray) -> Boxes:
        return Boxes(self.masks[idx], self.labels[idx], self.counts[idx])

    @classmethod
    def concat(cls, parts: list[Boxes], n_features: int, n_classes: int) -> Boxes:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty(n_features, n_classes)
        return cls(
            np.concatenate([p.masks for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.counts for p in parts]),
        )

    @classmethod
    def empty(cls, n_features: int, n_classes: int) -> Boxes:
        return cls(
            np.zeros((0, n_features, 4), np.uint64),
            np.zeros(0, np.int64),
            np.zeros((0, n_classes), np.int64),
        )


def dedupe(boxes: Boxes) -> Boxes:
    """Drop repeated (box, label) pairs, keeping first occurrences in their original order."""
    return boxes.take(first_occurrences(boxes)) if len(boxes) else boxes


def first_occurrences(boxes: Boxes) -> np.ndarray:
    """Sorted indices of the first occurrence of each (box, label) pair."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    flat = np.concatenate(
        [boxes.masks.reshape(len(boxes), -1), boxes.labels[:, None].astype(np.uint64)], axis=1
    )
    view = np.ascontiguousarray(flat).view(np.dtype((np.void, flat.shape[1] * 8))).ravel()
    _, first = np.unique(view, return_index=True)
    return np.sort(first)


def grow_trees(
    codes: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    n_classes: int,
    n_bins: np.ndarray,
    is_cat: np.ndarray,
    *,
    n_trees: int,
    max_features: int,
    subsample: float,
    min_cand: int,
    min_seed: int,
    budget_rate: float,
    max_depth: int,
    rng: np.random.Generator,
) -> tuple[Boxes, Boxes]:
    """Grow ``n_trees`` randomized trees; return (candidate boxes, seed boxes)."""
    n_features = codes.shape[1]
    n = rows.shape[0]
    m = max(1, int(round(subsample * n)))
    tree_rows = np.empty((n_trees, m), np.int64)
    for t in range(n_trees):
        tree_rows[t] = np.sort(rng.choice(rows, size=m, replace=False)) if m < n else rows
    tree_n = np.full(n_trees, m, np.int64)
    seeds = rng.integers(0, 2**63 - 1, size=n_trees, dtype=np.int64).astype(np.uint64)
    per_node = n_features * 4 * 8 + n_classes * 8 + 1
    max_out = int(np.clip(_MEMORY * 2 // max(1, n_trees * per_node), 64, 8192))
    out_masks = np.zeros((n_trees, max_out, n_features, 4), np.uint64)
    out_counts = np.zeros((n_trees, max_out, n_classes), np.int64)
    out_kind = np.zeros((n_trees, max_out), np.int8)
    out_n = np.zeros(n_trees, np.int64)
    min_cand_t = max(1, int(np.ceil(min_cand * m / max(n, 1))))
    min_seed_t = max(1, int(np.ceil(min_seed * m / max(n, 1))))
    grow_forest(
        codes,
        y,
        n_classes,
        n_bins.astype(np.int64),
        is_cat.astype(np.uint8),
        tree_rows,
        tree_n,
        seeds,
        int(max_features),
        int(max(2, 2 * min_seed_t)),
        int(max_depth),
        float(budget_rate),
        int(min_cand_t),
        int(min_seed_t),
        out_masks,
        out_counts,
        out_kind,
        out_n,
    )
    sel = np.arange(max_out)[None, :] < out_n[:, None]
    masks = out_masks[sel]
    counts = out_counts[sel]
    kind = out_kind[sel]
    labels = np.argmax(counts, axis=1).astype(np.int64)
    allb = Boxes(masks, labels, counts)
    return allb.take(np.flatnonzero(kind == KIND_CANDIDATE)), allb.take(
        np.flatnonzero(kind == KIND_SEED)
    )


def bin_shares(codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(F, 256) share of ``rows`` in each bin of each feature (orders conditions in kernels)."""
    out = np.zeros((codes.shape[1], 256))
    if rows.size:
        for f in range(codes.shape[1]):
            out[f] = np.bincount(codes[rows, f], minlength=256) / rows.size
    return out


def count(codes, y, rows, masks, n_classes, shares=None, device: str = "cpu") -> np.ndarray:
    """Class counts (K, C) of ``rows`` inside each box (``device``: "cpu" or "cuda")."""
    out = np.zeros((masks.shape[0], n_classes), np.int64)
    if masks.shape[0] and rows.size:
        if shares is None:
            shares = np.full((codes.shape[1], 256), 1.0 / 256)
        twin(box_counts, device)(codes, y, rows, np.ascontiguousarray(masks), shares, out)
    return out


def widen(
    codes: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    boxes: Boxes,
    n_classes: int,
    n_bins: np.ndarray,
    is_cat: np.ndarray,
    can_full: np.ndarray,
    budget_rate: float,
    shares: np.ndarray,
    max_rounds: int | None = None,
    backoff: float = 0.0,
    device: str = "cpu",
) -> Boxes:
    """Widen every box side by side (and drop redundant conditions) while it stays within the
    purity budget on ``rows``; returns the widened boxes with their counts on ``rows``. On a
    GPU ``device`` the margins are counted afresh every round (the same margins the CPU's
    incremental updates give).

    A box first relaxes every feature at once; if the rows that enter at the corners break the
    budget, the step is undone and the box continues one feature (the best) at a time.
    """
    if len(boxes) == 0:
        return boxes
    n_features = codes.shape[1]
    masks = boxes.masks.copy()
    labels = boxes.labels.astype(np.int64)
    per_box = n_features * 256 * n_classes * 8
    batch = int(np.clip(_MEMORY // max(per_box, 1), 1, 256))
    if max_rounds is None:
        max_rounds = 4 * n_features + 8
    nb = n_bins.astype(np.int64)
    ic = is_cat.astype(np.uint8)
    cf = can_full.astype(np.uint8)
    batch = min(batch, 64)
    done = np.zeros(len(boxes), bool)
    skipped = np.zeros(len(boxes), bool)
    index = _bin_index(codes, rows) if device == "cpu" else None
    for s in range(0, len(boxes), batch):
        sl = np.arange(s, min(s + batch, len(boxes)))
        if s > 0:  # a box inside an already widened box of its label would widen to the same
            inside = _contained(masks[sl], labels[sl], masks[done], labels[done])
            skipped[sl[inside]] = True
            sl = sl[~inside]
            if sl.size == 0:
                continue
        bm = np.ascontiguousarray(masks[sl])
        bl = labels[sl]
        multi = np.ones(bm.shape[0], np.uint8)
        last_multi = np.zeros(bm.shape[0], bool)
        prev = bm.copy()
        idx = np.arange(bm.shape[0])
        margins = _Margins(codes, y, rows, shares, bm.shape[0], n_classes, index, device)
        for _ in range(max_rounds):
            sub = np.ascontiguousarray(bm[idx])
            k = sub.shape[0]
            gains = np.zeros(k, np.int64)
            hist, inbox = margins.get(idx, sub)
            n_in = inbox.sum(axis=1)
            e_in = n_in - inbox[np.arange(k), bl[idx]]
            broke = last_multi[idx] & (e_in > np.floor(budget_rate * n_in))
            if broke.any():  # undo the joint step; continue one feature at a time
                bad = idx[broke]
                bm[bad] = prev[bad]
                margins.forget(bad)  # a narrower box: counted afresh next round
                multi[bad] = 0
                last_multi[bad] = False
                keep = ~broke
                sub, hist, inbox, gains = sub[keep], hist[keep], inbox[keep], gains[keep]
                ok = idx[keep]
            else:
                ok = idx
            if ok.size:
                prev[ok] = bm[ok]
                widen_step(
                    hist,
                    inbox,
                    sub,
                    bl[ok],
                    nb,
                    ic,
                    cf,
                    float(budget_rate),
                    float(backoff),
                    multi[ok],
                    gains,
                )
                bm[ok] = sub
                last_multi[ok] = (multi[ok] == 1) & (gains > 0)
            still = np.zeros(bm.shape[0], bool)
            still[ok[gains >= 0]] = True
            if broke.any():
                still[idx[broke]] = True
            idx = np.flatnonzero(still)
            if idx.size == 0:
                break
        pending = np.flatnonzero(last_multi)
        if pending.size:  # a joint step not yet checked when the rounds ran out
            cnt = count(codes, y, rows, bm[pending], n_classes, shares, device)
            n_in = cnt.sum(axis=1)
            e_in = n_in - cnt[np.arange(pending.size), bl[pending]]
            bad = pending[e_in > np.floor(budget_rate * n_in)]
            bm[bad] = prev[bad]
        masks[sl] = bm
        done[sl] = True
    keep = np.flatnonzero(~skipped)
    masks, labels = masks[keep], labels[keep]
    counts = count(codes, y, rows, masks, n_classes, shares, device)
    return Boxes(masks, labels, counts)


def _bin_index(codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per feature, the positions in ``rows`` sorted by bin and where each bin starts (None
    when that index would take more than ``_MEMORY`` x 4 bytes: margins are then counted
    afresh every round)."""
    n_features = codes.shape[1]
    if n_features * rows.size * 4 > 4 * _MEMORY or rows.size >= 2**31:
        return None
    order = np.empty((n_features, rows.size), np.int32)
    starts = np.zeros((n_features, 257), np.int64)
    for f in range(n_features):
        cf = codes[rows, f]
        order[f] = np.argsort(cf, kind="stable")
        starts[f, 1:] = np.cumsum(np.bincount(cf, minlength=256))
    return order, starts


class _Margins:
    """Margin histograms of a batch of boxes, kept from one widening round to the next. A box
    is counted on every row once; afterwards a step (which only ever adds bins) updates just the
    rows of the bins it let in. A box whose step was undone is counted afresh. Without a bin
    index (``index`` None) every round counts every row."""

    def __init__(self, codes, y, rows, shares, n_boxes, n_classes, index, device="cpu") -> None:
        self.codes, self.y, self.rows, self.shares, self.index = codes, y, rows, shares, index
        self.device = device
        self.shape = (codes.shape[1], 256, n_classes)
        if index is None:
            return
        self.hist = np.zeros((n_boxes, *self.shape), np.int64)
        self.inbox = np.zeros((n_boxes, n_classes), np.int64)
        self.nv = np.zeros((n_boxes, rows.size), np.uint16)
        self.cur = np.zeros((n_boxes, codes.shape[1], 4), np.uint64)
        self.known = np.zeros(n_boxes, bool)  # hist/inbox/nv hold the margins of cur
        self.per_bin = np.diff(index[1], axis=1)  # (F, 256) rows per bin

    def forget(self, idx: np.ndarray) -> None:
        if self.index is not None:
            self.known[idx] = False

    def get(self, idx: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Margins (hist, inbox) of boxes ``idx`` (batch positions) with ``masks``."""
        k = idx.size
        if self.index is None:
            hist = np.empty((k, *self.shape), np.int64)
            inbox = np.empty((k, self.shape[2]), np.int64)
            no_counts = np.zeros((k, 0), np.uint16)  # rows stop at a second violation
            slots = np.arange(k)
            args = (self.codes, self.y, self.rows, masks, self.shares, slots, no_counts)
            twin(box_margins, self.device)(*args, hist, inbox)
            return hist, inbox
        cur = self.cur[idx]
        grown = self.known[idx] & np.all((cur & ~masks) == 0, axis=(1, 2))
        changed = np.any(cur != masks, axis=(1, 2))
        # rows an update would visit: those in the bins the step let in. Visiting one costs a
        # few times a row of the full count (random access), so past a share of the rows the
        # box is counted afresh
        added = np.unpackbits((masks & ~cur).view(np.uint8), axis=-1, bitorder="little")
        visits = (added.reshape(k, -1, 256) * self.per_bin).sum(axis=(1, 2))
        cheap = visits <= _UPDATE_SHARE * self.rows.size
        fresh = np.flatnonzero(~grown | (changed & ~cheap))
        upd = np.flatnonzero(grown & changed & cheap)
        if fresh.size:
            box_margins(
                self.codes,
                self.y,
                self.rows,
                np.ascontiguousarray(masks[fresh]),
                self.shares,
                idx[fresh].astype(np.int64),
                self.nv,
                self.hist,
                self.inbox,
            )
        if upd.size:
            order, starts = self.index
            margins_update(
                self.codes,
                self.y,
                self.rows,
                np.ascontiguousarray(cur[upd]),
                np.ascontiguousarray(masks[upd]),
                idx[upd].astype(np.int64),
                order,
                starts,
                self.nv,
                self.hist,
                self.inbox,
            )
        self.cur[idx] = masks
        self.known[idx] = True
        return self.hist[idx], self.inbox[idx]


def _contained(a: np.ndarray, la: np.ndarray, b: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """For each box in ``a``: is it inside some box of ``b`` with the same label?"""
    out = np.zeros(a.shape[0], bool)
    if b.shape[0] == 0:
        return out
    for i in range(a.shape[0]):
        same = lb == la[i]
        if not same.any():
            continue
        extra = a[i][None] & ~b[same]  # bins allowed by a but not by b
        out[i] = bool((~extra.any(axis=(1, 2))).any())
    return out


BETWEEN_MAX_LADDER = 8  # error ladders up to 0, 1, 2, 3, 5, 8, 13, 21 get steps in between


def _error_ladder(limit: float) -> list[int]:
    """0, 1, 2, 3, 5, 8, ... (Fibonacci) while below ``limit``."""
    out, a, b = [0], 1, 2
    while a < limit:
        out.append(a)
        a, b = b, a + b
    return out


def interval_candidates(
    codes: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    n_classes: int,
    n_bins: np.ndarray,
    is_cat: np.ndarray,
    budget_rates: tuple[float, ...],
    min_rows: int,
    n_between: int = 3,
) -> Boxes:
    """One-condition boxes: per numeric feature, class and budget rate ``r``, the widest
    interval of bins (missing values excluded) whose ``rows`` hold at least ``min_rows`` rows
    with at most ``floor(r * rows)`` of another class (first such interval on ties).

    Also a nested path from the purest interval to the widest: per error count ``k`` of a
    Fibonacci ladder (0, 1, 2, 3, 5, ...) the widest interval with at most ``k`` rows of another
    class (and within the largest rate), and ``n_between`` intervals between consecutive steps
    (ends moved in equal shares of rows). Growth rows cannot tell these apart; validation rows
    can, so selection may stop where certification still holds on small calibration sets."""
    n_features = codes.shape[1]
    masks, labels, counts = [], [], []
    yr = y[rows].astype(np.int64)
    r_max = max(budget_rates) if budget_rates else 0.0
    ladder = _error_ladder(rows.size * r_max)
    for f in range(n_features):
        nb = int(n_bins[f])
        if is_cat[f] or nb < 2:
            continue
        h = np.bincount(
            codes[rows, f].astype(np.int64) * n_classes + yr, minlength=256 * n_classes
        ).reshape(256, n_classes)[:nb]
        cum = np.vstack([np.zeros((1, n_classes), np.int64), np.cumsum(h, axis=0)])
        tot = cum.sum(axis=1)
        n_in = tot[None, :] - tot[:, None]  # [a, b): rows in bins a..b-1
        for c in range(n_classes):
            k_in = cum[None, :, c] - cum[:, None, c]
            err = n_in - k_in
            found: list[tuple[int, int]] = []
            for r in budget_rates:
                found.append(_widest(n_in, (n_in >= min_rows) & (err <= np.floor(r * n_in))))
            within = (n_in >= min_rows) & (err <= np.floor(r_max * n_in))
            path = [_widest(n_in, within & (err <= k)) for k in ladder]
            path = [p for p in path if p is not None]
            if path:  # below the purest interval: shrink its inner ends (rows kept: 1/2, 3/4)
                a0, b0 = path[0]
                inner = (a0 > 0) + (b0 < nb)
                for share in (0.5, 0.75) if inner else ():
                    cut = (1.0 - share) / inner  # share of the rows taken off each inner end
                    a = _row_share(tot, a0, b0, cut) if a0 > 0 else a0
                    b = _row_share(tot, b0, a0, cut) if b0 < nb else b0
                    if a < b and within[a, b]:
                        found.append((a, b))
            # steps between ladder steps where the ladder is coarse (few error rows allowed)
            between = n_between if len(ladder) <= BETWEEN_MAX_LADDER else 0
            for (a0, b0), (a1, b1) in zip(path[:-1], path[1:], strict=True):
                for t in range(1, between + 1):
                    a = _row_share(tot, a0, a1, t / (between + 1))
                    b = _row_share(tot, b0, b1, t / (between + 1))
                    if a < b and within[a, b]:
                        found.append((a, b))
            found.extend(path)
            for a, b in dict.fromkeys(p for p in found if p is not None):
                m = np.full((n_features, 4), np.uint64(0xFFFFFFFFFFFFFFFF), np.uint64)
                bits = np.zeros(256, np.uint8)
                bits[a:b] = 1
                m[f] = np.packbits(bits, bitorder="little").view(np.uint64)
                masks.append(m)
                labels.append(c)
                counts.append(cum[b] - cum[a])
    if not masks:
        return Boxes.empty(n_features, n_classes)
    return Boxes(np.stack(masks), np.asarray(labels, np.int64), np.stack(counts).astype(np.int64))


def _widest(n_in: np.ndarray, ok: np.ndarray) -> tuple[int, int] | None:
    """``(a, b)`` of the interval with the most rows among ``ok`` (first on ties); None if none."""
    if not ok.any():
        return None
    a, b = np.unravel_index(int(np.argmax(np.where(ok, n_in, -1))), ok.shape)
    return int(a), int(b)


def _row_share(tot: np.ndarray, e0: int, e1: int, t: float) -> int:
    """The bin edge between ``e0`` and ``e1`` at share ``t`` of the rows between them."""
    lo, hi = sorted((e0, e1))
    target = tot[e0] + t * (tot[e1] - tot[e0])
    return int(np.clip(np.searchsorted(tot[lo : hi + 1], target), 0, hi - lo) + lo)


@dataclass
class Generator:
    """Candidate boxes grown on a set of growth rows: trees grown to purity, boxes widened from
    their nodes, one-condition intervals. Holds what stays fixed across calls (the binned data,
    the budgets, the random generator)."""

    codes: np.ndarray  # (n_rows, n_features) uint8 bin codes, column-major
    y: np.ndarray
    n_classes: int
    binner: Binner
    can_full: np.ndarray
    shares: np.ndarray
    cfg: Config
    rng: np.random.Generator
    max_features: int
    min_cand: int
    min_seed: int
    budget_rate: float
    loose_rate: float
    interval_rates: tuple[float, ...]

    def _grow(self, rows: np.ndarray, rate: float) -> tuple[Boxes, Boxes]:
        cfg = self.cfg
        return grow_trees(
            self.codes,
            self.y,
            rows,
            self.n_classes,
            self.binner.n_bins,
            self.binner.is_cat,
            n_trees=cfg.n_trees,
            max_features=self.max_features,
            subsample=cfg.subsample if rows.size > 50 else 1.0,
            min_cand=self.min_cand,
            min_seed=self.min_seed,
            budget_rate=rate,
            max_depth=cfg.max_depth,
            rng=self.rng,
        )

    def run(
        self, rows: np.ndarray, timings: dict[str, float]
    ) -> tuple[Boxes, np.ndarray, dict[str, int]]:
        """Deduplicated candidates whose class counts on ``rows`` keep the purity budget (the
        loose budget for the second set of trees), their counts on ``rows``, which of them are
        past the purity budget, and how many each source gave."""
        cfg, n_classes = self.cfg, self.n_classes
        n_features = self.codes.shape[1]
        nb, is_cat = self.binner.n_bins, self.binner.is_cat
        budget_rate = self.budget_rate
        t = time.perf_counter()
        cands, seeds = self._grow(rows, budget_rate)
        cands, seeds = dedupe(cands), dedupe(seeds)
        loose_rate = budget_rate
        extra = Boxes.concat([], n_features, n_classes)
        if self.loose_rate > budget_rate and rows.size >= cfg.loose_min_rows:
            loose_rate = self.loose_rate
            extra, _ = self._grow(rows, loose_rate)
            extra = dedupe(extra)  # not widened: they start past the purity budget
        timings["trees"] = timings.get("trees", 0.0) + time.perf_counter() - t
        info = {"tree_nodes": len(cands), "seeds": len(seeds), "loose": len(extra)}

        t = time.perf_counter()
        pool = Boxes.concat([cands, seeds], n_features, n_classes)
        if len(pool):
            # the largest boxes (by their counts in the tree that grew them) per class first
            sup = pool.counts[np.arange(len(pool)), pool.labels]
            order = np.lexsort((np.arange(len(pool)), -sup))
            take = _round_robin(pool.labels[order], n_classes, cfg.n_widen)
            widened = widen(
                self.codes,
                self.y,
                rows,
                pool.take(order[take]),
                n_classes,
                nb,
                is_cat,
                self.can_full,
                budget_rate,
                self.shares,
                backoff=cfg.backoff,
                device=cfg.device,
            )
        else:
            widened = pool
        # every candidate counted on all the rows (trees counted their own subsample; widening
        # has counted its boxes on these rows already)
        merged = Boxes.concat([widened, cands, extra], n_features, n_classes)
        keep = first_occurrences(merged)
        allb = merged.take(keep)
        recount = np.flatnonzero(keep >= len(widened))
        if recount.size:
            allb.counts[recount] = count(
                self.codes, self.y, rows, allb.masks[recount], n_classes, self.shares, cfg.device
            )
        timings["widen"] = timings.get("widen", 0.0) + time.perf_counter() - t
        loose = np.zeros(0, bool)
        if len(allb):
            n_all = allb.counts.sum(axis=1)
            err = n_all - allb.counts[np.arange(len(allb)), allb.labels]
            good = np.flatnonzero((n_all >= self.min_cand) & (err <= np.floor(loose_rate * n_all)))
            loose = err[good] > np.floor(budget_rate * n_all[good])
            allb = allb.take(good)
        intervals = interval_candidates(
            self.codes, self.y, rows, n_classes, nb, is_cat, self.interval_rates, self.min_cand
        )
        if len(intervals):
            allb = dedupe(Boxes.concat([allb, intervals], n_features, n_classes))
        # dedupe keeps first occurrences in order: the interval candidates follow, never loose
        loose = np.r_[loose, np.zeros(len(allb) - loose.size, bool)]
        info.update(widened=len(widened), intervals=len(intervals), unique=len(allb))
        return allb, loose, info


def _round_robin(labels: np.ndarray, n_classes: int, limit: int) -> np.ndarray:
    """Positions of up to ``limit`` items, alternating between classes (in the given order)."""
    per = [np.flatnonzero(labels == c) for c in range(n_classes)]
    out = []
    i = 0
    while len(out) < limit and any(i < p.size for p in per):
        for p in per:
            if i < p.size and len(out) < limit:
                out.append(p[i])
        i += 1
    return np.sort(np.asarray(out, np.int64))
