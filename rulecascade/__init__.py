"""rulecascade: pure-region rules that answer the easy inputs before an expensive classifier runs."""

__version__ = "0.1.0"
