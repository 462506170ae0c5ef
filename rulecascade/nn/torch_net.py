"""A torch network cut into stages, run in eval mode without gradients on the model's device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .cut import cut, stage_device
from .flops import torch_flops

__all__ = ["TorchNetwork"]


class TorchNetwork:
    """Stages of ``model`` cut after ``exits``; inputs are torch tensors or numpy arrays."""

    kind = "torch"

    def __init__(self, model: nn.Module, exits: Sequence[str]) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.exits = tuple(exits)
        self.stages = cut(model, self.exits)
        self.device = stage_device(model) or torch.device("cpu")
        self.dtype = next((p.dtype for p in model.parameters()), torch.float32)
        self.row_shape: tuple[int, ...] | None = None

    # --- state checks ------------------------------------------------------------------------
    def check_ready(self) -> None:
        """Refuse a model in train mode; follow a model moved to another device or dtype."""
        training = [
            n or type(self.model).__name__ for n, m in self.model.named_modules() if m.training
        ]
        if training:
            raise RuntimeError(
                f"the model is in train mode ({training[0]!r}.training is True): dropout and "
                "batch norm would change the answers the exits were certified against; call "
                "model.eval() first"
            )
        dev = stage_device(self.model)
        dtype = next((p.dtype for p in self.model.parameters()), self.dtype)
        if (dev is not None and dev != self.device) or dtype != self.dtype:
            for s in self.stages:  # buffers of a traced graph's root are its own copies
                s.to(device=dev or self.device, dtype=dtype)
            self.device, self.dtype = dev or self.device, dtype

    # --- rows --------------------------------------------------------------------------------
    def as_batch(self, X: Any) -> torch.Tensor:
        """``X`` as a tensor of the model's dtype on its device (numpy floats are cast)."""
        if isinstance(X, np.ndarray):
            if X.dtype.kind != "f":
                raise TypeError(
                    f"X has dtype {X.dtype}; the network takes floating-point rows ({self.dtype})"
                )
            return torch.from_numpy(np.ascontiguousarray(X)).to(self.device, self.dtype)
        if isinstance(X, torch.Tensor):
            if X.dtype != self.dtype:
                raise TypeError(
                    f"X has dtype {X.dtype} but the network's parameters are {self.dtype}; "
                    f"convert it with X.to({self.dtype})"
                )
            return X.to(self.device)
        raise TypeError(f"X must be a torch tensor or a numpy array, got {type(X).__name__}")

    def run(self, k: int, a: torch.Tensor) -> torch.Tensor:
        """Stage ``k`` (0: input to the first exit; last: to the output) on a batch."""
        with torch.inference_mode():
            return self.stages[k](a)

    @staticmethod
    def take(a: torch.Tensor, keep: np.ndarray) -> torch.Tensor:
        return a[torch.from_numpy(np.flatnonzero(keep)).to(a.device)]

    @staticmethod
    def labels(out: torch.Tensor) -> np.ndarray:
        if out.ndim != 2:
            raise ValueError(
                f"the network's output must be (rows, classes), got {tuple(out.shape)}"
            )
        return out.argmax(dim=1).cpu().numpy().astype(np.int64)

    # --- cost --------------------------------------------------------------------------------
    def profile(self, example: torch.Tensor) -> tuple[list[int], list[tuple[int, ...]], int]:
        """FLOPs per row of each stage, the row shape of each exit's activation, the classes."""
        flops, shapes = [], []
        a = example[:1]
        with torch.inference_mode():
            for k, s in enumerate(self.stages):
                flops.append(torch_flops(s, a))
                a = s(a)
                if k < len(self.exits):
                    shapes.append(tuple(a.shape[1:]))
        return flops, shapes, int(a.shape[1])
