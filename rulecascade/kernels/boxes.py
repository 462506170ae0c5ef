"""Box kernels: counts, margin histograms, widening steps, coverage bitsets.

Same conventions as :mod:`rulecascade.kernels.histogram` (uint8 Fortran-order codes, bin 255 =
missing, boxes as 4-word uint64 masks per feature, preallocated outputs). Every kernel is
parallel over boxes and each iteration writes only its own
output slice, so results are exact integers independent of the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .jit import njit

MISSING = 255
ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


@njit(cache=True)
def _constrained(masks, k, feats):
    nf = 0
    for f in range(masks.shape[1]):
        for w in range(4):
            if masks[k, f, w] != ALL_ONES:
                feats[nf] = f
                nf += 1
                break
    return nf


@njit(cache=True)
def _allowed(masks, k, f, b):
    return (masks[k, f, b >> 6] >> np.uint64(b & 63)) & np.uint64(1)


@njit(cache=True)
def _prepare(masks, k, bin_freq, feats, lut):
    """Constrained features of box ``k``, most selective first (by ``bin_freq``, the share of
    rows per bin), and a byte table ``lut[q, b]`` = bin ``b`` allowed by the q-th condition.
    The order only speeds up rejection; it never changes a result."""
    nf = _constrained(masks, k, feats)
    share = np.empty(nf, np.float64)
    for q in range(nf):
        f = feats[q]
        a = 0.0
        for b in range(256):
            if _allowed(masks, k, f, b):
                a += bin_freq[f, b]
        share[q] = a
    order = np.argsort(share, kind="mergesort")
    tmp = feats[:nf].copy()
    for q in range(nf):
        f = tmp[order[q]]
        feats[q] = f
        for b in range(256):
            lut[q, b] = _allowed(masks, k, f, b)
    return nf


def box_holds(codes, i, feats, lut, q0, q1):
    """Whether row ``i`` of ``codes`` satisfies conditions ``q0:q1``: condition ``q`` reads
    feature ``feats[q]`` and allows bin ``b`` when ``lut[q, b]`` is 1.

    Plain Python on purpose: compiled here with ``numba.njit`` and in :mod:`.boxes_cuda` as a
    CUDA device function, so the CPU and GPU kernels test a row with one body."""
    for q in range(q0, q1):
        if lut[q, codes[i, feats[q]]] == 0:
            return False
    return True


_holds = njit(cache=True)(box_holds)


@njit(cache=True)
def box_condition_counts(masks, out):
    """``out[k]``: the number of constrained features (conditions) of box ``k``."""
    feats = np.empty(masks.shape[1], np.int64)
    for k in range(masks.shape[0]):
        out[k] = _constrained(masks, k, feats)


@njit(cache=True, parallel=True)
def box_conditions(masks, bin_freq, box_start, cond_feature, lut):
    """Every box's conditions as flat arrays: box ``k`` owns conditions
    ``box_start[k]:box_start[k + 1]`` (most selective first, as the CPU kernels order them),
    condition ``q`` reads feature ``cond_feature[q]`` and allows bin ``b`` when ``lut[q, b]``."""
    n_features = masks.shape[1]
    for k in prange(masks.shape[0]):
        feats = np.empty(n_features, np.int64)
        own = np.empty((n_features, 256), np.uint8)
        nf = _prepare(masks, k, bin_freq, feats, own)
        s = box_start[k]
        for q in range(nf):
            cond_feature[s + q] = feats[q]
            for b in range(256):
                lut[s + q, b] = own[q, b]


@njit(cache=True, parallel=True)
def box_counts(codes, y, rows, masks, bin_freq, out):
    """``out[k, c]`` += rows of class ``c`` (among ``rows``) inside box ``k``."""
    n_features = codes.shape[1]
    for k in prange(masks.shape[0]):
        feats = np.empty(n_features, np.int64)
        lut = np.empty((n_features, 256), np.uint8)
        nf = _prepare(masks, k, bin_freq, feats, lut)
        for r in range(rows.shape[0]):
            i = rows[r]
            if _holds(codes, i, feats, lut, 0, nf):
                out[k, y[i]] += 1


@njit(cache=True, parallel=True)
def box_margins(codes, y, rows, masks, bin_freq, slots, nv, out_hist, out_in):
    """Class counts per bin of each constrained feature ``f`` of the rows that satisfy every
    condition of box ``k`` except possibly the one on ``f``, into slot ``slots[k]`` (cleared
    first).

    ``out_hist[s, f, b, c]`` (rows inside the box are counted under every constrained feature,
    rows violating only ``f`` under ``f``); ``out_in[s, c]``: rows inside the box. This is what
    widening (relax one side) and simplification (drop one condition) need, in one pass. With
    ``nv`` of shape ``(slots, len(rows))``, ``nv[s, r]`` receives the exact number of conditions
    row ``r`` violates (what :func:`margins_update` starts from); with an empty ``nv`` (shape
    ``(slots, 0)``) a row is dropped at its second violated condition, which is faster.
    """
    n_features = codes.shape[1]
    exact = nv.shape[1] > 0
    for k in prange(masks.shape[0]):
        s = slots[k]
        feats = np.empty(n_features, np.int64)
        lut = np.empty((n_features, 256), np.uint8)
        nf = _prepare(masks, k, bin_freq, feats, lut)
        out_hist[s] = 0
        out_in[s] = 0
        for r in range(rows.shape[0]):
            i = rows[r]
            n_viol = 0
            vf = -1
            for q in range(nf):
                f = feats[q]
                if lut[q, codes[i, f]] == 0:
                    n_viol += 1
                    vf = f
                    if not exact and n_viol >= 2:
                        break
            if exact:
                nv[s, r] = n_viol
            c = y[i]
            if n_viol == 0:
                out_in[s, c] += 1
                for q in range(nf):
                    f = feats[q]
                    out_hist[s, f, codes[i, f], c] += 1
            elif n_viol == 1:
                out_hist[s, vf, codes[i, vf], c] += 1


@njit(cache=True)
def _within(err, n, rate):
    return err <= np.floor(rate * n)


@njit(cache=True, parallel=True)
def widen_step(
    hist, inbox, masks, labels, n_bins, is_cat, can_full, budget_rate, backoff, multi, gains
):
    """Relax each box where its margins allow, keeping its errors within
    ``floor(budget_rate * n)``: widen a numeric interval (up then down, or down then up), add
    categories to a set, or drop a condition altogether (which also admits the rows missing that
    feature; a drop that adds no row is a simplification and is applied too).

    Each feature's best relaxation is computed on its own margin histogram. With ``multi[k]``
    every feature's best relaxation is applied at once (rows outside on several features may
    then enter: the caller checks the result and reverts to single steps if the budget broke);
    otherwise only the one adding the most rows. ``gains[k]``: rows added by the step (0: only
    simplifications), -1 when nothing changed. ``can_full[f]``: whether the full non-missing
    range of ``f`` can be written as a condition (not when the data hold both -inf and +inf).
    ``backoff``: when rows of other classes stop an interval from growing, give back this share
    of the rows it gained on that side (the region next to other classes is where new data errs).
    """
    n_features = masks.shape[1]
    n_classes = inbox.shape[1]
    for k in prange(masks.shape[0]):
        gains[k] = -1
        lab = labels[k]
        n_in = 0
        for c in range(n_classes):
            n_in += inbox[k, c]
        e_in = n_in - inbox[k, lab]
        feats = np.empty(n_features, np.int64)
        nf = _constrained(masks, k, feats)
        tot = np.zeros(256, np.int64)
        err = np.zeros(256, np.int64)
        f_gain = np.full(nf, -1, np.int64)
        f_kind = np.full(nf, -1, np.int64)  # 0 range, 1 drop, 2 category set
        f_lo = np.zeros(nf, np.int64)
        f_hi = np.zeros(nf, np.int64)
        f_set = np.zeros((nf, 4), np.uint64)
        cand_set = np.zeros(4, np.uint64)
        order = np.empty(256, np.int64)
        key = np.empty(256, np.float64)
        for q in range(nf):
            f = feats[q]
            nb = n_bins[f]
            n_all = 0
            e_all = 0
            for b in range(256):
                t = 0
                for c in range(n_classes):
                    t += hist[k, f, b, c]
                tot[b] = t
                err[b] = t - hist[k, f, b, lab]
                n_all += t
                e_all += err[b]
            if is_cat[f]:
                # add categories, purest first, while the box stays within budget
                n_ord = 0
                for b in range(nb):
                    if _allowed(masks, k, f, b) == 0 and tot[b] > 0:
                        order[n_ord] = b
                        key[n_ord] = err[b] / tot[b] - tot[b] * 1e-12
                        n_ord += 1
                if n_ord > 0:
                    idx = np.argsort(key[:n_ord], kind="mergesort")
                    run_n = n_in
                    run_e = e_in
                    cand_set[:] = masks[k, f]
                    g = 0
                    for qq in range(n_ord):
                        b = order[idx[qq]]
                        run_n += tot[b]
                        run_e += err[b]
                        if not _within(run_e, run_n, budget_rate):
                            break
                        cand_set[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
                        g = run_n - n_in
                    if g > 0:
                        f_gain[q] = g
                        f_kind[q] = 2
                        f_set[q] = cand_set
            else:
                lo = -1
                hi = -1
                for b in range(nb):
                    if _allowed(masks, k, f, b):
                        if lo < 0:
                            lo = b
                        hi = b
                if lo >= 0:
                    for first_up in range(2):
                        run_n = n_in
                        run_e = e_in
                        nlo = lo
                        nhi = hi
                        for side in range(2):
                            up = (side == 0) == (first_up == 1)
                            acc_n = run_n
                            acc_e = run_e
                            base_n = run_n
                            base_e = run_e
                            stopped = False
                            if up:
                                start_hi = nhi
                                for b in range(nhi + 1, nb):
                                    acc_n += tot[b]
                                    acc_e += err[b]
                                    if _within(acc_e, acc_n, budget_rate):
                                        if not (nlo == 0 and b == nb - 1 and not can_full[f]):
                                            nhi = b
                                            run_n = acc_n
                                            run_e = acc_e
                                    else:
                                        stopped = True
                                        if budget_rate == 0.0:
                                            break
                                if stopped and backoff > 0.0 and nhi > start_hi:
                                    # stay away from where the other classes begin
                                    keep = (run_n - base_n) * (1.0 - backoff)
                                    run_n = base_n
                                    run_e = base_e
                                    b = start_hi + 1
                                    while b <= nhi and run_n + tot[b] - base_n <= keep:
                                        run_n += tot[b]
                                        run_e += err[b]
                                        b += 1
                                    nhi = b - 1
                            else:
                                start_lo = nlo
                                for b in range(nlo - 1, -1, -1):
                                    acc_n += tot[b]
                                    acc_e += err[b]
                                    if _within(acc_e, acc_n, budget_rate):
                                        if not (b == 0 and nhi == nb - 1 and not can_full[f]):
                                            nlo = b
                                            run_n = acc_n
                                            run_e = acc_e
                                    else:
                                        stopped = True
                                        if budget_rate == 0.0:
                                            break
                                if stopped and backoff > 0.0 and nlo < start_lo:
                                    keep = (run_n - base_n) * (1.0 - backoff)
                                    run_n = base_n
                                    run_e = base_e
                                    b = start_lo - 1
                                    while b >= nlo and run_n + tot[b] - base_n <= keep:
                                        run_n += tot[b]
                                        run_e += err[b]
                                        b -= 1
                                    nlo = b + 1
                        g = run_n - n_in
                        if g > 0 and g > f_gain[q]:
                            f_gain[q] = g
                            f_kind[q] = 0
                            f_lo[q] = nlo
                            f_hi[q] = nhi
            # dropping the condition wins ties: it is the simpler rule
            if _within(e_all, n_all, budget_rate) and n_all - n_in >= f_gain[q]:
                f_gain[q] = n_all - n_in
                f_kind[q] = 1
        best = -1
        for q in range(nf):
            if f_kind[q] >= 0 and (best < 0 or f_gain[q] > f_gain[best]):
                best = q
        if best < 0:
            continue
        total = 0
        changed = False
        for q in range(nf):
            if f_kind[q] < 0:
                continue
            if q != best and not multi[k]:
                continue
            f = feats[q]
            if f_kind[q] == 1:
                for w in range(4):
                    masks[k, f, w] = ALL_ONES
            elif f_kind[q] == 2:
                for w in range(4):
                    masks[k, f, w] = f_set[q, w]
            else:
                for w in range(4):
                    masks[k, f, w] = np.uint64(0)
                for b in range(f_lo[q], f_hi[q] + 1):
                    masks[k, f, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            total += f_gain[q]
            changed = True
        if changed:
            gains[k] = total


@njit(cache=True, parallel=True)
def box_bitsets(codes, rows, masks, bin_freq, out_bits):
    """``out_bits[k]``: bitset over positions in ``rows`` of the rows inside box ``k``."""
    n_features = codes.shape[1]
    for k in prange(masks.shape[0]):
        feats = np.empty(n_features, np.int64)
        lut = np.empty((n_features, 256), np.uint8)
        nf = _prepare(masks, k, bin_freq, feats, lut)
        for r in range(rows.shape[0]):
            i = rows[r]
            if _holds(codes, i, feats, lut, 0, nf):
                out_bits[k, r >> 6] |= np.uint64(1) << np.uint64(r & 63)


@njit(cache=True, parallel=True)
def first_box(codes, masks, out):
    """``out[i]``: index of the first box (in order) containing row ``i``; -1 if none."""
    n_features = codes.shape[1]
    n_boxes = masks.shape[0]
    nfs = np.zeros(n_boxes, np.int64)
    feats = np.empty((n_boxes, n_features), np.int64)
    for k in range(n_boxes):
        nfs[k] = _constrained(masks, k, feats[k])
    for i in prange(codes.shape[0]):
        out[i] = -1
        for k in range(n_boxes):
            ok = True
            for q in range(nfs[k]):
                f = feats[k, q]
                if _allowed(masks, k, f, codes[i, f]) == 0:
                    ok = False
                    break
            if ok:
                out[i] = k
                break


@njit(cache=True, parallel=True)
def margins_update(codes, y, rows, old, new, slots, order, starts, nv, out_hist, out_in):
    """Move the state of box ``k`` (slot ``slots[k]``, made by :func:`box_margins` with exact
    violation counts) from mask ``old[k]`` to mask ``new[k]``, which allows every bin
    ``old[k]`` allows: only the rows in newly allowed bins change, found through
    ``order[f, starts[f, b]:starts[f, b + 1]]`` (the positions in ``rows`` of the rows in bin
    ``b`` of feature ``f``). Gives exactly what :func:`box_margins` gives on ``new[k]``."""
    n_features = codes.shape[1]
    for k in prange(new.shape[0]):
        s = slots[k]
        cur = old[k].copy()
        feats = np.empty(n_features, np.int64)
        for f in range(n_features):
            same = True
            for w in range(4):
                if cur[f, w] != new[k, f, w]:
                    same = False
            if same:
                continue
            added = np.empty(4, np.uint64)
            for w in range(4):
                added[w] = new[k, f, w] & ~cur[f, w]
                cur[f, w] = new[k, f, w]
            # the constrained features of the mask as it now stands
            nf = 0
            for g in range(n_features):
                for w in range(4):
                    if cur[g, w] != ALL_ONES:
                        feats[nf] = g
                        nf += 1
                        break
            for b in range(256):
                if ((added[b >> 6] >> np.uint64(b & 63)) & np.uint64(1)) == 0:
                    continue
                for p in range(starts[f, b], starts[f, b + 1]):
                    r = order[f, p]
                    i = rows[r]
                    c = y[i]
                    before = nv[s, r]
                    if before == 1:  # its one violated condition was f: no longer counted there
                        out_hist[s, f, b, c] -= 1
                    after = before - 1
                    nv[s, r] = after
                    if after == 0:
                        out_in[s, c] += 1
                        for q in range(nf):
                            g = feats[q]
                            out_hist[s, g, codes[i, g], c] += 1
                    elif after == 1:
                        for q in range(nf):
                            g = feats[q]
                            cb = codes[i, g]
                            if ((cur[g, cb >> 6] >> np.uint64(cb & 63)) & np.uint64(1)) == 0:
                                out_hist[s, g, cb, c] += 1
                                break
            unconstrained = True
            for w in range(4):
                if cur[f, w] != ALL_ONES:
                    unconstrained = False
            if unconstrained:  # a dropped condition: its histogram is no longer read
                out_hist[s, f] = 0
