"""A model whose ``__repr__`` (or name attributes) raise never breaks a Cascade or its errors."""

from __future__ import annotations

import numpy as np
import pytest

from rulecascade import Cascade
from rulecascade.serve.cascade import callable_name
from rules_export import Interval, Rule, RuleSet, make_features


class HostileRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")

    def __call__(self, X):
        return np.zeros(len(X), dtype=np.int64)


class HostileName(HostileRepr):
    @property
    def __self__(self):
        raise ValueError("no owner")


def _rules() -> RuleSet:
    return RuleSet(make_features(["a"]), (0, 1), (Rule((Interval("a", low=0.5),), 1),))


@pytest.mark.parametrize("model", [HostileRepr(), HostileName()])
def test_cascade_with_a_hostile_repr(model):
    cascade = Cascade(_rules(), model)
    assert "HostileRepr object" in repr(cascade) or "HostileName object" in repr(cascade)
    pred = cascade.predict(np.array([[0.9], [0.1]]))
    assert list(pred) == [1, 0]
    assert callable_name(model).endswith(" object>")


def test_not_callable_error_survives_a_hostile_repr():
    class NotCallable:
        def __repr__(self):
            raise RuntimeError("repr exploded")

    with pytest.raises(TypeError, match="NotCallable object"):
        Cascade(_rules(), NotCallable())
    with pytest.raises(TypeError, match="NotCallable object"):
        Cascade(_rules(), HostileRepr(), representation=NotCallable())
