"""The learning engine behind :class:`rulecascade.RuleLearner`.

``binning`` (quantile bins, uint8 codes), ``candidates`` (randomized histogram trees, box
widening), ``thresholds`` (shortest decimals), ``bounds`` (Clopper-Pearson, fixed-sequence
certification), ``select`` (greedy selection on coverage bitsets), ``projection`` (PCA for
embeddings) and ``engine`` (the pipeline). The counting runs in ``rulecascade.kernels``.
"""

from .bounds import certify, error_upper_bound, fixed_sequence, precision_lower_bound
from .engine import Config, learn_rules
from .thresholds import shortest_decimal

__all__ = [
    "Config",
    "certify",
    "error_upper_bound",
    "fixed_sequence",
    "learn_rules",
    "precision_lower_bound",
    "shortest_decimal",
]
