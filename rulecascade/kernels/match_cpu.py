"""CPU kernel: index of the first matching rule per row (numba, parallel over rows).

The rule set comes as flat arrays (see ``rulecascade.serve.compile.CompiledRules``):

* ``rule_start[r] .. rule_start[r + 1]``: the conditions of rule ``r``;
* per condition: ``cond_col`` (column of the matrix), ``cond_kind`` (``KIND_RANGE``:
  ``low < x <= high``; ``KIND_UPPER``: ``x <= high``, open low side; ``KIND_SET``: ``x`` is one of
  ``cat_codes[cat_start : cat_start + cat_len]``), ``cond_low``, ``cond_high`` (``+inf`` for an
  open high side).

A second kernel, ``match_cells_*``, answers the same question with a per-feature index (the
QuickScorer idea): each used feature's thresholds are sorted, a value falls into one *cell* (the
number of thresholds below it; for a categorical feature its code; NaN and unseen categories get
cells of their own), and each cell holds a bitset of the rules whose condition on that feature
the cell satisfies (rules without a condition on the feature have every bit set). AND-ing one
bitset per feature leaves the rules that match; the lowest set bit is the first one. Per row it
costs one small search per used feature instead of one test per rule, and it stops as soon as no
rule is left. ``rulecascade.serve.compile`` builds both layouts and picks the cheaper kernel.

Values are compared in float64 (float32 matrices are widened exactly). NaN satisfies no condition;
unseen categories are coded ``-1`` and are never among the allowed codes.

``match_row`` is plain Python on purpose: this module compiles it with ``numba.njit`` and
``match_cuda`` compiles the very same function as a CUDA device function, so both kernels run one
body.
"""

from __future__ import annotations

import numpy as np
from numba import prange
from numba.cpython.unsafe.numbers import trailing_zeros

from .jit import njit

KIND_RANGE = 0
KIND_UPPER = 1
KIND_SET = 2


def match_row(
    M, i, rule_start, cond_col, cond_kind, cond_low, cond_high, cat_start, cat_len, cat_codes
):
    """First rule (index) whose conditions all hold on row ``i`` of ``M``; -1 if none."""
    n_rules = rule_start.shape[0] - 1
    for r in range(n_rules):
        ok = True
        for c in range(rule_start[r], rule_start[r + 1]):
            x = float(M[i, cond_col[c]])
            if x != x:  # NaN (missing) satisfies no condition
                ok = False
                break
            k = cond_kind[c]
            if k == 2:  # KIND_SET
                found = False
                s = cat_start[c]
                for j in range(s, s + cat_len[c]):
                    if x == cat_codes[j]:
                        found = True
                        break
                if not found:
                    ok = False
                    break
            else:
                if not (x <= cond_high[c]):
                    ok = False
                    break
                if k == 0 and not (x > cond_low[c]):  # KIND_RANGE
                    ok = False
                    break
        if ok:
            return r
    return -1


_match_row = njit(cache=True, nogil=True)(match_row)


@njit(parallel=True, cache=True, nogil=True)
def match_parallel(
    M, rule_start, cond_col, cond_kind, cond_low, cond_high, cat_start, cat_len, cat_codes, out
):
    """Fill ``out`` (int64, one per row) with the first matching rule; return the covered count."""
    covered = 0
    for i in prange(M.shape[0]):
        r = _match_row(
            M,
            i,
            rule_start,
            cond_col,
            cond_kind,
            cond_low,
            cond_high,
            cat_start,
            cat_len,
            cat_codes,
        )
        out[i] = r
        if r >= 0:
            covered += 1
    return covered


@njit(cache=True, nogil=True)
def match_serial(
    M, rule_start, cond_col, cond_kind, cond_low, cond_high, cat_start, cat_len, cat_codes, out
):
    """Single-threaded twin of :func:`match_parallel` (small batches, concurrent callers)."""
    covered = 0
    for i in range(M.shape[0]):
        r = _match_row(
            M,
            i,
            rule_start,
            cond_col,
            cond_kind,
            cond_low,
            cond_high,
            cat_start,
            cat_len,
            cat_codes,
        )
        out[i] = r
        if r >= 0:
            covered += 1
    return covered


@njit(parallel=True, cache=True, nogil=True)
def match_rows(
    M,
    rows,
    rule_start,
    cond_col,
    cond_kind,
    cond_low,
    cond_high,
    cat_start,
    cat_len,
    cat_codes,
    out,
):
    """``out[j]``: the first rule matching row ``rows[j]`` of ``M`` (read in place, not copied),
    -1 if none: the rows of a fit's held-out splits, matched by the serving kernel's row body."""
    for j in prange(rows.shape[0]):
        out[j] = _match_row(
            M,
            rows[j],
            rule_start,
            cond_col,
            cond_kind,
            cond_low,
            cond_high,
            cat_start,
            cat_len,
            cat_codes,
        )


# --- the cell / bitset kernel ------------------------------------------------------------------

# The kernels take their tables as separate array arguments, repeated in each parallel/serial
# twin, on purpose: as separate arguments the compiler treats the arrays as distinct, so the
# loops vectorise (packed into one tuple argument they do not).
CELLS_CHUNK = 512  # rows per block: the block's values, cells and bitsets stay in L1
LINEAR_SEARCH_MAX = 96  # up to this many thresholds a vectorized count beats bisection


@njit(cache=True, nogil=True, inline="always")
def _bucket(x, lo, scale, top, start):
    """Index of ``x``'s bucket in a feature's table (see ``rulecascade.serve.compile._buckets``):
    ``start + int(clip((x - lo) * scale, 0, top))``, the same float64 operations the table was
    built with; NaN lands in bucket 0 (callers replace its answer)."""
    v = (x - lo) * scale
    v = v if v > 0.0 else 0.0
    v = v if v < top else top
    return start + int(v)


# inlined into both twins: the compiler then sees the block buffers are distinct from the input
# and output
@njit(cache=True, nogil=True, inline="always")
def _cells_block(
    M,
    i0,
    i1,
    f_col,
    f_kind,
    f_thr_start,
    f_thr_len,
    f_tab_start,
    thr,
    tab,
    W,
    f_bucket,
    f_blo,
    f_bscale,
    f_btop,
    b_cell,
    b_thr,
    buf,
    cell,
    acc,
    out,
):
    """First matching rule of rows ``i0 .. i1-1`` by AND-ing one rule bitset per feature.

    Numeric feature with sorted thresholds ``t[0..K-1]``: the cell of ``x`` is ``#{t < x}``, and
    ``low < x <= high`` with ``low = t[a]``, ``high = t[b]`` holds exactly for cells ``a+1 .. b``
    (comparisons in float64, so +/-inf land in cells ``K`` / ``0``). Categorical feature with
    ``K`` categories: the cell is the code, ``K`` holds unseen values. Cell ``K + 1`` is NaN.
    A numeric feature with a bucket table (``f_bucket[f] >= 0``, see
    ``rulecascade.serve.compile._buckets``) finds its cell with one affine map and one comparison,
    ``b_cell[o] + (b_thr[o] < x)`` with ``o = f_bucket[f] + int(clip((x - lo) * scale, 0, top))``;
    others count the thresholds below (few) or bisect (many).
    Work goes feature by feature over the block (vectorizable loops); returns the covered count.
    """
    B = i1 - i0
    bf = buf[:B]
    for f in range(f_col.shape[0]):
        col = f_col[f]
        K = f_thr_len[f]
        s = f_thr_start[f]
        base = f_tab_start[f]
        for j in range(B):
            bf[j] = float(M[i0 + j, col])
        if f_kind[f] == 0 and f_bucket[f] >= 0:
            lo = f_blo[f]
            scale = f_bscale[f]
            top = f_btop[f]
            s0 = f_bucket[f]
            for j in range(B):
                x = bf[j]
                o = _bucket(x, lo, scale, top, s0)  # NaN: its cell is replaced below
                cell[j] = b_cell[o] + (1 if b_thr[o] < x else 0)
        elif f_kind[f] == 0:
            if K <= LINEAR_SEARCH_MAX:
                for j in range(B):
                    cell[j] = 0
                for k in range(s, s + K):
                    t = thr[k]
                    for j in range(B):
                        cell[j] += t < bf[j]
            else:
                for j in range(B):
                    x = bf[j]
                    lo = 0
                    hi = K
                    while lo < hi:
                        mid = (lo + hi) >> 1
                        if thr[s + mid] < x:
                            lo = mid + 1
                        else:
                            hi = mid
                    cell[j] = lo
        else:
            for j in range(B):
                x = bf[j]
                cell[j] = int(x) if (x >= 0.0 and x < K) else K
        alive = np.uint64(0)
        nan_cell = K + 1  # NaN (missing) satisfies no condition: a cell of its own
        if W == 1:
            if f == 0:
                for j in range(B):
                    v = tab[base + (nan_cell if bf[j] != bf[j] else cell[j])]
                    acc[j] = v
                    alive |= v
            else:
                for j in range(B):
                    v = acc[j] & tab[base + (nan_cell if bf[j] != bf[j] else cell[j])]
                    acc[j] = v
                    alive |= v
        else:  # word-major bitsets (``acc[w * B + j]``): contiguous loops over the block
            for j in range(B):
                cell[j] = base + (nan_cell if bf[j] != bf[j] else cell[j]) * W
            for w in range(W):
                a = acc[w * B : w * B + B]
                if f == 0:
                    for j in range(B):
                        v = tab[cell[j] + w]
                        a[j] = v
                        alive |= v
                else:
                    for j in range(B):
                        v = a[j] & tab[cell[j] + w]
                        a[j] = v
                        alive |= v
        if alive == 0:  # no rule can match any row of the block
            for j in range(B):
                out[i0 + j] = -1
            return 0
    covered = 0
    if W == 1:
        for j in range(B):
            v = acc[j]
            r = trailing_zeros(v) if v != 0 else -1
            out[i0 + j] = r
            covered += 1 if v != 0 else 0
        return covered
    for j in range(B):
        r = -1
        for w in range(W):
            v = acc[w * B + j]
            if v != 0:
                r = w * 64 + trailing_zeros(v)
                break
        out[i0 + j] = r
        if r >= 0:
            covered += 1
    return covered


@njit(parallel=True, cache=True, nogil=True)
def match_cells_parallel(
    M,
    f_col,
    f_kind,
    f_thr_start,
    f_thr_len,
    f_tab_start,
    thr,
    tab,
    n_words,
    f_bucket,
    f_blo,
    f_bscale,
    f_btop,
    b_cell,
    b_thr,
    out,
):
    """Cell/bitset twin of :func:`match_parallel` (same output, same covered count)."""
    n = M.shape[0]
    B = CELLS_CHUNK
    n_blocks = (n + B - 1) // B
    covered = 0
    for b in prange(n_blocks):
        buf = np.empty(B, dtype=np.float64)
        cell = np.empty(B, dtype=np.int64)
        acc = np.empty(B * n_words, dtype=np.uint64)
        i0 = b * B
        covered += _cells_block(
            M,
            i0,
            min(n, i0 + B),
            f_col,
            f_kind,
            f_thr_start,
            f_thr_len,
            f_tab_start,
            thr,
            tab,
            n_words,
            f_bucket,
            f_blo,
            f_bscale,
            f_btop,
            b_cell,
            b_thr,
            buf,
            cell,
            acc,
            out,
        )
    return covered


@njit(cache=True, nogil=True)
def match_cells_serial(
    M,
    f_col,
    f_kind,
    f_thr_start,
    f_thr_len,
    f_tab_start,
    thr,
    tab,
    n_words,
    f_bucket,
    f_blo,
    f_bscale,
    f_btop,
    b_cell,
    b_thr,
    out,
):
    n = M.shape[0]
    B = CELLS_CHUNK
    buf = np.empty(B, dtype=np.float64)
    cell = np.empty(B, dtype=np.int64)
    acc = np.empty(B * n_words, dtype=np.uint64)
    covered = 0
    for i0 in range(0, n, B):
        covered += _cells_block(
            M,
            i0,
            min(n, i0 + B),
            f_col,
            f_kind,
            f_thr_start,
            f_thr_len,
            f_tab_start,
            thr,
            tab,
            n_words,
            f_bucket,
            f_blo,
            f_bscale,
            f_btop,
            b_cell,
            b_thr,
            buf,
            cell,
            acc,
            out,
        )
    return covered


__all__ = [
    "match_rows",
    "KIND_RANGE",
    "KIND_SET",
    "KIND_UPPER",
    "match_buckets_parallel",
    "match_buckets_serial",
    "match_cells_parallel",
    "match_cells_serial",
    "match_parallel",
    "match_row",
    "match_serial",
]


# --- the bucket kernel (one bitset word; numeric features with bucket tables, categoricals) ----

BUCKETS_CHUNK = 1024  # rows per block: the block's used columns (n_f x 8 KiB) stay in L1/L2


@njit(parallel=True, cache=True, nogil=True)
def match_buckets_parallel(M, f_col, f_lo, f_scale, f_top, f_start, f_nan, b_thr, b_pair, out):
    """Specialised twin of :func:`match_cells_parallel` for at most 64 rules on numeric features
    whose thresholds fit a bucket table (``rulecascade.serve.compile._buckets``).

    Per row and feature: ``bucket = int(clip((x - lo) * scale, 0, top))`` never decreases as ``x``
    grows and a bucket holds at most one threshold, so one comparison with it,
    ``b_thr[f_start[f] + bucket]``, picks between the bucket's two rule bitsets
    (``b_pair[2 * (f_start[f] + bucket) + above]``); NaN takes ``f_nan[f]`` (the rules without a
    condition on the feature). Blocks of rows are worked feature by feature on a copy of the
    block's used columns: branch-free loops over contiguous values that the compiler vectorises,
    whatever the layout of ``M``."""
    n = M.shape[0]
    B = BUCKETS_CHUNK
    covered = 0
    for blk in prange((n + B - 1) // B):
        buf = np.empty((f_col.shape[0], B), np.float64)
        acc = np.empty(B, np.uint64)
        covered += _bucket_block(
            M,
            blk * B,
            min(n, blk * B + B),
            f_col,
            f_lo,
            f_scale,
            f_top,
            f_start,
            f_nan,
            b_thr,
            b_pair,
            buf,
            acc,
            out,
        )
    return covered


@njit(cache=True, nogil=True)
def match_buckets_serial(M, f_col, f_lo, f_scale, f_top, f_start, f_nan, b_thr, b_pair, out):
    """Single-threaded twin of :func:`match_buckets_parallel`."""
    n = M.shape[0]
    B = BUCKETS_CHUNK
    buf = np.empty((f_col.shape[0], B), np.float64)
    acc = np.empty(B, np.uint64)
    covered = 0
    for i0 in range(0, n, B):
        covered += _bucket_block(
            M,
            i0,
            min(n, i0 + B),
            f_col,
            f_lo,
            f_scale,
            f_top,
            f_start,
            f_nan,
            b_thr,
            b_pair,
            buf,
            acc,
            out,
        )
    return covered


@njit(cache=True, nogil=True, inline="always")
def _bucket_block(
    M, i0, i1, f_col, f_lo, f_scale, f_top, f_start, f_nan, b_thr, b_pair, buf, acc, out
):
    """Rows ``i0 .. i1-1`` (at most ``buf.shape[1]``); returns the covered count."""
    m = i1 - i0
    n_f = f_col.shape[0]
    for f in range(n_f):  # the used columns, one contiguous row of ``buf`` each
        c = f_col[f]
        for r in range(m):
            buf[f, r] = M[i0 + r, c]
    for r in range(m):
        acc[r] = ~np.uint64(0)
    for f in range(n_f):
        lo = f_lo[f]
        scale = f_scale[f]
        top = f_top[f]
        s0 = f_start[f]
        nan_bits = f_nan[f]
        for r in range(m):
            x = buf[f, r]
            o = _bucket(x, lo, scale, top, s0)  # NaN: its bits are replaced below
            w = b_pair[2 * o + (1 if b_thr[o] < x else 0)]
            acc[r] &= w if x == x else nan_bits
    covered = 0
    for r in range(m):
        a = acc[r]
        out[i0 + r] = trailing_zeros(a) if a != 0 else -1
        covered += 1 if a != 0 else 0
    return covered
