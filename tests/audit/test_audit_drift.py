"""Feature drift against the summaries stored in the rule file (format 1.2), on real data."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from rulecascade import datasets
from rulecascade.audit import NoReferenceError, audit, drift
from rulecascade.audit.drift import DRIFT_P, PSI_DRIFT, WARN_P, status_of
from rulecascade.learn.summaries import summarise
from rules_export import (
    FeatureSummary,
    Guarantee,
    InSet,
    Interval,
    Rule,
    RuleSet,
    RuleSetError,
    RuleStats,
    make_features,
)
from rules_export.reference import input_columns


def _credit():
    ds = datasets.load("credit_default")
    return ds.frame.with_columns(pl.col("student").cast(pl.String))


_RULES = RuleSet(
    features=make_features(
        ["student", "balance", "income"], ["student"], {"student": ["No", "Yes"]}
    ),
    classes=(0, 1),
    rules=(
        Rule((Interval("balance", high=1000.0),), 0, RuleStats((), (3000, 5), 0.99)),
        Rule((Interval("balance", low=1900.0), InSet("student", ("No",))), 1),
        Rule((Interval("income", 10000.0, 20000.0),), 0),
    ),
    guarantee=Guarantee(max_error=0.05, confidence=0.95),
)


def _with_summaries(rules: RuleSet, df: pl.DataFrame) -> RuleSet:
    """Summaries as the learner writes them: numeric values, category codes."""
    cols, _ = input_columns(rules, df)
    cats = rules.feature("student").categories
    codes = np.array([np.nan if v is None else cats.index(v) for v in cols["student"]])
    return rules.replace(
        feature_summaries=summarise(
            rules, {"balance": cols["balance"], "income": cols["income"], "student": codes}
        )
    )


@pytest.fixture(scope="module")
def halves():
    df = _credit()
    perm = np.random.default_rng(7).permutation(df.height)
    ref, new = df[perm[: df.height // 2]], df[perm[df.height // 2 :]]
    return _with_summaries(_RULES, ref), ref, new


def test_summary_holds_counts_not_rows_and_cuts_at_every_threshold(halves):
    rules, ref, _ = halves
    s = rules.summary("balance")
    assert s.rows == ref.height and sum(s.counts) + s.missing == ref.height
    assert {1000.0, 1900.0} <= set(s.edges)  # the rules' thresholds are bin edges
    assert len(s.counts) == len(s.edges) + 1 <= 20 + 2 + 1
    st = rules.summary("student")
    assert st.categories == ("No", "Yes")
    assert st.counts == tuple(int((ref["student"] == c).sum()) for c in ("No", "Yes"))
    # no raw value of the calibration rows is stored beyond the quantile edges
    text = rules.to_json()
    assert json.loads(text)["format_version"] == "1.2"
    assert str(ref["income"][0]) not in text


def test_unshifted_data_is_ok_and_a_shifted_feature_is_drift(halves):
    rules, _, new = halves
    d = drift(rules, new)
    assert d.reference
    assert {f.feature: f.status for f in d.features} == {
        "student": "ok",
        "balance": "ok",
        "income": "ok",
    }
    shifted = drift(rules, new.with_columns(pl.col("balance") * 1.3))
    by = {f.feature: f for f in shifted.features}
    assert by["balance"].status == "drift"
    assert by["balance"].p_value < DRIFT_P and by["balance"].psi >= PSI_DRIFT
    assert by["student"].status == by["income"].status == "ok"
    # the mass below each threshold moved down, measured exactly (thresholds are edges)
    t = {x.threshold: x for x in by["balance"].thresholds}
    assert t[1000.0].exact and t[1000.0].moved < -0.05
    assert t[1000.0].current_below == pytest.approx(float((new["balance"] * 1.3 <= 1000.0).mean()))
    # a categorical shift: students made the majority
    flipped = new.with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("Yes")).otherwise("student")
        .alias("student")
    )  # fmt: skip
    st = {f.feature: f for f in drift(rules, flipped).features}["student"]
    assert st.status == "drift" and st.sets[0].categories == ("No",) and st.sets[0].moved < -0.2


def test_false_alarm_rate_over_resamples_at_the_documented_cut_offs(halves):
    """Unshifted samples: `drift` about never (cut-off p < 0.001), `warn` at most about the
    test's level (p < 0.05); shifted samples of the same size: `drift` nearly always."""
    rules, _, new = halves
    rng = np.random.default_rng(11)
    n_resamples, size = 300, 1000
    alarms = drifts = detected = 0
    for _ in range(n_resamples):
        sample = new[rng.choice(new.height, size, replace=False)]
        for f in drift(rules, sample).features:
            alarms += f.status != "ok"
            drifts += f.status == "drift"
        shifted = sample.with_columns(pl.col("balance") * 1.3)
        detected += {f.feature: f.status for f in drift(rules, shifted).features}["balance"] == (
            "drift"
        )
    tests = n_resamples * 3
    rate = alarms / tests
    assert drifts / tests <= 0.005
    assert rate <= WARN_P + 3 * np.sqrt(WARN_P * (1 - WARN_P) / tests)
    assert detected / n_resamples >= 0.95


def test_states_follow_the_cut_offs():
    assert status_of(0.0005, 0.2) == "drift"
    assert status_of(0.0005, 0.05) == "warn"  # significant but small
    assert status_of(0.01, 0.5) == "warn"
    assert status_of(0.2, 0.5) == "ok"


def test_missing_values_and_unseen_categories_count_as_drift(halves):
    rules, _, new = halves
    gaps = new.with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise("balance").alias("balance"),
        pl.when(pl.int_range(pl.len()) % 4 == 0).then(pl.lit("Maybe")).otherwise("student")
        .alias("student"),
    )  # fmt: skip
    by = {f.feature: f for f in drift(rules, gaps).features}
    assert by["balance"].status == "drift" and by["balance"].missing_rate == pytest.approx(
        1 / 3, abs=0.01
    )
    assert by["student"].status == "drift" and by["student"].current_other > 0


def test_old_rule_files_load_and_audit_and_drift_says_no_reference(halves, tmp_path):
    _, _, new = halves
    old = _RULES.to_json()  # no summaries: written as format 1.0, as before
    assert json.loads(old)["format_version"] == "1.0"
    rules = RuleSet.from_json(old)
    rep = audit(rules, new, new["default"].to_numpy())
    assert rep.rows == new.height
    d = drift(rules, new)
    assert not d.reference and d.features == () and "no reference" in d.note
    with pytest.raises(NoReferenceError, match="no feature summaries"):
        drift(rules, new, require=True)


def test_summaries_round_trip_and_bad_summaries_are_refused(halves):
    rules, _, _ = halves
    again = RuleSet.from_json(rules.to_json())
    assert again == rules and again.to_json() == rules.to_json()
    doc = json.loads(rules.to_json())
    doc["feature_summaries"][0]["counts"][0] += 1  # no longer adds up to rows
    with pytest.raises(RuleSetError, match="do not add up to rows"):
        RuleSet.from_json(json.dumps(doc))
    with pytest.raises(RuleSetError, match="unknown feature"):
        rules.replace(feature_summaries=(FeatureSummary("nope", 1, 0, (), (1,)),))
    with pytest.raises(RuleSetError, match="strictly increasing"):
        FeatureSummary("balance", 3, 0, (2.0, 1.0), (1, 1, 1))


def test_fit_writes_summaries_deterministically():
    from rulecascade import RuleLearner

    ds = datasets.load("phishing")
    fits = [
        RuleLearner(max_error=0.05, random_state=3).fit(ds.X, ds.y).rules_.to_json()
        for _ in range(2)
    ]
    assert fits[0] == fits[1]
    rules = RuleSet.from_json(fits[0])
    named = {c.feature for r in rules.rules for c in r.conditions}
    assert named and {s.feature for s in rules.feature_summaries} == named
    assert all(s.rows == ds.frame.height for s in rules.feature_summaries)
