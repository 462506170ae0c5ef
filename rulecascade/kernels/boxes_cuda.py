"""GPU twins (numba.cuda) of the box kernels fit spends its row passes in: ``box_counts``,
``box_margins`` (widening's margin histograms, counted afresh each round) and ``box_bitsets`` of
:mod:`.boxes`, ``bin_columns`` of :mod:`.binning` (rule matching's twin is in :mod:`.match_cuda`).

Same arguments, same results (exact integers, so the rule files a fit writes are the same on
either device). A row is tested by the very function the CPU kernel uses (``box_holds``,
``bin_value``, compiled here as CUDA device functions). Boxes are first
flattened on the CPU into condition arrays (:func:`.boxes.box_conditions`: feature and allowed-bin
table per condition, in the CPU kernels' order).

``box_counts``, ``box_margins`` and ``box_bitsets`` send the codes of the rows they read only
(the last such gather stays on the device while its arrays live). ``box_counts``: one block per
(box, tile of rows); threads add hits into per-block class counters in shared memory, then
into ``out`` with one atomic add per class. ``box_margins``: the same blocks, atomic adds into
the box's margin histogram. ``box_bitsets``: one thread per (box, 64-row word).
``bin_columns``: one thread per value, on chunks of rows gathered on the host (the feature matrix is never copied whole to the device).

``numba.cuda`` is imported on first use only (importing rulecascade never needs CUDA); under
``NUMBA_ENABLE_CUDASIM=1`` the kernels run in numba's simulator, which the tests use.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from .binning import bin_value
from .boxes import box_condition_counts, box_conditions, box_holds
from .dispatch import cuda_simulated

# threads per block (32 in numba's simulator, which runs every thread as a Python thread: the
# results do not depend on it)
THREADS = 32 if cuda_simulated() else 256
TILE_ROWS = THREADS * 32  # rows one block of ``box_counts`` scans for one box
SHARED_CLASSES = 256  # classes counted in shared memory (more: atomics straight into ``out``)
CHUNK_ROWS = 1 << 18  # rows gathered and sent per launch by ``bin_columns``

_lock = threading.Lock()
_kernels: dict[str, Any] = {}
_last: dict[str, Any] = {}  # the last gather (see ``_gather``)


def _none() -> None:  # the "weak reference" of an absent argument
    return None


# numba.cuda and the device functions, bound on first use. Module globals on purpose: the
# kernels read them as globals, and numba's simulator swaps the ``cuda`` a kernel sees through
# the kernel function's globals.
cuda: Any = None
holds: Any = None
bin_one: Any = None
int64: Any = None
uint64: Any = None


def _counts(codes, y, rows, box_start, cond_feature, lut, n_tiles, out):
    b = cuda.blockIdx.x
    k = b // n_tiles
    r0 = (b % n_tiles) * TILE_ROWS
    r1 = r0 + TILE_ROWS
    if r1 > rows.shape[0]:  # (no min(): numba.cuda mis-types it here)
        r1 = rows.shape[0]
    tid = cuda.threadIdx.x
    step = cuda.blockDim.x
    n_classes = out.shape[1]
    shared = n_classes <= SHARED_CLASSES
    sh = cuda.shared.array(SHARED_CLASSES, int64)
    if shared:
        c = tid
        while c < n_classes:
            sh[c] = 0
            c += step
        cuda.syncthreads()
    q0 = box_start[k]
    q1 = box_start[k + 1]
    r = r0 + tid
    while r < r1:
        i = rows[r]
        if holds(codes, i, cond_feature, lut, q0, q1):
            if shared:
                cuda.atomic.add(sh, y[i], 1)
            else:
                cuda.atomic.add(out, (k, y[i]), 1)
        r += step
    if shared:
        cuda.syncthreads()
        c = tid
        while c < n_classes:
            if sh[c] != 0:
                cuda.atomic.add(out, (k, c), sh[c])
            c += step


def _margins(codes, y, rows, box_start, cond_feature, lut, n_tiles, out_hist, out_in):
    b = cuda.blockIdx.x
    k = b // n_tiles
    r = (b % n_tiles) * TILE_ROWS + cuda.threadIdx.x
    r1 = r - cuda.threadIdx.x + TILE_ROWS
    if r1 > rows.shape[0]:
        r1 = rows.shape[0]
    q0 = box_start[k]
    q1 = box_start[k + 1]
    while r < r1:
        i = rows[r]
        n_viol = 0
        vf = -1
        for q in range(q0, q1):
            f = cond_feature[q]
            if lut[q, codes[i, f]] == 0:
                n_viol += 1
                vf = f
                if n_viol >= 2:
                    break
        c = y[i]
        if n_viol == 0:
            cuda.atomic.add(out_in, (k, c), 1)
            for q in range(q0, q1):
                f = cond_feature[q]
                cuda.atomic.add(out_hist, (k, f, codes[i, f], c), 1)
        elif n_viol == 1:
            cuda.atomic.add(out_hist, (k, vf, codes[i, vf], c), 1)
        r += cuda.blockDim.x


def _bitsets(codes, rows, box_start, cond_feature, lut, out):
    g = cuda.grid(1)
    words = out.shape[1]
    if g < out.shape[0] * words:
        k = g // words
        w = g - k * words
        q0 = box_start[k]
        q1 = box_start[k + 1]
        r0 = w * 64
        r1 = r0 + 64
        if r1 > rows.shape[0]:
            r1 = rows.shape[0]
        word = uint64(0)
        for r in range(r0, r1):
            if holds(codes, rows[r], cond_feature, lut, q0, q1):
                word |= uint64(1) << uint64(r - r0)
        out[k, w] = word


def _binning(values, is_cat, edges, n_edges, cat_map, n_cat_map, out):
    g = cuda.grid(1)
    n = values.shape[0]
    if g < n * values.shape[1]:
        j = g // n
        i = g - j * n
        out[i, j] = bin_one(values[i, j], is_cat[j], edges[j], n_edges[j], cat_map[j], n_cat_map[j])


KERNELS = {
    "counts": _counts,
    "margins": _margins,
    "bitsets": _bitsets,
    "binning": _binning,
}


def bind_device_functions() -> None:
    """Bind ``numba.cuda`` and compile the shared row bodies as CUDA device functions."""
    global cuda, holds, bin_one, int64, uint64
    if cuda is None:
        from numba import cuda as _cuda
        from numba import int64 as _int64
        from numba import uint64 as _uint64

        holds = _cuda.jit(device=True)(box_holds)
        bin_one = _cuda.jit(device=True)(bin_value)
        int64, uint64 = _int64, _uint64
        cuda = _cuda


def _kernel(name: str) -> Any:
    with _lock:
        if not _kernels:
            bind_device_functions()
            _kernels.update({k: cuda.jit(f) for k, f in KERNELS.items()})
        return _kernels[name]


def _conditions(masks: np.ndarray, bin_freq: np.ndarray):
    """Device copies of every box's conditions (``box_start``, ``cond_feature``, ``lut``)."""
    masks = np.ascontiguousarray(masks)
    n_conds = np.zeros(masks.shape[0], np.int64)
    box_condition_counts(masks, n_conds)
    box_start = np.zeros(masks.shape[0] + 1, np.int64)
    np.cumsum(n_conds, out=box_start[1:])
    total = int(box_start[-1])
    cond_feature = np.zeros(max(total, 1), np.int64)
    lut = np.zeros((max(total, 1), 256), np.uint8)
    box_conditions(masks, np.ascontiguousarray(bin_freq, np.float64), box_start, cond_feature, lut)
    return tuple(cuda.to_device(a) for a in (box_start, cond_feature, lut))


def _gather(codes: np.ndarray, rows: np.ndarray, y: np.ndarray | None = None) -> list[Any]:
    """Device copies of the codes (Fortran order) and labels of ``rows`` only, and the row
    positions ``0..len(rows)-1`` that index them: a fit's code matrix also holds rows the call
    does not read (certification rows, or the other split).

    The last gather is kept while its arrays live (widening counts the same rows every round):
    it is reused when the call passes the very same array objects (weak references, so a freed
    array's id cannot match; the fit never changes these arrays in place)."""
    key = (codes, rows, y)
    with _lock:
        refs = _last.get("refs")
        if refs is not None and all(r() is a for r, a in zip(refs, key, strict=True)):
            return list(_last["arrays"])
    rows = np.asarray(rows, np.int64)
    sub = _take_rows(codes, rows, np.uint8)
    arrays = [cuda.to_device(sub), cuda.to_device(np.arange(rows.shape[0], dtype=np.int64))]
    if y is not None:
        arrays.append(cuda.to_device(np.ascontiguousarray(np.asarray(y)[rows], np.int32)))
    try:
        refs = tuple(_none if a is None else weakref.ref(a) for a in key)
    except TypeError:  # not weakly referenceable: not kept
        refs = None
    with _lock:
        _last.clear()
        if refs is not None:
            _last.update(refs=refs, arrays=tuple(arrays))
    return arrays


def _take_rows(a: np.ndarray, rows: np.ndarray, dtype: type) -> np.ndarray:
    """``a[rows]`` as a Fortran-order array of ``dtype``, gathered column by column (half the
    host time of fancy indexing the rows and converting the copy)."""
    out = np.empty((rows.shape[0], a.shape[1]), dtype, order="F")
    for j in range(a.shape[1]):
        out[:, j] = a[:, j][rows]
    return out


def box_counts(codes, y, rows, masks, bin_freq, out) -> None:
    """Same contract as :func:`.boxes.box_counts`: ``out[k, c]`` += rows of class ``c``
    (among ``rows``) inside box ``k``."""
    n_boxes, n_rows = masks.shape[0], rows.shape[0]
    if n_boxes == 0 or n_rows == 0:
        return
    kernel = _kernel("counts")
    cond = _conditions(masks, bin_freq)
    d_codes, d_rows, d_y = _gather(codes, rows, y)
    d_out = cuda.to_device(np.zeros((n_boxes, out.shape[1]), np.int64))
    n_tiles = (n_rows + TILE_ROWS - 1) // TILE_ROWS
    kernel[n_boxes * n_tiles, THREADS](d_codes, d_y, d_rows, *cond, n_tiles, d_out)
    out[:n_boxes] += d_out.copy_to_host().astype(out.dtype, copy=False)


def box_margins(codes, y, rows, masks, bin_freq, slots, nv, out_hist, out_in) -> None:
    """Same contract as :func:`.boxes.box_margins` with an empty ``nv`` (shape ``(slots, 0)``:
    no exact violation counts, which only the CPU's incremental widening reads): slot
    ``slots[k]`` of ``out_hist`` / ``out_in`` gets the margins of box ``k``."""
    if nv.shape[1] != 0:
        raise ValueError("box_margins on the GPU gives no exact violation counts (nv)")
    n_boxes, n_rows = masks.shape[0], rows.shape[0]
    if n_boxes == 0:
        return
    slots = np.asarray(slots, np.int64)
    out_hist[slots] = 0
    out_in[slots] = 0
    if n_rows == 0:
        return
    kernel = _kernel("margins")
    cond = _conditions(masks, bin_freq)
    d_codes, d_rows, d_y = _gather(codes, rows, y)
    d_hist = cuda.to_device(np.zeros((n_boxes, *out_hist.shape[1:]), np.int64))
    d_in = cuda.to_device(np.zeros((n_boxes, out_in.shape[1]), np.int64))
    n_tiles = (n_rows + TILE_ROWS - 1) // TILE_ROWS
    kernel[n_boxes * n_tiles, THREADS](d_codes, d_y, d_rows, *cond, n_tiles, d_hist, d_in)
    out_hist[slots] = d_hist.copy_to_host()
    out_in[slots] = d_in.copy_to_host()


def box_bitsets(codes, rows, masks, bin_freq, out_bits) -> None:
    """Same contract as :func:`.boxes.box_bitsets`: ``out_bits[k]`` |= the bitset over
    positions in ``rows`` of the rows inside box ``k``."""
    n_boxes, n_rows = masks.shape[0], rows.shape[0]
    if n_boxes == 0 or n_rows == 0:
        return
    kernel = _kernel("bitsets")
    cond = _conditions(masks, bin_freq)
    d_codes, d_rows = _gather(codes, rows)
    d_out = cuda.device_array((n_boxes, out_bits.shape[1]), np.uint64)
    n_threads = n_boxes * out_bits.shape[1]
    kernel[(n_threads + THREADS - 1) // THREADS, THREADS](d_codes, d_rows, *cond, d_out)
    out_bits[:n_boxes] |= d_out.copy_to_host()


def bin_columns(values, rows, is_cat, edges, n_edges, cat_map, n_cat_map, out) -> None:
    """Same contract as :func:`.binning.bin_columns`: ``out[i, j]`` = the bin of
    ``values[i, j]`` for each row ``i`` in ``rows`` (other rows left as they are)."""
    n_rows, n_features = rows.shape[0], values.shape[1]
    if n_rows == 0 or n_features == 0:
        return
    kernel = _kernel("binning")
    tables = tuple(
        cuda.to_device(np.ascontiguousarray(a))
        for a in (is_cat, edges, n_edges, cat_map, n_cat_map)
    )
    for s in range(0, n_rows, CHUNK_ROWS):
        part = rows[s : s + CHUNK_ROWS]
        d_vals = cuda.to_device(_take_rows(values, part, np.float64))
        d_out = cuda.device_array((part.shape[0], n_features), np.uint8, order="F")
        n_threads = part.shape[0] * n_features
        kernel[(n_threads + THREADS - 1) // THREADS, THREADS](d_vals, *tables, d_out)
        out[part] = d_out.copy_to_host()
