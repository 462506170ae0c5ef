"""Learning: the estimator :class:`RuleLearner` and the pipeline behind it.

``estimator`` (RuleLearner: inputs, projections, the rule file), ``config`` (one fit's settings),
``splits`` (growth / validation / certification rows), ``binning`` (quantile bins, uint8 codes),
``candidates`` (randomized histogram trees, box widening, intervals), ``select`` (greedy selection
on coverage bitsets), ``lists`` (rule lists, tails, the second round), ``certification`` and
``bounds`` (Clopper-Pearson, fixed-sequence tests), ``render`` and ``thresholds`` (conditions as
shortest decimals), ``program`` (fit-time matching), ``projection`` (PCA / LDA) and ``pipeline``
(:func:`learn_rules`, the stages in order). The counting runs in ``rulecascade.kernels``.
"""

from .bounds import certify, error_upper_bound, fixed_sequence, precision_lower_bound
from .config import Config
from .estimator import NoRulesWarning, RuleLearner
from .pipeline import learn_rules
from .thresholds import shortest_decimal

__all__ = [
    "Config",
    "NoRulesWarning",
    "RuleLearner",
    "certify",
    "error_upper_bound",
    "fixed_sequence",
    "learn_rules",
    "precision_lower_bound",
    "shortest_decimal",
]
