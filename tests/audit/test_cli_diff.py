"""rulecascade.audit.diff: rules paired by conditions; every difference reported, exactly once."""

from __future__ import annotations

import json

from rulecascade.audit import diff
from rules_export import (
    Guarantee,
    InSet,
    Interval,
    Projection,
    Rule,
    RuleSet,
    RuleStats,
    make_features,
)

FEATURES = make_features(["a", "b", "c"], categorical=["c"], categories={"c": ["x", "y", "z"]})
R0 = Rule((Interval("a", high=1.0),), 0, RuleStats((5, 0), (4, 0), 0.6))
R1 = Rule((Interval("a", low=5.0), Interval("b", high=2.0)), 1, RuleStats((0, 9), (1, 8), 0.55))
R2 = Rule((InSet("c", ("x", "y")),), 1, RuleStats((0, 3), (0, 3), 0.4))


def _rs(*rules, **kw):
    base = dict(
        features=FEATURES,
        classes=(0, 1),
        rules=rules,
        guarantee=Guarantee(max_error=0.01, confidence=0.95),
        fit_params={"max_error": 0.01, "seed": 1},
        data_fingerprint="sha256:aa",
        library_version="0.1.0",
        metadata={"split_rows": {"growth": 10}},
    )
    base.update(kw)
    return RuleSet(**base)


def test_identical_ignores_library_version_and_metadata():
    a = _rs(R0, R1, R2)
    b = _rs(R0, R1, R2, library_version="0.2.0", metadata={"fit_seconds": 3.0})
    d = diff(a, b)
    assert d.identical
    assert d.unchanged == 3 and not d.changed and not d.added and not d.removed
    assert d.library_version == {"a": "0.1.0", "b": "0.2.0"}
    assert d.metadata_keys == ("fit_seconds", "split_rows")
    assert json.loads(d.to_json())["identical"] is True


def test_moved_threshold_is_a_change_not_add_remove():
    moved = Rule((Interval("a", low=5.5), Interval("b", high=2.0)), 1, R1.stats)
    d = diff(_rs(R0, R1, R2), _rs(R0, moved, R2))
    assert not d.identical and not d.added and not d.removed
    (c,) = d.changed
    assert (c.a_index, c.b_index) == (1, 1)
    assert c.conditions == (
        {
            "feature": "a",
            "a": {"feature": "a", "low": 5.0, "high": None},
            "b": {"feature": "a", "low": 5.5, "high": None},
            "a_text": "a > 5.0",
            "b_text": "a > 5.5",
        },
    )
    assert c.label is None and c.precision_lower_bound is None


def test_label_bound_and_counts_changes():
    relabel = Rule(R0.conditions, 1, RuleStats((5, 0), (3, 1), 0.5))
    d = diff(_rs(R0, R1), _rs(relabel, R1))
    (c,) = d.changed
    assert c.label == {"a": 0, "b": 1}
    assert c.precision_lower_bound == {"a": 0.6, "b": 0.5}
    assert c.validation_counts == {"a": [4, 0], "b": [3, 1]}
    assert c.conditions == ()


def test_added_removed_and_reordered():
    other = Rule((Interval("b", low=7.0),), 0)
    d = diff(_rs(R0, R1, R2), _rs(R2, R0, other))
    assert [r["index"] for r in d.removed] == [1]
    assert d.added == ({"index": 2, "rule": other.describe()},)
    assert d.reordered  # R2 now answers before R0
    assert diff(_rs(R0, R2), _rs(R0, other, R2)).reordered is False


def test_closest_pair_wins_among_rules_on_the_same_features():
    near = Rule((Interval("a", high=1.1),), 0)
    far = Rule((Interval("a", high=9.0),), 0)
    d = diff(_rs(R0), _rs(far, near))
    (c,) = d.changed
    assert (c.a_index, c.b_index) == (0, 1)
    assert d.added == ({"index": 0, "rule": far.describe()},)


def test_schema_guarantee_params_fingerprint_classes_projection():
    a = _rs(R0)
    feats = (
        *make_features(["a", "b"]),
        *make_features(["c"], categorical=["c"]),
        *make_features(["d"]),
    )
    proj = Projection(("a", "b"), ("p0",), (0.0, 0.0), ((1.0, 1.0),))
    b = _rs(
        Rule(R0.conditions, 0, RuleStats((5, 0, 0), (4, 0, 0), 0.6)),
        features=feats,
        classes=(0, 1, 2),
        projection=proj,
        guarantee=Guarantee(max_error=0.005, confidence=0.95, per_class_max_error={1: 0.01}),
        fit_params={"max_error": 0.005, "seed": 1},
        data_fingerprint="sha256:bb",
    )
    d = diff(a, b)
    assert not d.identical
    assert d.features["added"] == [{"name": "d", "kind": "numeric"}]
    assert d.features["changed"] == [
        {
            "name": "c",
            "a": {"kind": "categorical", "categories": ["x", "y", "z"]},
            "b": {"kind": "categorical", "categories": []},
        }
    ]
    assert d.classes == {"a": [0, 1], "b": [0, 1, 2]}
    assert d.projection == {
        "a": False,
        "b": True,
        "changed": ["inputs", "outputs", "mean", "weights", "sum_block"],
    }
    blocked = Projection(("a", "b", "d"), ("p0",), (0.0,) * 3, ((1.0, 2.0, 1.0),), sum_block=2)
    c = b.replace(features=feats, projection=blocked)
    assert diff(b, c).projection == {
        "a": True,
        "b": True,
        "changed": ["inputs", "mean", "weights", "sum_block"],
    }
    assert set(d.guarantee) == {"max_error", "per_class_max_error"}
    assert d.guarantee["max_error"] == {"a": 0.01, "b": 0.005}
    assert d.fit_params == {"max_error": {"a": 0.01, "b": 0.005}}
    assert d.data_fingerprint == {"a": "sha256:aa", "b": "sha256:bb"}
    assert d.changed[0].validation_counts == {"a": [4, 0], "b": [4, 0, 0]}
    assert diff(a, _rs(R0, guarantee=None)).guarantee["guarantee"]["b"] is None


def test_json_is_plain_and_sorted():
    d = diff(_rs(R0, R1), _rs(R1, R2))
    doc = json.loads(d.to_json())
    assert list(doc) == sorted(doc)
    assert d.to_json() == diff(_rs(R0, R1), _rs(R1, R2)).to_json()
    assert doc["identical"] is False
