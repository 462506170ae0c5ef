"""GPU twin of ``match_cpu``: one CUDA thread per row, the same flat arrays, the same row body.

``numba.cuda`` is imported on first use only, so importing rulecascade never needs CUDA. The row
logic is ``match_cpu.match_row`` compiled as a device function, so both kernels share one body.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .match_cpu import match_row

THREADS_PER_BLOCK = 256

_lock = threading.Lock()
_kernel: Any = None
# numba.cuda, bound on first use. A module global (not a local) on purpose: numba's simulator
# swaps the ``cuda`` a kernel sees through the kernel function's globals.
cuda: Any = None


def _get_kernel() -> Any:
    global _kernel, cuda
    with _lock:
        if _kernel is None:
            from numba import cuda as _cuda

            cuda = _cuda
            row = cuda.jit(device=True)(match_row)

            @cuda.jit
            def kernel(
                M,
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
                i = cuda.grid(1)
                if i < M.shape[0]:
                    out[i] = row(
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

            _kernel = kernel
        return _kernel


def to_device(arrays: tuple[np.ndarray, ...]) -> tuple[Any, ...]:
    """Copy the rule arrays to the GPU (done once per compiled rule set)."""
    from numba import cuda as _cuda

    return tuple(_cuda.to_device(np.ascontiguousarray(a)) for a in arrays)


def match_cuda(M: Any, rule_arrays: tuple[Any, ...]) -> np.ndarray:
    """First matching rule per row of ``M`` (host array or CUDA array), computed on the GPU.

    ``rule_arrays`` are the eight flat arrays in kernel order (host or device); returns a host
    int64 array.
    """
    n = int(M.shape[0])
    out_host = np.empty(n, dtype=np.int64)
    if n == 0:
        return out_host
    kernel = _get_kernel()
    d_M = cuda.to_device(np.asfortranarray(M)) if isinstance(M, np.ndarray) else M
    d_out = cuda.device_array(n, dtype=np.int64)
    blocks = (n + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel[blocks, THREADS_PER_BLOCK](d_M, *rule_arrays, d_out)
    d_out.copy_to_host(out_host)
    return out_host


CHUNK_ROWS = 1 << 18  # rows gathered and sent per launch by ``match_rows``


def match_rows(M: np.ndarray, rows: np.ndarray, *arrays_and_out: np.ndarray) -> None:
    """Same contract as :func:`.match_cpu.match_rows` (the eight rule arrays, then ``out``): the
    rows are gathered in chunks, sent to the GPU and matched by the serving kernel."""
    *arrays, out = arrays_and_out
    if rows.shape[0] == 0:
        return
    d_arrays = to_device(tuple(arrays))
    for s in range(0, rows.shape[0], CHUNK_ROWS):
        part = rows[s : s + CHUNK_ROWS]
        out[s : s + part.shape[0]] = match_cuda(np.asfortranarray(M[part], np.float64), d_arrays)
