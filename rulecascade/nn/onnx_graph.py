"""An ONNX model cut at named tensors, each part an onnxruntime session; FLOPs from the graph."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import CutError
from .flops import count_array_flops

__all__ = ["OnnxNetwork"]

_NP_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}


def _dims(t: Any) -> tuple[int, ...]:
    return tuple(
        d.dim_value if d.HasField("dim_value") else 1 for d in t.type.tensor_type.shape.dim
    )


class OnnxNetwork:
    """Parts of an ONNX graph: input -> exit tensor 1 -> ... -> the first output."""

    kind = "onnx"

    def __init__(self, model: Any, exits: Sequence[str], providers: Sequence[str] | None = None):
        import onnx
        import onnxruntime as ort

        if isinstance(model, (str, os.PathLike)):
            if not os.path.exists(model):
                raise FileNotFoundError(f"ONNX model {os.fspath(model)!r} does not exist")
            model = onnx.load(os.fspath(model))
        if not isinstance(model, onnx.ModelProto):
            raise TypeError(
                f"model must be an ONNX file path or ModelProto, got {type(model).__name__}"
            )
        self.exits = tuple(exits)
        if not self.exits:
            raise CutError("exits must name at least one tensor")
        model = onnx.shape_inference.infer_shapes(model)
        g = model.graph
        inits = {t.name: tuple(t.dims) for t in g.initializer}
        inputs = [i for i in g.input if i.name not in inits]
        if len(inputs) != 1:
            raise CutError(f"the ONNX graph takes {len(inputs)} inputs; one is needed")
        self.input_name = inputs[0].name
        self.output_name = g.output[0].name
        elem = inputs[0].type.tensor_type.elem_type
        self.dtype = np.dtype(_NP_TYPES.get(elem, np.float32))
        self.row_shape: tuple[int, ...] | None = _dims(inputs[0])[1:]
        producers = {o: n for n in g.node for o in n.output}
        for e in self.exits:
            if e not in producers:
                names = [o for n in g.node for o in n.output][:10]
                raise CutError(
                    f"exit {e!r} is not a tensor of the ONNX graph; its tensors include: "
                    f"{', '.join(names)}"
                )
            if e == self.output_name:
                raise CutError(f"exit {e!r} is the output: nothing is left to skip")
        if len(set(self.exits)) != len(self.exits):
            raise CutError(f"exits must be distinct, got {list(self.exits)}")
        shapes = {v.name: _dims(v) for v in [*g.value_info, *g.input, *g.output]}
        shapes.update(inits)
        bounds = [self.input_name, *self.exits, self.output_name]
        extractor = onnx.utils.Extractor(model)
        self.sessions, self.flops, seen = [], [], set()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        for k in range(len(bounds) - 1):
            src, dst = bounds[k], bounds[k + 1]
            nodes = self._segment(producers, inits, src, dst, seen, k)
            seen |= {id(n) for n in nodes}
            part = extractor.extract_model([src], [dst])
            self.sessions.append(
                ort.InferenceSession(
                    part.SerializeToString(),
                    opts,
                    providers=list(providers or ["CPUExecutionProvider"]),
                )
            )
            self.flops.append(sum(count_array_flops(shapes, n, inits) for n in nodes))
        self.exit_shapes = [shapes[e][1:] for e in self.exits]
        self.n_classes = int(shapes[self.output_name][-1])

    def _segment(self, producers, inits, src, dst, seen, k) -> list[Any]:
        """Nodes computing ``dst`` from ``src``; a cut crossed by another value is refused."""
        out, stack, visited = [], [dst], set()
        while stack:
            t = stack.pop()
            if t == src or t in visited or t in inits or t == "":
                continue
            visited.add(t)
            node = producers.get(t)
            if node is None or (id(node) in seen and any(node.input)):
                where = self.exits[k - 1] if k > 0 else dst
                raise CutError(
                    f"cannot cut at {where!r}: the part computing {dst!r} reads {t!r} from "
                    "before the cut, not only the exit tensor (a skip connection crossing it)"
                )
            out.append(node)
            stack.extend(node.input)
        return out

    def check_ready(self) -> None:
        """Nothing to check: an ONNX session has no train mode and a fixed device."""

    def as_batch(self, X: Any) -> np.ndarray:
        if hasattr(X, "detach") and hasattr(X, "cpu"):
            X = X.detach().cpu().numpy()
        if not isinstance(X, np.ndarray):
            raise TypeError(f"X must be a numpy array (or torch tensor), got {type(X).__name__}")
        if X.dtype.kind != "f":
            raise TypeError(
                f"X has dtype {X.dtype}; the network takes floating-point rows ({self.dtype})"
            )
        return np.ascontiguousarray(X, dtype=self.dtype)

    def run(self, k: int, a: np.ndarray) -> np.ndarray:
        s = self.sessions[k]
        return s.run(None, {s.get_inputs()[0].name: a})[0]

    @staticmethod
    def take(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return a[keep]

    @staticmethod
    def labels(out: np.ndarray) -> np.ndarray:
        if out.ndim != 2:
            raise ValueError(f"the network's output must be (rows, classes), got {out.shape}")
        return out.argmax(axis=1).astype(np.int64)

    def profile(self, example: np.ndarray) -> tuple[list[int], list[tuple[int, ...]], int]:
        return list(self.flops), [tuple(s) for s in self.exit_shapes], self.n_classes
