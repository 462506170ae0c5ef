"""rulecascade.audit: the counts, the bounds and the tests behind each verdict."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from rulecascade.audit import (
    AuditCounts,
    audit,
    audit_counts,
    audit_from_counts,
    clopper_pearson_lower,
    clopper_pearson_upper,
    counts_from_sql_rows,
    label_indices,
)
from rules_export import Guarantee, InputError, Interval, Rule, RuleSet, RuleStats, make_features
from rules_export.reference import match


def _ruleset(claims=(0.9, 0.9, 0.9), guarantee=None, metadata=None, classes=(0, 1)):
    rules = tuple(
        Rule(
            (Interval("x", low=float(i), high=float(i + 1)),),
            classes[i % 2],
            RuleStats(validation_counts=(10, 10), precision_lower_bound=c),
        )
        for i, c in enumerate(claims)
    )
    return RuleSet(
        features=make_features(["x"]),
        classes=classes,
        rules=rules,
        guarantee=guarantee,
        metadata=metadata or {},
    )


def _counts(answered, covers=None):
    """Count tables; rules that do not overlap cover exactly the rows they answer."""
    answered = np.asarray(answered, dtype=np.int64)
    return AuditCounts(answered, answered[:-1] if covers is None else np.asarray(covers))


@pytest.mark.parametrize("k,n", [(0, 1), (0, 10), (3, 10), (10, 10), (599, 600), (990, 1000)])
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_scipy_one_sided(k, n, conf):
    lo = stats.binomtest(k, n, alternative="greater").proportion_ci(conf, "exact").low
    hi = stats.binomtest(k, n, alternative="less").proportion_ci(conf, "exact").high
    assert clopper_pearson_lower(k, n, conf) == pytest.approx(lo, abs=1e-12)
    assert clopper_pearson_upper(k, n, conf) == pytest.approx(hi, abs=1e-12)


def test_bounds_without_rows_are_unknown():
    assert clopper_pearson_lower(0, 0, 0.95) is None
    assert clopper_pearson_upper(0, 0, 0.95) is None


def test_counts_table_first_match_and_other_labels():
    rs = _ruleset()
    x = np.array([0.5, 0.5, 1.5, 2.5, 2.5, 9.0, np.nan, 1.0])
    y = np.array([0, 1, 1, 0, 7, 1, 0, 0])  # 7 is no class of the rule set
    c = audit_counts(rs, {"x": x}, y).answered
    assert c.shape == (4, 3)
    ids = match(rs, {"x": x})
    for r in range(-1, 3):
        for k, lab in enumerate([0, 1, 7]):
            row = r if r >= 0 else 3
            assert c[row, k] == int(((ids == r) & (y == lab)).sum())
    assert c.sum() == len(x)


def test_covers_ignore_the_order_answered_respects_it():
    rules = RuleSet(
        features=make_features(["x"]),
        classes=(0, 1),
        rules=(
            Rule((Interval("x", high=2.0),), 0),
            Rule((Interval("x", high=5.0),), 1),  # overlaps rule 0 on x <= 2
        ),
    )
    x = np.array([1.0, 1.5, 3.0, 4.0, 9.0])
    y = np.array([0, 1, 1, 1, 0])
    c = audit_counts(rules, {"x": x}, y)
    np.testing.assert_array_equal(c.answered, [[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(c.covers, [[1, 1, 0], [1, 3, 0]])
    rep = audit_from_counts(rules, c)
    r1 = rep.rules[1]
    assert (r1.rows, r1.correct, r1.answered_precision) == (2, 2, 1.0)
    assert (r1.covers, r1.covers_correct, r1.precision) == (4, 3, 0.75)
    assert r1.covers_fraction == 0.8 and r1.coverage == 0.4


def test_label_indices_types():
    rs = _ruleset(classes=(False, True))
    np.testing.assert_array_equal(label_indices(rs, np.array([True, False])), [1, 0])
    rs = _ruleset(classes=(0, 1))
    np.testing.assert_array_equal(label_indices(rs, np.array([1.0, 0.0, 2.0])), [1, 0, 2])
    with pytest.raises(InputError, match="is a class of the rule set"):
        label_indices(rs, np.array([True, False]))  # booleans are not the integers 0 and 1
    rs = _ruleset(classes=("a", "b"))
    np.testing.assert_array_equal(
        label_indices(rs, np.array(["b", "a", None], dtype=object)), [1, 0, 2]
    )


def test_rule_verdict_is_the_one_sided_binomial_test():
    rs = _ruleset(claims=(0.95, 0.95, None))
    # rule 0: 88/100 correct, rule 1: 19/20 correct, rule 2 makes no claim
    counts = np.array([[88, 12, 0], [1, 19, 0], [5, 5, 0], [3, 3, 0]])
    rep = audit_from_counts(rs, _counts(counts), alpha=0.05)
    assert rep.tests == 2
    assert rep.alpha_per_test == 0.025
    for r, (k, n) in zip(rep.rules[:2], [(88, 100), (19, 20)], strict=True):
        p = stats.binomtest(k, n, 0.95, alternative="less").pvalue
        assert r.p_value == pytest.approx(p, rel=1e-9)
        assert r.broken == (p < 0.025)
        assert r.precision == k / n
        # the upper bound at the per-test level lies below the claim exactly when broken
        assert (r.precision_upper_bound < 0.95) == r.broken
    assert rep.rules[0].broken and not rep.rules[1].broken
    assert rep.rules[2].p_value is None and not rep.rules[2].broken
    assert rep.broken_rules == (0,) and not rep.holds


def test_set_error_and_per_class_caps():
    g = Guarantee(max_error=0.01, confidence=0.95, per_class_max_error=((1, 0.05),))
    rs = _ruleset(claims=(None, None, None), guarantee=g)
    # rule 0 says 0, rule 1 says 1, rule 2 says 0
    counts = np.array([[500, 2, 0], [1, 300, 0], [200, 0, 1], [50, 150, 0]])
    rep = audit_from_counts(rs, _counts(counts), alpha=0.05)
    s = rep.set
    assert s.covered == 1004 and s.errors == 4
    assert s.error == 4 / 1004
    assert s.p_value == pytest.approx(
        stats.binomtest(4, 1004, 0.01, alternative="greater").pvalue, rel=1e-9
    )
    assert not s.broken and s.recertified is (clopper_pearson_upper(4, 1004, 0.95) <= 0.01)
    (cap,) = s.per_class
    # class 1 has 2 + 300 + 0 + 150 rows; rules with another label answered 2 of them
    assert (cap.label, cap.rows, cap.wrong) == (1, 452, 2)
    assert not cap.broken
    assert rep.tests == 2 and rep.holds
    worse = counts.copy()
    worse[0] = [400, 102, 0]
    rep = audit_from_counts(rs, _counts(worse), alpha=0.05)
    assert rep.set.broken and rep.set.per_class[0].broken and not rep.holds


def test_false_alarm_rate_is_at_most_alpha_when_claims_hold():
    # every rule's true precision equals its claimed bound: the worst case that still "holds"
    rng = np.random.default_rng(0)
    claims = (0.9, 0.95, 0.99, 0.8)
    rs = RuleSet(
        features=make_features(["x"]),
        classes=(0, 1),
        rules=tuple(
            Rule((Interval("x", low=float(i), high=float(i + 1)),), 0, RuleStats((), (), c))
            for i, c in enumerate(claims)
        ),
    )
    n = np.array([50, 200, 400, 30])
    alarms = 0
    trials = 400
    for _ in range(trials):
        correct = rng.binomial(n, claims)
        counts = np.zeros((5, 3), dtype=np.int64)
        counts[:4, 0] = correct
        counts[:4, 1] = n - correct
        alarms += not audit_from_counts(rs, _counts(counts), alpha=0.1).holds
    assert alarms / trials <= 0.1 + 3 * np.sqrt(0.1 * 0.9 / trials)
    # and a rule that is clearly worse than its claim is caught
    counts = np.zeros((5, 3), dtype=np.int64)
    counts[:4, 0] = [40, 190, 380, 27]
    counts[:4, 1] = [10, 10, 20, 3]
    assert audit_from_counts(rs, _counts(counts), alpha=0.1).broken_rules == (0, 2)


def test_drift_against_the_fit_split_sizes():
    g = Guarantee(
        max_error=0.05, confidence=0.95, certification_rows=1000, certification_covered=400
    )
    rs = _ruleset(guarantee=g, metadata={"split_rows": {"growth": 10, "validation": 100}})
    counts = np.array([[30, 0, 0], [0, 20, 0], [0, 0, 0], [25, 25, 0]])
    rep = audit_from_counts(rs, _counts(counts))
    r0 = rep.rules[0]
    assert r0.fit_rows == 20 and r0.fit_coverage == 0.2
    assert r0.covers_fraction == 0.3 and r0.coverage_drift == pytest.approx(0.1)
    assert r0.coverage_ratio == pytest.approx(1.5)
    assert rep.rules[2].rows == 0 and rep.rules[2].precision is None
    assert rep.set.fit_coverage == 0.4 and rep.set.coverage == 0.5
    no_split = audit_from_counts(_ruleset(guarantee=g), _counts(counts))
    assert no_split.rules[0].fit_coverage is None and no_split.rules[0].coverage_drift is None
    # the learner records its split sizes under "rows"
    learner_meta = _ruleset(guarantee=g, metadata={"rows": {"validation": 50}})
    assert audit_from_counts(learner_meta, _counts(counts)).rules[0].fit_coverage == 0.4


def test_report_json_is_deterministic_and_plain():
    g = Guarantee(max_error=0.05, confidence=0.9, per_class_max_error=((0, 0.1),))
    rs = _ruleset(guarantee=g)
    x = np.linspace(-1, 4, 200)
    y = (np.sin(7 * x) > 0).astype(int)
    rep = audit(rs, {"x": x}, y)
    text = rep.to_json()
    assert text == audit(rs, {"x": x}, y).to_json()
    doc = json.loads(text)
    assert list(doc) == sorted(doc)
    assert doc["classes"] == [0, 1] and doc["confidence"] == 0.9
    assert doc["set"]["per_class"][0]["label"] == 0
    assert set(doc["rules"][0]) >= {
        "rows",
        "coverage",
        "precision",
        "precision_lower_bound",
        "claimed_lower_bound",
        "broken",
        "coverage_drift",
    }


def test_counts_from_sql_rows_round_trip():
    rs = _ruleset()
    answered = np.array([[3, 4, 1], [0, 0, 0], [5, 0, 2], [7, 7, 0]])
    covers = np.array([[3, 4, 1], [2, 0, 1], [5, 0, 2]])
    rows = []
    for i, c in enumerate(answered):
        # spread the covers over the groups: the query sums them per rule_id group
        cov = covers if i == 0 else np.zeros_like(covers)
        rows.append(
            (i if i < 3 else -1, int(c.sum()), int(c[0]), int(c[1]))
            + tuple(int(v) for v in cov[:, :2].ravel())
            + tuple(int(v) for v in cov.sum(axis=1))
            + (0,)  # rows without a label
        )
    got = counts_from_sql_rows(rs, rows)
    assert got == AuditCounts(answered, covers)
    with pytest.raises(InputError, match="2 rows have no label"):
        counts_from_sql_rows(rs, [*rows[:-1], rows[-1][:-1] + (2,)])
    with pytest.raises(ValueError, match="out of range"):
        counts_from_sql_rows(rs, [(5, 1, 1, 0) + (0,) * 10])
    with pytest.raises(ValueError, match="columns"):
        counts_from_sql_rows(rs, [(0, 1, 1, 0)])


def test_bad_alpha_and_shapes():
    rs = _ruleset()
    with pytest.raises(ValueError, match="alpha"):
        audit_from_counts(rs, _counts(np.zeros((4, 3))), alpha=0.0)
    with pytest.raises(ValueError, match="shape"):
        audit_from_counts(rs, _counts(np.zeros((3, 3))))
    with pytest.raises(InputError, match="labels"):
        audit_counts(rs, {"x": np.zeros(3)}, np.zeros(4))
    # a missing label is an input error, not a wrong answer (as in SQL and the CLI)
    for y in (np.array([0.0, np.nan, 1.0]), np.array([0, None, 1], dtype=object)):
        with pytest.raises(InputError, match="label is missing or not finite at row 1"):
            audit_counts(rs, {"x": np.zeros(3)}, y)
