"""Floating-point operations per row: torch stages (``torch.utils.flop_counter``), ONNX graphs
(matrix products and convolutions read from the graph's shapes), rule sets and linear probes.

The conventions agree: a multiply-add counts 2, only matrix products and convolutions count
for the network, so a torch model and its ONNX export have the same counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rules_export import InSet, RuleSet

__all__ = ["probe_flops", "rule_flops", "torch_flops"]


def torch_flops(module: Any, example: Any) -> int:
    """FLOPs ``module`` runs on one row (``example``: a batch of one row)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(example)
    return int(counter.get_total_flops())


def rule_flops(rules: RuleSet) -> int:
    """Comparisons per row to evaluate every rule of ``rules`` (an upper bound: evaluation
    stops at the first matching rule), plus the projection's multiply-adds."""
    n = 0
    for r in rules.rules:
        for c in r.conditions:
            n += 1 if isinstance(c, InSet) else int(c.low is not None) + int(c.high is not None)
    p = rules.projection
    if p is not None and rules.rules:
        n += 2 * len(p.inputs) * len(p.outputs)
    return n


def probe_flops(n_features: int, n_classes: int) -> int:
    """A linear probe on standardized features: scaling, the product, a softmax's maximum."""
    return 2 * n_features + 2 * n_features * n_classes + 3 * n_classes


def count_array_flops(shapes: dict[str, tuple[int, ...]], node: Any, weights: dict) -> int:
    """FLOPs per row of one ONNX node (MatMul, Gemm, Conv); 0 for other operators."""
    op = node.op_type
    if op in ("MatMul", "Gemm"):
        a, b = node.input[0], node.input[1]
        sa, sb = shapes.get(a), shapes.get(b)
        if sa is None or sb is None:
            return 0
        trans_b = any(at.name == "transB" and at.i for at in node.attribute)
        trans_a = any(at.name == "transA" and at.i for at in node.attribute)
        k = sa[0] if trans_a else sa[-1]
        n = sb[-2] if trans_b else sb[-1]
        rows_per = int(np.prod(sa[1:-1])) if len(sa) > 2 else 1
        return 2 * int(k) * int(n) * rows_per
    if op == "Conv":
        out = shapes.get(node.output[0])
        w = shapes.get(node.input[1])
        if out is None or w is None:
            return 0
        return 2 * int(np.prod(out[1:])) * int(np.prod(w[1:]))
    return 0
