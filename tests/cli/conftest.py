"""Fixtures shared by the CLI tests."""

import pytest

from rules_export import Interval, Rule, RuleSet, make_features


@pytest.fixture()
def rules_file(tmp_path):
    """A rule file on one numeric feature ``x``: 1 above 0.5, 0 at or below 0.2."""
    rules = RuleSet(
        make_features(["x"]),
        (0, 1),
        (Rule((Interval("x", low=0.5),), 1), Rule((Interval("x", high=0.2),), 0)),
    )
    path = tmp_path / "rules.json"
    rules.save(path)
    return path
