"""Clopper-Pearson bounds against scipy, and the fixed-sequence certification logic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rulecascade.learn.bounds import (
    binomial_pvalue,
    certify,
    error_upper_bound,
    fixed_sequence,
    precision_lower_bound,
    rows_needed,
)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 3000), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_bounds_match_scipy_binomtest(k, n, conf):
    k = min(k, n)
    # a one-sided bound at conf is the matching end of the two-sided interval at 2*conf - 1
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=2 * conf - 1, method="exact")
    assert precision_lower_bound(k, n, conf) == pytest.approx(ci.low, abs=1e-9)
    assert error_upper_bound(k, n, conf) == pytest.approx(ci.high, abs=1e-9)
    lb = float(precision_lower_bound(k, n, conf))
    if 0 < k:  # the bound is where the upper tail probability is 1 - conf
        assert stats.binom.sf(k - 1, n, lb) == pytest.approx(1 - conf, rel=1e-6, abs=1e-12)


def test_bound_edge_cases():
    assert precision_lower_bound(0, 10, 0.95) == 0.0
    assert precision_lower_bound(0, 0, 0.95) == 0.0
    assert error_upper_bound(0, 0, 0.95) == 1.0
    assert error_upper_bound(5, 5, 0.95) == 1.0
    # n clean rows: lower bound (1 - conf)^(1/n)
    assert precision_lower_bound(600, 600, 0.95) == pytest.approx(0.05 ** (1 / 600))
    assert binomial_pvalue(0, 0, 0.01) == 1.0
    assert binomial_pvalue(3, 100, 0.01) == pytest.approx(stats.binom.cdf(3, 100, 0.01))


def test_rows_needed():
    assert rows_needed(0.005, 0.95) == 598  # about ln(20) / 0.005
    assert rows_needed(0.01, 0.95) == 299
    m = rows_needed(0.005, 0.95)
    assert binomial_pvalue(0, m, 0.005) <= 0.05 < binomial_pvalue(0, m - 1, 0.005)


def test_fixed_sequence_stops_at_first_failure():
    p = np.array([0.01, 0.02, 0.2, 0.001, 0.001])
    assert fixed_sequence(p, 0.05) == 2
    assert fixed_sequence(p, 0.05, start=3) == 2
    assert fixed_sequence(p, 0.001) == 0
    both = np.array([[0.01, 0.01], [0.01, 0.5], [0.0, 0.0]])  # intersection-union
    assert fixed_sequence(both, 0.05) == 1


def _rows(per_rule_cov, per_rule_err, labels, extra_uncovered=0, n_classes=2):
    first, y = [], []
    for r, (c, e) in enumerate(zip(per_rule_cov, per_rule_err, strict=True)):
        first += [r] * c
        y += [labels[r]] * (c - e) + [(labels[r] + 1) % n_classes] * e
    first += [-1] * extra_uncovered
    y += [0] * extra_uncovered
    return np.array(first), np.array(y)


def test_certify_keeps_longest_passing_prefix():
    labels = np.array([1, 1, 0, 1])
    # rule 3 is bad: 50 errors in 100 rows
    first, y = _rows([1000, 800, 900, 100], [0, 1, 2, 50], labels, extra_uncovered=500)
    c = certify(first, labels, y, 2, max_error=0.005, confidence=0.95)
    assert c.kept == 3
    assert (c.covered, c.errors, c.rows) == (2700, 3, first.size)
    assert c.error_upper_bound == pytest.approx(float(stats.beta.ppf(0.95, 4, 2697)))
    assert c.error_upper_bound <= 0.005
    assert "prefix 4 failed" in c.reason


def test_certify_fails_with_too_few_rows():
    labels = np.array([1])
    first, y = _rows([500], [0], labels)  # 500 < 598 clean rows needed at 0.005
    c = certify(first, labels, y, 2, max_error=0.005, confidence=0.95)
    assert c.kept == 0 and c.error_upper_bound is None and "no prefix certified" in c.reason
    first, y = _rows([600], [0], labels)
    assert certify(first, labels, y, 2, max_error=0.005, confidence=0.95).kept == 1


def test_certify_start_and_class_caps():
    labels = np.array([0, 0, 1])
    first, y = _rows([300, 2000, 50], [0, 2, 0], labels, extra_uncovered=100)
    # the first prefix alone (300 rows) cannot pass; starting at prefix 2 it does
    assert certify(first, labels, y, 2, 0.005, 0.95, start=1).kept == 0
    assert certify(first, labels, y, 2, 0.005, 0.95, start=2).kept == 3
    # class 1 has 52 rows; 2 answered as class 0 = 3.8%: a 1% cap cannot be certified
    c = certify(first, labels, y, 2, 0.005, 0.95, class_caps=[(1, 0.01)], start=2)
    assert c.kept == 0 and "class 1 cap" in c.reason
    c = certify(first, labels, y, 2, 0.005, 0.95, class_caps=[(1, 0.2)], start=2)
    assert c.kept == 3


def test_certify_no_rules():
    c = certify(np.full(10, -1), np.zeros(0, np.int64), np.zeros(10, np.int64), 2, 0.01, 0.95)
    assert c.kept == 0 and c.covered == 0
