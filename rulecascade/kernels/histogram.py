"""Histogram kernels: class counts per bin, and randomized histogram trees grown to purity.

Conventions shared by every kernel in this package (so that a GPU twin can take the same
arguments): ``codes`` is an (n_rows, n_features) uint8 matrix in Fortran order, bin 255 meaning
missing; ``y`` holds int32 class indices; ``rows`` is an int64 array of row indices; outputs are
preallocated integer arrays filled by the kernel. A *box* is one 256-bit mask per feature,
``masks[k, f, w]`` (uint64, 4 words): bit ``b`` set = bin ``b`` allowed. A feature whose four
words are all ones is unconstrained (its missing values pass); any other feature is a condition
(its bit 255 is clear, so missing values fail it).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .jit import njit

MISSING = 255
ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)

KIND_CANDIDATE = 0  # node with enough support within the purity budget
KIND_SEED = 1  # pure node too small to be a candidate: a seed for box widening


@njit(cache=True, parallel=True)
def node_histogram(codes, y, rows, features, n_classes, out):
    """``out[q, b, c]`` += rows of class ``c`` in bin ``b`` of feature ``features[q]``.

    Parallel over the requested features: each thread writes its own slice, no races.
    """
    for q in prange(features.shape[0]):
        f = features[q]
        for r in range(rows.shape[0]):
            i = rows[r]
            out[q, codes[i, f], y[i]] += 1


@njit(cache=True)
def _splitmix(state):
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _randint(state, n):
    return np.int64(_splitmix(state) % np.uint64(n))


@njit(cache=True)
def _weighted_gini(cnt, n_classes):
    tot = 0
    sq = 0.0
    for c in range(n_classes):
        tot += cnt[c]
        sq += float(cnt[c]) * float(cnt[c])
    if tot == 0:
        return 0.0
    return tot - sq / tot


@njit(cache=True)
def _set_bits(words, lo, hi):
    """Set bits lo..hi (inclusive) in a 4-word mask."""
    for b in range(lo, hi + 1):
        words[b >> 6] |= np.uint64(1) << np.uint64(b & 63)


@njit(cache=True)
def _has_bit(words, b):
    return (words[b >> 6] >> np.uint64(b & 63)) & np.uint64(1)


@njit(cache=True)
def _grow_tree(
    codes,
    y,
    n_classes,
    n_bins,
    is_cat,
    rows,
    seed,
    max_features,
    min_split,
    max_depth,
    budget_rate,
    min_cand,
    min_seed,
    out_masks,
    out_counts,
    out_kind,
):
    n_features = codes.shape[1]
    max_out = out_masks.shape[0]
    state = np.empty(1, np.uint64)
    state[0] = np.uint64(seed)
    perm = np.arange(n_features)
    max_stack = 2 * max_depth + 4
    st_start = np.empty(max_stack, np.int64)
    st_end = np.empty(max_stack, np.int64)
    st_depth = np.empty(max_stack, np.int64)
    st_mask = np.empty((max_stack, n_features, 4), np.uint64)
    mask = np.empty((n_features, 4), np.uint64)
    hist = np.zeros((256, n_classes), np.int64)
    counts = np.zeros(n_classes, np.int64)
    left = np.zeros(n_classes, np.int64)
    right = np.zeros(n_classes, np.int64)
    best_set = np.zeros(4, np.uint64)
    order = np.empty(256, np.int64)
    key = np.empty(256, np.float64)
    tmp = np.empty(rows.shape[0], np.int64)
    n_out = 0

    st_start[0] = 0
    st_end[0] = rows.shape[0]
    st_depth[0] = 0
    st_mask[0, :, :] = ALL_ONES
    sp = 1
    while sp > 0:
        sp -= 1
        s = st_start[sp]
        e = st_end[sp]
        d = st_depth[sp]
        mask[:, :] = st_mask[sp]
        n = e - s
        if n <= 0:
            continue
        counts[:] = 0
        for r in range(s, e):
            counts[y[rows[r]]] += 1
        lab = 0
        for c in range(1, n_classes):
            if counts[c] > counts[lab]:
                lab = c
        err = n - counts[lab]
        if n >= min_cand and err <= np.floor(budget_rate * n):
            if n_out < max_out:
                out_masks[n_out] = mask
                out_counts[n_out] = counts
                out_kind[n_out] = KIND_CANDIDATE
                n_out += 1
            continue
        if err == 0:
            if n >= min_seed and n_out < max_out:
                out_masks[n_out] = mask
                out_counts[n_out] = counts
                out_kind[n_out] = KIND_SEED
                n_out += 1
            continue
        if n < min_split or d >= max_depth:
            continue
        parent_g = _weighted_gini(counts, n_classes) / n
        best_score = _weighted_gini(counts, n_classes) - 1e-9
        best_f = -1
        m = min(max_features, n_features)
        for k in range(m):
            jj = k + _randint(state, n_features - k)
            t = perm[k]
            perm[k] = perm[jj]
            perm[jj] = t
            f = perm[k]
            nb = n_bins[f]
            if nb <= 1:
                continue
            hist[:, :] = 0
            for r in range(s, e):
                i = rows[r]
                hist[codes[i, f], y[i]] += 1
            n_nan = 0
            for c in range(n_classes):
                n_nan += hist[MISSING, c]
            nan_term = n_nan * parent_g
            if is_cat[f]:
                n_ord = 0
                for b in range(nb):
                    tb = 0
                    for c in range(n_classes):
                        tb += hist[b, c]
                    if tb > 0:
                        order[n_ord] = b
                        key[n_ord] = -hist[b, lab] / tb
                        n_ord += 1
                if n_ord <= 1:
                    continue
                idx = np.argsort(key[:n_ord], kind="mergesort")
                left[:] = 0
                for c in range(n_classes):
                    right[c] = counts[c] - hist[MISSING, c]
                best_q = -1
                for q in range(n_ord - 1):
                    b = order[idx[q]]
                    for c in range(n_classes):
                        left[c] += hist[b, c]
                        right[c] -= hist[b, c]
                    sc = _weighted_gini(left, n_classes) + _weighted_gini(right, n_classes)
                    sc += nan_term
                    if sc < best_score:
                        best_score = sc
                        best_q = q
                if best_q >= 0:
                    best_f = f
                    best_set[:] = 0
                    for q in range(best_q + 1):
                        b = order[idx[q]]
                        best_set[b >> 6] |= np.uint64(1) << np.uint64(b & 63)
            else:
                left[:] = 0
                for c in range(n_classes):
                    right[c] = counts[c] - hist[MISSING, c]
                nl = 0
                n_nonnan = n - n_nan
                best_b = -1
                for b in range(nb - 1):
                    tb = 0
                    for c in range(n_classes):
                        left[c] += hist[b, c]
                        right[c] -= hist[b, c]
                        tb += hist[b, c]
                    nl += tb
                    if tb == 0 or nl == 0 or nl == n_nonnan:
                        continue
                    sc = _weighted_gini(left, n_classes) + _weighted_gini(right, n_classes)
                    sc += nan_term
                    if sc < best_score:
                        best_score = sc
                        best_b = b
                if best_b >= 0:
                    best_f = f
                    best_set[:] = 0
                    _set_bits(best_set, 0, best_b)
        if best_f < 0:
            continue
        # three-way partition: left rows, then right rows; rows missing on best_f leave the tree
        f = best_f
        nl = 0
        nr = 0
        for r in range(s, e):
            i = rows[r]
            b = codes[i, f]
            if b == MISSING:
                continue
            if _has_bit(best_set, b):
                rows[s + nl] = i
                nl += 1
            else:
                tmp[nr] = i
                nr += 1
        for r in range(nr):
            rows[s + nl + r] = tmp[r]
        # children: right pushed first so the left child is processed first
        st_start[sp] = s + nl
        st_end[sp] = s + nl + nr
        st_depth[sp] = d + 1
        st_mask[sp] = mask
        for w in range(4):
            rset = ~best_set[w]
            if w == 3:
                rset &= ~(np.uint64(1) << np.uint64(63))  # bit 255: missing
            st_mask[sp, f, w] = mask[f, w] & rset
        sp += 1
        st_start[sp] = s
        st_end[sp] = s + nl
        st_depth[sp] = d + 1
        st_mask[sp] = mask
        for w in range(4):
            st_mask[sp, f, w] = mask[f, w] & best_set[w]
        sp += 1
    return n_out


@njit(cache=True, parallel=True)
def grow_forest(
    codes,
    y,
    n_classes,
    n_bins,
    is_cat,
    tree_rows,
    tree_n_rows,
    tree_seeds,
    max_features,
    min_split,
    max_depth,
    budget_rate,
    min_cand,
    min_seed,
    out_masks,
    out_counts,
    out_kind,
    out_n,
):
    """Grow one randomized histogram tree per row of ``tree_rows`` (parallel over trees).

    Tree ``t`` is grown on ``tree_rows[t, :tree_n_rows[t]]`` with its own splitmix64 stream
    seeded by ``tree_seeds[t]``; at each node ``max_features`` features are drawn and the split
    minimizing the weighted Gini impurity is taken (categorical bins ordered by the share of the
    node's majority class). Rows missing the split feature leave the tree (no condition can hold
    on a missing value). A node with at least ``min_cand`` rows whose errors (rows not of its
    majority class) are at most ``floor(budget_rate * n)`` is recorded as a candidate and not
    split further; a pure node with at least ``min_seed`` rows is recorded as a seed. Outputs per
    tree: ``out_masks[t, k]`` (box), ``out_counts[t, k]`` (class counts), ``out_kind[t, k]``,
    ``out_n[t]`` (number of records). Each tree writes only its own slices: no races, and the
    result does not depend on the number of threads.
    """
    for t in prange(tree_rows.shape[0]):
        rows = tree_rows[t, : tree_n_rows[t]].copy()
        out_n[t] = _grow_tree(
            codes,
            y,
            n_classes,
            n_bins,
            is_cat,
            rows,
            tree_seeds[t],
            max_features,
            min_split,
            max_depth,
            budget_rate,
            min_cand,
            min_seed,
            out_masks[t],
            out_counts[t],
            out_kind[t],
        )
