"""End to end: RuleLearner's rule set served by a Cascade in front of a scikit-learn model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rulecascade import Cascade
from rulecascade.evaluate import match
from rules_export.reference import match as reference_match


def test_learned_rules_in_a_cascade_on_breast_cancer():
    learner_mod = pytest.importorskip("rulecascade.learner")
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    fit_rows = test_rows = np.arange(len(X))  # serving is under test here, not generalization
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learner = learner_mod.RuleLearner(max_error=0.05, certify=False, random_state=0)
        learner.fit(X.iloc[fit_rows], y.iloc[fit_rows])
    rules = learner.rules_
    if len(rules) == 0:
        pytest.skip("the learner kept no rule on this split")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X.iloc[fit_rows], y.iloc[fit_rows])

    X_test = X.iloc[test_rows]
    calls = []

    def tail(rows):
        calls.append(rows)
        return model.predict(rows)

    cascade = Cascade(rules, tail)
    pred, rule = cascade.predict(X_test, return_rule=True)
    idx = reference_match(rules, X_test)
    np.testing.assert_array_equal(rule, idx)
    np.testing.assert_array_equal(match(rules, X_test.to_numpy()), idx)  # schema-order array
    labels = np.array([r.label for r in rules.rules])
    np.testing.assert_array_equal(pred[idx >= 0], labels[idx[idx >= 0]])
    np.testing.assert_array_equal(pred[idx < 0], model.predict(X_test[idx < 0]))
    assert pred.dtype == np.int64
    assert len(calls) <= 1 and sum(len(c) for c in calls) == int((idx < 0).sum())
    assert cascade.stats.covered == int((idx >= 0).sum()) > 0
