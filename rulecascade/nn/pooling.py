"""Pooled features of an activation: per-channel mean and max of a convolution map, a vector as is.

The torch and numpy versions give the same columns in the same order (all means, then all maxes),
so rules fitted on activations of a torch model read those of its ONNX export.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

__all__ = ["feature_names", "pool", "pool_flops"]


def _prefix(exit_name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", exit_name).strip("_") or "exit"


def feature_names(exit_name: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    """Column names of the pooled features of one row's activation of shape ``shape``."""
    p = _prefix(exit_name)
    if len(shape) == 1:
        return tuple(f"{p}_{j}" for j in range(shape[0]))
    c = shape[0]
    return tuple(f"{p}_mean{j}" for j in range(c)) + tuple(f"{p}_max{j}" for j in range(c))


def pool_flops(shape: tuple[int, ...]) -> int:
    """Operations per row to pool an activation of row shape ``shape`` (sum and max per value)."""
    if len(shape) == 1:
        return 0
    return 2 * int(np.prod(shape))


def pool(a: Any) -> np.ndarray:
    """(n, d) float64 pooled features of a batch of activations (torch tensor or numpy array)."""
    if isinstance(a, np.ndarray):
        if a.ndim == 2:
            return a.astype(np.float64)
        if a.ndim < 2:
            raise ValueError(f"an activation needs a batch axis and features, got shape {a.shape}")
        flat = a.reshape(a.shape[0], a.shape[1], -1)
        return np.concatenate([flat.mean(axis=2), flat.max(axis=2)], axis=1).astype(np.float64)
    import torch

    if a.ndim < 2:
        raise ValueError(
            f"an activation needs a batch axis and features, got shape {tuple(a.shape)}"
        )
    if a.ndim == 2:
        z = a
    else:
        flat = a.flatten(2)
        z = torch.cat([flat.mean(dim=2), flat.amax(dim=2)], dim=1)
    return z.detach().to("cpu", torch.float64).numpy()
