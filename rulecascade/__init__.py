"""rulecascade: pure-region rules that answer the easy inputs before an expensive classifier runs."""

__version__ = "0.1.0"

_LAZY = {"RuleLearner": "learn.estimator", "NoRulesWarning": "learn.estimator"}
_LAZY.update(  # serving: fast rule evaluation and the cascade runtime
    {
        "Cascade": "serve.cascade",
        "CascadeError": "serve.cascade",
        "CascadeStats": "serve.cascade",
        "CompiledRules": "serve.compile",
        "compile_rules": "serve.compile",
        "match": "serve.evaluate",
        "apply_in_spark": "serve.spark",
        "warmup": "serve.warmup",
    }
)
_LAZY.update(  # audit and comparison of rule sets
    {
        "AuditReport": "audit.report",
        "audit_sql": "audit.sql",
        "diff": "audit.diff",
    }
)

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    """Import heavy parts (scikit-learn, numba) only when they are used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
