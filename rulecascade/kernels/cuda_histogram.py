"""GPU twin of :func:`rulecascade.kernels.histogram.node_histogram` (numba.cuda).

Same arguments, same result: ``out[q, b, c]`` += rows of class ``c`` in bin ``b`` of feature
``features[q]``. One CUDA thread per row adds the row to every requested feature's histogram with
atomic integer additions, so the counts are exact and independent of scheduling. ``numba.cuda``
is imported on first use only (importing rulecascade never needs CUDA); under
``NUMBA_ENABLE_CUDASIM=1`` it runs on the CPU simulator, which the tests use.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

THREADS_PER_BLOCK = 256

_lock = threading.Lock()
_kernel: Any = None
cuda: Any = None  # numba.cuda, bound on first use (module global: the simulator patches it)


def _get_kernel() -> Any:
    global _kernel, cuda
    with _lock:
        if _kernel is None:
            from numba import cuda as _cuda

            cuda = _cuda

            @cuda.jit
            def kernel(codes, y, rows, features, out):
                r = cuda.grid(1)
                if r < rows.shape[0]:
                    i = rows[r]
                    c = y[i]
                    for q in range(features.shape[0]):
                        cuda.atomic.add(out, (q, codes[i, features[q]], c), 1)

            _kernel = kernel
    return _kernel


def available() -> bool:
    """Whether numba.cuda can run here (a GPU, or the simulator)."""
    try:
        from numba import cuda as _cuda

        return bool(_cuda.is_available())
    except Exception:  # noqa: BLE001 - no CUDA toolkit / driver
        return False


def node_histogram(codes, y, rows, features, n_classes, out) -> None:
    """Same contract as the CPU kernel: adds into ``out`` (features, 256, n_classes) int64."""
    if out.shape != (features.shape[0], 256, n_classes) or out.dtype != np.int64:
        raise ValueError("out must be an int64 array of shape (len(features), 256, n_classes)")
    if rows.shape[0] == 0 or features.shape[0] == 0:
        return
    kernel = _get_kernel()
    d_codes = cuda.to_device(np.ascontiguousarray(codes))
    d_y = cuda.to_device(np.ascontiguousarray(y, dtype=np.int32))
    d_rows = cuda.to_device(np.ascontiguousarray(rows, dtype=np.int64))
    d_feat = cuda.to_device(np.ascontiguousarray(features, dtype=np.int64))
    d_out = cuda.to_device(np.ascontiguousarray(out))
    blocks = (rows.shape[0] + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel[blocks, THREADS_PER_BLOCK](d_codes, d_y, d_rows, d_feat, d_out)
    out[...] = d_out.copy_to_host()
