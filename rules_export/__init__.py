"""rules_export: the rule-set format (JSON), its renderings (SQL, Python) and reference semantics.

Light on purpose: stdlib, numpy and sqlglot only; importable without the rulecascade engine.
"""

from .json_io import dumps, load, loads, save
from .model import (
    FORMAT_VERSION,
    Condition,
    Feature,
    Guarantee,
    InSet,
    Interval,
    Projection,
    Rule,
    RuleSet,
    RuleSetError,
    RuleStats,
    make_features,
)
from .reference import InputError, match, predict

__all__ = [
    "FORMAT_VERSION",
    "Condition",
    "Feature",
    "Guarantee",
    "InSet",
    "InputError",
    "Interval",
    "Projection",
    "Rule",
    "RuleSet",
    "RuleSetError",
    "RuleStats",
    "dumps",
    "load",
    "loads",
    "make_features",
    "match",
    "predict",
    "save",
]
