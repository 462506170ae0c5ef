"""Errors of rulecascade.nn (importable without torch)."""

__all__ = ["CutError"]


class CutError(ValueError):
    """The network cannot be cut after the named submodule or tensor."""
