"""Projection kernels: z_j = sum_i (x_i - mean_i) * w_ji in float64, in blocks of ``block``
inputs each summed left to right, then the block sums left to right (``Projection.blocks``)."""

from __future__ import annotations

from numba import prange

from .jit import njit


def project_row(A, i, in_pos, mean, weights, block, P, j0):
    n = in_pos.shape[0]
    for j in range(weights.shape[0]):
        acc = 0.0
        for start in range(0, n, block):
            part = 0.0
            for k in range(start, min(start + block, n)):
                part = part + (float(A[i, in_pos[k]]) - mean[k]) * weights[j, k]
            acc = acc + part
        P[i, j0 + j] = acc


project_row_jit = njit(cache=True, nogil=True)(project_row)


@njit(parallel=True, cache=True, nogil=True)
def project_parallel(A, in_pos, mean, weights, block, P, j0):
    for i in prange(A.shape[0]):
        project_row_jit(A, i, in_pos, mean, weights, block, P, j0)


@njit(cache=True, nogil=True)
def project_serial(A, in_pos, mean, weights, block, P, j0):
    for i in range(A.shape[0]):
        project_row_jit(A, i, in_pos, mean, weights, block, P, j0)
