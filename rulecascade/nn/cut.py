"""Cut a torch network after named submodules into stages: input -> exit 1 -> ... -> output.

``nn.Sequential`` models are sliced directly (the stages share the model's submodules); other
modules are traced with ``torch.fx`` and their graph is split at the call of each named
submodule. A cut that a value other than the exit's activation crosses (a skip connection, the
input read again after the cut) is refused with the layer and the value named.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import fx, nn

from .errors import CutError

__all__ = ["CutError", "cut"]


def _check_names(model: nn.Module, exits: Sequence[str]) -> None:
    names = dict(model.named_modules())
    for e in exits:
        if not isinstance(e, str) or not e or e not in names:
            shown = [n for n in names if n][:12]
            more = ", ..." if len(names) > 13 else ""
            raise CutError(
                f"exit {e!r} is not a submodule of {type(model).__name__}; its submodules: "
                f"{', '.join(shown)}{more}"
            )
    if len(set(exits)) != len(exits):
        raise CutError(f"exits must be distinct, got {list(exits)}")


def cut(model: nn.Module, exits: Sequence[str]) -> list[nn.Module]:
    """``len(exits) + 1`` modules: stage 0 maps the input to the activation after ``exits[0]``,
    stage ``k`` maps that of ``exits[k-1]`` to that of ``exits[k]``, the last one to the output."""
    exits = list(exits)
    if not exits:
        raise CutError("exits must name at least one submodule")
    _check_names(model, exits)
    if isinstance(model, nn.Sequential) and all(e in model._modules for e in exits):
        return _cut_sequential(model, exits)
    return _cut_fx(model, exits)


def _cut_sequential(model: nn.Sequential, exits: list[str]) -> list[nn.Module]:
    keys = list(model._modules)
    pos = [keys.index(e) for e in exits]
    if pos != sorted(pos):
        raise CutError(f"exits must follow the order of the layers: {keys}, got {exits}")
    if pos[-1] == len(keys) - 1:
        raise CutError(f"exit {exits[-1]!r} is the last layer: nothing is left to skip")
    bounds = [0, *(p + 1 for p in pos), len(keys)]
    return [
        nn.Sequential(*[model._modules[k] for k in keys[a:b]])
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]


class _Tracer(fx.Tracer):
    """Keeps the exit submodules whole (one call node each), traces through the rest."""

    def __init__(self, leaves: Sequence[str]) -> None:
        super().__init__()
        self.leaves = set(leaves)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return module_qualified_name in self.leaves or super().is_leaf_module(
            m, module_qualified_name
        )


def _trace(model: nn.Module, exits: Sequence[str]) -> fx.GraphModule:
    try:
        tracer = _Tracer(exits)
        graph = tracer.trace(model)
        return fx.GraphModule(tracer.root, graph, class_name=type(model).__name__)
    except Exception as e:  # noqa: BLE001 - fx raises TraceError, TypeError, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CutError(
            f"{type(model).__name__} is not an nn.Sequential and torch.fx cannot trace it "
            f"(data-dependent control flow?): {msg}"
        ) from None


def _exit_node(gm: fx.GraphModule, name: str, model: nn.Module) -> fx.Node:
    calls = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == name]
    if not calls:
        raise CutError(
            f"exit {name!r}: torch.fx traced {type(model).__name__} without a call of this "
            "submodule (it is not used in forward)"
        )
    if len(calls) > 1:
        raise CutError(
            f"exit {name!r} is called {len(calls)} times in forward; cut after a layer run once"
        )
    return calls[0]


def _cut_fx(model: nn.Module, exits: list[str]) -> list[nn.Module]:
    gm = _trace(model, exits)
    nodes = list(gm.graph.nodes)
    order = {n: i for i, n in enumerate(nodes)}
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise CutError(
            f"{type(model).__name__}.forward takes {len(placeholders)} inputs; one is needed"
        )
    cuts = [_exit_node(gm, e, model) for e in exits]
    pos = [order[c] for c in cuts]
    if pos != sorted(pos):
        raise CutError(f"exits must follow the order the layers run in forward, got {exits}")
    output = next(n for n in nodes if n.op == "output")
    if output.args[0] in cuts:
        raise CutError(
            f"exit {exits[cuts.index(output.args[0])]!r} is the output: nothing is left to skip"
        )
    # segment of each computing node: 0 up to the first cut, k after cut k-1 up to cut k
    seg: dict[fx.Node, int] = {}
    k = 0
    for n in nodes:
        if n.op in ("placeholder", "output", "get_attr"):
            continue
        seg[n] = k
        if k < len(cuts) and n is cuts[k]:
            k += 1
    seg[placeholders[0]] = -1
    for n in nodes:
        if n.op in ("placeholder", "output", "get_attr"):
            continue
        s = seg[n]
        for a in n.all_input_nodes:
            if a.op == "get_attr":
                continue
            src = seg[a]
            ok = src == s or (src == s - 1 and (a is cuts[s - 1] if s > 0 else True))
            if s == 0 and src == -1:
                ok = True
            if not ok:
                where = exits[s - 1] if s > 0 else exits[0]
                what = "the input" if src == -1 else f"{a.name!r}"
                raise CutError(
                    f"cannot cut after {where!r}: {n.name!r} (after the cut) reads {what} from "
                    f"before it, not only the activation of {where!r} (a skip connection "
                    "crossing the cut)"
                )
    for a in output.all_input_nodes:
        if a.op != "get_attr" and seg[a] != len(cuts) and a is not cuts[-1]:
            raise CutError(
                f"cannot cut after {exits[-1]!r}: the output reads {a.name!r} from before the cut"
            )
    stages = []
    for s in range(len(cuts) + 1):
        g = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        src = placeholders[0] if s == 0 else cuts[s - 1]
        env[src] = g.placeholder("x")
        for n in nodes:
            if n.op == "get_attr" and any(seg.get(u) == s for u in n.users):
                env[n] = g.node_copy(n, lambda a, env=env: env[a])
            elif seg.get(n) == s and n.op not in ("placeholder", "output", "get_attr"):
                env[n] = g.node_copy(n, lambda a, env=env: env[a])
        g.output(env[cuts[s]] if s < len(cuts) else env[output.args[0]])
        g.lint()
        stages.append(fx.GraphModule(gm, g, class_name=f"Stage{s}"))
    return stages


def stage_device(module: nn.Module) -> torch.device | None:
    """The device of a module's first parameter or buffer (None without any)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return None
