"""rules_export: the rule-set format (JSON), its renderings (SQL, Python) and reference semantics.

Light on purpose: stdlib, numpy and sqlglot only; importable without the rulecascade engine.
sqlglot is imported on first use of the SQL functions.
"""

from typing import Any

from .json_io import dumps, load, loads, save
from .model import (
    FORMAT_VERSION,
    Condition,
    Feature,
    FeatureSummary,
    Guarantee,
    InSet,
    Interval,
    Projection,
    Rule,
    RuleSet,
    RuleSetError,
    RuleStats,
    make_features,
    required_format_version,
)
from .python_src import to_python
from .reference import InputError, match, predict

__all__ = [
    "FORMAT_VERSION",
    "Condition",
    "Feature",
    "FeatureSummary",
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
    "required_format_version",
    "label_expression",
    "load",
    "loads",
    "make_features",
    "match",
    "predict",
    "rule_id_expression",
    "save",
    "select_expression",
    "to_python",
    "to_sql",
]


_SQL_NAMES = ("label_expression", "rule_id_expression", "select_expression", "to_sql")


def __getattr__(name: str) -> Any:
    if name in _SQL_NAMES:
        from . import sql

        return getattr(sql, name)
    raise AttributeError(f"module 'rules_export' has no attribute {name!r}")
