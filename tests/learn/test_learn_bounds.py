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


def _one_rule_list(name: str, first: np.ndarray, yc: np.ndarray) -> dict:
    """A rendered one-rule list (label 0) for ``_certify_lists``: ``first`` is its first-rule
    array on validation rows and on certification rows alike."""
    from rulecascade.learn.bounds import prefix_counts

    labels = np.zeros(1, np.int64)
    return {
        "conds": [[name]],
        "labels": labels,
        "vm": first,
        "cert_counts": prefix_counts(first, labels, yc),
    }


def _lists_case(cert_errors_wide: int, n: int = 4000, seed: int = 0):
    """Two one-rule lists: a strict one covering rows 0..1999, a wider one covering 0..2999.
    Validation is clean; certification has ``cert_errors_wide`` errors in rows 2000..2999."""
    from rulecascade.learn import Config
    from rulecascade.learn.certification import certify_lists

    y = np.zeros(n, np.int64)
    yc = y.copy()
    yc[2000 : 2000 + cert_errors_wide] = 1
    yc[3500:] = 1  # uncovered rows of the other class
    y[3500:] = 1
    strict = np.where(np.arange(n) < 2000, 0, -1)
    wide = np.where(np.arange(n) < 3000, 0, -1)
    rendered = [_one_rule_list("a", strict, yc), _one_rule_list("b", wide, yc)]
    cfg = Config(max_error=0.005, confidence=0.95)
    return certify_lists(rendered, y, yc, cfg, 0.05, False, 1.0)


def test_certify_lists_keeps_the_widest_list_that_holds():
    li, k, cert, info = _lists_case(cert_errors_wide=0)
    assert (li, k) == (1, 1) and cert.covered == 3000 and cert.errors == 0
    # the wide list breaks the cap on certification rows: the strict list is kept
    li, k, cert, info = _lists_case(cert_errors_wide=40)
    assert (li, k) == (0, 1) and cert.covered == 2000 and cert.errors == 0
    assert info["hypotheses"] == 2 and len(cert.pvalues) == 2 and cert.pvalues[1] > 0.05


def test_certify_lists_family_wise_error_is_controlled():
    # every hypothesis false, at the boundary (true error rate = the cap): certification must
    # pass at most alpha of the time over many certification draws
    from rulecascade.learn import Config
    from rulecascade.learn.certification import certify_lists

    rng = np.random.default_rng(1)
    n, eps, passes, trials = 3000, 0.01, 0, 1000
    strict = np.where(np.arange(n) < 1500, 0, -1)
    wide = np.where(np.arange(n) < 2500, 0, -1)
    yv = np.zeros(n, np.int64)  # validation looks clean: starts are optimistic
    for _ in range(trials):
        yc = (rng.random(n) < eps).astype(np.int64)
        rendered = [_one_rule_list("a", strict, yc), _one_rule_list("b", wide, yc)]
        _, k, _, _ = certify_lists(rendered, yv, yc, Config(max_error=eps), 0.05, False, 1.0)
        passes += k > 0
    assert passes > 0  # the boundary is reachable: the test has power to see a broken level
    assert passes / trials <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / trials)


def test_fallback_procedure_is_fixed_sequence_with_one_weight():
    from rulecascade.learn.bounds import fallback_procedure

    p = np.array([0.5, 0.01, 0.02, 0.2, 0.001])
    w = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    levels, rej = fallback_procedure(p, w, 0.05)
    assert rej.tolist() == [False, True, True, False, False]  # stops at the first failure
    assert levels.tolist() == [0.0, 0.05, 0.05, 0.05, 0.0]
    assert rej.sum() == fixed_sequence(p, 0.05, start=1)


def test_fallback_procedure_tests_a_later_weight_after_a_failure():
    from rulecascade.learn.bounds import fallback_procedure

    p = np.array([[0.04, 0.0], [0.02, 0.0], [0.001, 0.0], [0.001, 0.03]])
    levels, rej = fallback_procedure(p, np.array([0.5, 0.0, 0.5, 0.0]), 0.05)
    assert rej.tolist() == [False, False, True, False]  # own level 0.025; 2nd test fails at 3
    assert np.allclose(levels, [0.025, 0.0, 0.025, 0.025])
    _, rej = fallback_procedure(p[:, 0], np.array([0.5, 0.0, 0.5, 0.0]), 0.05)
    assert rej.tolist() == [False, False, True, True]
    with pytest.raises(ValueError, match="weights"):
        fallback_procedure(p, np.array([0.7, 0.0, 0.7, 0.0]), 0.05)


def test_certify_lists_passes_a_step_validation_ranked_low():
    # validation (biased by selection) calls the wide list the riskiest, certification finds the
    # two stricter lists at the cap and the wide one well below it: the share of the level spread
    # over every step still certifies the wide list
    from rulecascade.learn import Config
    from rulecascade.learn.certification import certify_lists

    n = 14000
    rows = np.arange(n)
    lists = [np.where(rows < k, 0, -1) for k in (2000, 4000, 12000)]
    yv = np.zeros(n, np.int64)
    yv[5000:5020] = 1
    yc = np.zeros(n, np.int64)
    yc[0:10] = 1
    yc[2000:2010] = 1
    yv[12000:] = yc[12000:] = 1  # uncovered rows of the other class
    rendered = [_one_rule_list("r", m, yc) for m in lists]
    li, k, cert, info = certify_lists(rendered, yv, yc, Config(max_error=0.005), 0.05, False, 1.0)
    assert 3 not in info["start_prefixes"]  # validation did not predict the wide list
    assert (li, k) == (2, 1) and cert.covered == 12000 and cert.errors == 20
