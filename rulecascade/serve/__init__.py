"""Serving: a rule set compiled once to flat arrays (``CompiledRules``), evaluated by the numba
(or CUDA) kernels, and the ``Cascade`` runtime that answers covered rows and calls the model on
the rest, locally or on Spark through Arrow batches (``apply_in_spark``, imported on use)."""

from .cascade import Cascade, CascadeError, CascadeStats
from .compile import CompiledRules, compile_rules
from .evaluate import evaluate, match

__all__ = [
    "Cascade",
    "CascadeError",
    "CascadeStats",
    "CompiledRules",
    "compile_rules",
    "evaluate",
    "match",
]
