"""The JSON format: byte-identical round trips, canonical form, the shipped JSON Schema (and
agreement of the stdlib validator with the ``jsonschema`` package), and one test per bad input."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

import rules_export as rx
from rules_export import json_io, schema

try:
    from test_export_cases import SUPPRESSED, Case, cases
except ImportError:  # tests/ imported as a package
    from tests.export.test_export_cases import SUPPRESSED, Case, cases  # type: ignore[no-redef]


def rich_rule_set() -> rx.RuleSet:
    feats = rx.make_features(
        ["income", "age", 'x"; DROP TABLE t; --', "city", "e0", "e1"],
        categorical=["city"],
        categories={"city": ["Zürich", "Basel", "it's"]},
    )
    proj = rx.Projection(("e0", "e1"), ("z0", "z1"), (0.5, -1.25), ((1.0, -2.0), (0.1, 0.2)))
    stats = rx.RuleStats((10, 0, 1), (20, 1, 0), 0.873)
    rules = (
        rx.Rule(
            (rx.Interval("income", None, 52000.0), rx.InSet("city", ("Basel", "Zürich"))),
            "low",
            stats,
            "tree 3 leaf 17",
        ),
        rx.Rule((rx.Interval("age", 17.5, 65.0), rx.Interval("z1", 0.25, None)), "mid"),
        rx.Rule((rx.Interval('x"; DROP TABLE t; --', 0.30000000000000004, None),), "high"),
    )
    guarantee = rx.Guarantee(
        max_error=0.005,
        confidence=0.95,
        mode="fidelity",
        per_class_max_error={"high": 0.01},
        certified=True,
        error_upper_bound=0.0049,
        certification_rows=1000,
        certification_covered=700,
        certification_errors=1,
        method="binomial",
    )
    return rx.RuleSet(
        features=feats,
        classes=("low", "mid", "high"),
        rules=rules,
        projection=proj,
        guarantee=guarantee,
        fit_params={"max_depth": 6, "bins": [1, 2.5, None], "name": "ünï"},
        data_fingerprint="sha256:abc",
        library_version="0.1.0",
        metadata={"note": "café", "nested": {"a": [1, {"b": True}]}},
    )


def doc() -> dict[str, Any]:
    return json.loads(rx.dumps(rich_rule_set()))


def text_of(d: Any) -> str:
    return json.dumps(d, ensure_ascii=False)


# --- round trip and canonical form -----------------------------------------------------------


def test_round_trip_is_byte_identical(tmp_path: Path) -> None:
    rs = rich_rule_set()
    text = rx.dumps(rs)
    back = rx.loads(text)
    assert back == rs
    assert rx.dumps(back) == text
    path = tmp_path / "rules.json"
    rs.save(path)
    assert path.read_bytes() == text.encode("utf-8")
    assert rx.RuleSet.load(path) == rs
    assert rx.RuleSet.from_json(rs.to_json()) == rs
    assert text.endswith("\n") and "\r" not in text


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESSED)
@given(cases())
def test_random_rule_sets_round_trip_byte_identical(case: Case) -> None:
    text = rx.dumps(case.rules)
    back = rx.loads(text.encode("utf-8"))
    assert back == case.rules
    assert rx.dumps(back) == text
    assert schema.first_error(json.loads(text)) is None


def test_canonical_form_equal_content_equal_bytes() -> None:
    feats_a = rx.make_features(["b", "a", "c"], ["c"], {"c": ["y", "x", "y"]})
    feats_b = rx.make_features(["b", "a", "c"], ["c"], {"c": ["x", "y"]})
    a = rx.RuleSet(
        feats_a,
        ("p", "q"),
        (
            rx.Rule(
                (
                    rx.InSet("c", ("y", "x", "x")),
                    rx.Interval("b", -0.0, 3),
                    rx.Interval("a", None, 2.0),
                    rx.Interval("a", 1.0, None),
                ),
                "p",
            ),
        ),
    )
    b = rx.RuleSet(
        feats_b,
        ("p", "q"),
        (
            rx.Rule(
                (rx.Interval("a", 1.0, 2.0), rx.Interval("b", 0.0, 3.0), rx.InSet("c", ("x", "y"))),
                "p",
            ),
        ),
    )
    assert a == b
    assert hash(a) == hash(b)
    assert rx.dumps(a) == rx.dumps(b)
    assert a.rules[0].conditions[0] == rx.Interval("a", 1.0, 2.0)  # merged and sorted by feature
    assert '"low": 0.0' in rx.dumps(a)  # -0.0 is stored as 0.0


def test_hand_written_file_is_canonicalized() -> None:
    d = doc()
    d["rules"][0]["conditions"].reverse()
    d["rules"][0]["conditions"][0] = {"feature": "income", "high": 52000}  # int, no "low"
    text = json.dumps(d, indent=4, sort_keys=False)
    rs = rx.loads(text)
    assert rs == rich_rule_set()
    assert rx.dumps(rs) == rx.dumps(rich_rule_set())


def test_dumps_is_deterministic_across_processes() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, '.'); sys.path.insert(0, 'tests/export');"
        "from test_export_json import rich_rule_set; import rules_export as rx;"
        "sys.stdout.write(rx.dumps(rich_rule_set()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert out == rx.dumps(rich_rule_set())


# --- the JSON Schema ---------------------------------------------------------------------------


def test_schema_file_is_valid_draft_2020_12() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema.schema())
    path = Path(rx.__file__).with_name("ruleset.schema.json")
    assert json.loads(path.read_text(encoding="utf-8")) == schema.schema()


def _mutations(d: Any, path: tuple = ()) -> list[tuple[tuple, str, Any]]:
    """(path, action, value) for many single edits of ``d``: wrong types, removed keys, extras."""
    out: list[tuple[tuple, str, Any]] = []
    wrong = ["abc", 7, -1, 1.5, 2.0, None, True, [], {}, [1], {"k": 1}, "", 0]
    if path:
        for w in wrong:
            out.append((path, "set", w))
    if isinstance(d, dict):
        for k in d:
            out.append(((*path, k), "del", None))
        out.append(((*path, "unknown_field"), "set", 1))
        for k, v in d.items():
            out += _mutations(v, (*path, k))
    elif isinstance(d, list):
        out.append((path, "set", []))
        for i, v in enumerate(d[:2]):
            out += _mutations(v, (*path, i))
    return out


def _apply(d: Any, path: tuple, action: str, value: Any) -> Any:
    d = copy.deepcopy(d)
    target = d
    for p in path[:-1]:
        target = target[p]
    if action == "del":
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


def test_validator_agrees_with_jsonschema_on_many_documents() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema.schema())
    base = doc()
    base_no_opt = json.loads(
        rx.dumps(
            rx.RuleSet(rx.make_features(["a"]), (1, 2), (rx.Rule((rx.Interval("a", 1, 2),), 2),))
        )
    )
    n_valid = n_invalid = 0
    for d0 in (base, base_no_opt):
        for path, action, value in _mutations(d0):
            d = _apply(d0, path, action, value)
            ours = schema.first_error(d)
            theirs = sorted(validator.iter_errors(d), key=lambda e: len(e.absolute_path))
            assert (ours is None) == (not theirs), (path, action, value, ours, theirs[:1])
            if ours is None:
                n_valid += 1
                continue
            n_invalid += 1
            # our path lies at or below a path jsonschema reports
            ours_path = ours.split(": ", 1)[0]
            assert any(
                ours_path.startswith(schema.json_path(tuple(e.absolute_path))) for e in theirs
            ), (ours, [schema.json_path(tuple(e.absolute_path)) for e in theirs])
            assert "\n" not in ours
    assert n_valid > 20 and n_invalid > 300


def test_validator_error_names_the_json_path() -> None:
    d = doc()
    d["rules"][2]["conditions"][0]["low"] = "abc"
    with pytest.raises(rx.RuleSetError) as e:
        rx.loads(text_of(d), source="rules.json")
    assert str(e.value) == (
        'rules.json: $.rules[2].conditions[0].low: expected number or null, got "abc"'
    )


def test_unsupported_schema_keywords_are_refused() -> None:
    with pytest.raises(RuntimeError, match="does not implement"):
        schema._check_supported({"type": "object", "patternProperties": {}}, "#")


# --- one test per bad input ----------------------------------------------------------------------


def _edit(fn: Any) -> str:
    d = doc()
    fn(d)
    return text_of(d)


def _set(path: tuple, value: Any) -> Any:
    def fn(d: Any) -> None:
        for p in path[:-1]:
            d = d[p]
        d[path[-1]] = value

    return fn


def _del(path: tuple) -> Any:
    def fn(d: Any) -> None:
        for p in path[:-1]:
            d = d[p]
        del d[path[-1]]

    return fn


BAD_TEXTS: dict[str, tuple[Any, str]] = {
    "missing rules": (lambda: _edit(_del(("rules",))), 'missing required field "rules"'),
    "missing features": (lambda: _edit(_del(("features",))), 'missing required field "features"'),
    "missing condition feature": (
        lambda: _edit(_del(("rules", 0, "conditions", 0, "feature"))),
        "$.rules[0].conditions[0]",
    ),
    "missing label": (lambda: _edit(_del(("rules", 1, "label"))), "$.rules[1]: missing"),
    "missing format_version": (lambda: _edit(_del(("format_version",))), "format_version"),
    "wrong type threshold": (
        lambda: _edit(_set(("rules", 1, "conditions", 0, "low"), "17.5")),
        "$.rules[1].conditions[0].low: expected number or null",
    ),
    "wrong type label": (
        lambda: _edit(_set(("rules", 0, "label"), 1.5)),
        "$.rules[0].label: expected string or integer or boolean, got 1.5",
    ),
    "wrong type classes": (lambda: _edit(_set(("classes",), "low")), "$.classes: expected array"),
    "wrong kind": (
        lambda: _edit(_set(("features", 0, "kind"), "float")),
        '$.features[0].kind: expected one of "numeric", "categorical", got "float"',
    ),
    "empty in-set": (
        lambda: _edit(_set(("rules", 0, "conditions", 0, "in"), [])),
        "$.rules[0].conditions[0].in: must not be empty",
    ),
    "negative count": (
        lambda: _edit(_set(("rules", 0, "stats", "growth_counts", 1), -3)),
        "$.rules[0].stats.growth_counts[1]: must be at least 0",
    ),
    "bool as number": (
        lambda: _edit(_set(("projection", "mean", 0), True)),
        "$.projection.mean[0]: expected number, got true",
    ),
    "projection sum_block zero": (
        lambda: _edit(_set(("projection", "sum_block"), 0)),
        "$.projection.sum_block: must be at least 1, got 0",
    ),
    "projection sum_block not an integer": (
        lambda: _edit(_set(("projection", "sum_block"), 2.5)),
        "$.projection.sum_block: expected integer, got 2.5",
    ),
    "projection sum_block boolean": (
        lambda: _edit(_set(("projection", "sum_block"), True)),
        "$.projection.sum_block: expected integer, got true",
    ),
    "unknown field in the projection": (
        lambda: _edit(_set(("projection", "sum_order"), "pairwise")),
        'unknown field "sum_order"',
    ),
    "unknown field in a condition": (
        lambda: _edit(_set(("rules", 0, "conditions", 0, "missing"), "left")),
        'unknown field "missing"',
    ),
    "unknown feature in a rule": (
        lambda: _edit(_set(("rules", 0, "conditions", 0, "feature"), "nope")),
        "rule 0: unknown feature 'nope'",
    ),
    "label not a class": (
        lambda: _edit(_set(("rules", 0, "label"), "zzz")),
        "not one of the classes",
    ),
    "empty interval": (
        lambda: _edit(_set(("rules", 1, "conditions", 0, "high"), 10.0)),
        "is empty: low 17.5 is not below high 10.0",
    ),
    "support disagrees": (
        lambda: _edit(_set(("rules", 0, "stats", "support"), 5)),
        "support 5 disagrees with the validation counts",
    ),
    "newer major version": (
        lambda: _edit(_set(("format_version",), "2.0")),
        "format_version 2.0 is newer than this library reads (1.2)",
    ),
    "malformed version": (
        lambda: _edit(_set(("format_version",), "one")),
        "format_version must be",
    ),
    "not a rule set": (
        lambda: _edit(_set(("format",), "something.else")),
        "not a rulecascade rule set",
    ),
    "top level array": (lambda: "[1, 2]", "expected a JSON object at the top level"),
    "empty file": (lambda: "", "not valid JSON: Expecting value at line 1 column 1"),
    "truncated": (lambda: rx.dumps(rich_rule_set())[:-200], "not valid JSON"),
    "NaN literal": (
        lambda: rx.dumps(rich_rule_set()).replace("52000.0", "NaN"),
        "invalid number NaN",
    ),
    "Infinity literal": (
        lambda: rx.dumps(rich_rule_set()).replace("52000.0", "-Infinity"),
        "invalid number -Infinity",
    ),
    "number beyond float64": (
        lambda: rx.dumps(rich_rule_set()).replace("52000.0", "1e999"),
        "number 1e999 is outside the float64 range",
    ),
    "integer with 5000 digits": (
        lambda: rx.dumps(rich_rule_set()).replace('"max_depth": 6', '"max_depth": ' + "9" * 5000),
        "integer with 5000 digits is too large",
    ),
    "threshold beyond float64 as integer": (
        lambda: _edit(_set(("rules", 0, "conditions", 1, "high"), 10**350)),
        "must be a finite float64 number",
    ),
    "duplicate keys": (
        lambda: rx.dumps(rich_rule_set()).replace('"classes": [', '"classes": [], "classes": ['),
        'duplicate key "classes"',
    ),
    "nested array bomb": (lambda: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "deep metadata": (
        lambda: _edit(_set(("metadata",), json.loads("[" * 70 + "]" * 70))),
        "nested deeper than 64 levels",
    ),
    "100 MB string": (
        lambda: _edit(_set(("metadata",), {"blob": "x" * 100_000_000})),
        "$.metadata.blob: string of 100000000 characters is longer than",
    ),
    "lone surrogate": (
        lambda: rx.dumps(rich_rule_set()).replace('"note": "café"', '"note": "\\udc80"'),
        "$.metadata.note: string holds an unpaired surrogate",
    ),
    "near miss in case": (
        lambda: _edit(_set(("guarantee", "Mode"), "truth")),
        '$.guarantee.Mode: unknown field "Mode" looks like "mode"',
    ),
    "near miss in a rule": (
        lambda: _edit(_set(("rules", 1, "provenence"), "tree")),
        '$.rules[1].provenence: unknown field "provenence" looks like "provenance"',
    ),
    "near miss in stats": (
        lambda: _edit(_set(("rules", 0, "stats", "validaton_counts"), [1, 2, 3])),
        '$.rules[0].stats.validaton_counts: unknown field "validaton_counts" looks like',
    ),
    "near miss at the top": (
        lambda: _edit(_set(("Metadata",), {})),
        '$.Metadata: unknown field "Metadata" looks like "metadata"',
    ),
    "two edits": (
        lambda: _edit(_set(("guarantee", "certifcation_rowz"), 10)),
        '$.guarantee.certifcation_rowz: unknown field "certifcation_rowz" looks like',
    ),
    "covered more than certified": (
        lambda: _edit(_set(("guarantee", "certification_covered"), 1001)),
        "$.guarantee.certification_covered: 1001 is more than $.guarantee.certification_rows "
        "(1000)",
    ),
    "more errors than covered": (
        lambda: _edit(_set(("guarantee", "certification_errors"), 701)),
        "$.guarantee.certification_errors: 701 is more than $.guarantee.certification_covered",
    ),
    "bound outside [0, 1]": (
        lambda: _edit(_set(("guarantee", "error_upper_bound"), 1.5)),
        "error_upper_bound must lie in [0, 1], got 1.5",
    ),
    "sum_block in format 1.0": (
        lambda: _edit(_set(("projection", "sum_block"), 1)),
        '$.format_version: "1.0" cannot hold $.projection.sum_block (added in format 1.1)',
    ),
    "code-like strings stay data": (
        lambda: _edit(_set(("rules", 0, "label"), "__import__('os').system('echo pwned')")),
        "not one of the classes",
    ),
}


@pytest.mark.parametrize("name", list(BAD_TEXTS))
def test_bad_json_gives_one_line_error(name: str) -> None:
    make, fragment = BAD_TEXTS[name]
    text = make()
    with pytest.raises(rx.RuleSetError) as e:
        rx.loads(text, source="rules.json")
    msg = str(e.value)
    assert msg.startswith("rules.json: ")
    assert fragment in msg, msg
    assert "\n" not in msg and len(msg) < 400, msg
    assert e.value.__cause__ is None or isinstance(e.value.__cause__, rx.RuleSetError)


BAD_BYTES = {
    "not UTF-8": (b'{"format": "\xff\xfe"}', "not UTF-8 text (byte 12)"),
    "UTF-16": (rx.dumps(rich_rule_set()).encode("utf-16"), "not UTF-8 text"),
    "BOM": (b"\xef\xbb\xbf" + rx.dumps(rich_rule_set()).encode(), "not valid JSON"),
    "binary junk": (bytes(range(256)) * 4, "not"),
}


@pytest.mark.parametrize("name", list(BAD_BYTES))
def test_bad_bytes_give_one_line_error(name: str, tmp_path: Path) -> None:
    data, fragment = BAD_BYTES[name]
    path = tmp_path / "rules.json"
    path.write_bytes(data)
    with pytest.raises(rx.RuleSetError) as e:
        rx.load(path)
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_newer_minor_version_with_unknown_optional_fields_is_read() -> None:
    d = doc()
    d["format_version"] = "1.7"
    d["future_top_level"] = {"anything": [1, 2]}
    d["rules"][0]["future_rule_field"] = "ignored"
    d["rules"][0]["stats"]["future_stat"] = 3
    d["guarantee"]["future_guarantee_field"] = True
    d["guarantee"]["calibrated_by"] = "a later tool"  # unknown and no near miss: kept out
    assert rx.loads(text_of(d)) == rich_rule_set()


def test_near_miss_is_case_or_one_or_two_edits_of_a_known_field() -> None:
    known = ("mode", "method", "max_error", "certification_rows", "in")
    assert schema.near_miss("MODE", known) == "mode"
    assert schema.near_miss("mod", known) == "mode"  # 1 edit of a 4-letter name
    assert schema.near_miss("mo", known) is None  # 2 edits of a 4-letter name
    assert schema.near_miss("max_eror", known) == "max_error"
    assert schema.near_miss("maxerr", known) is None  # 3 edits
    assert schema.near_miss("certification_rowz", known) == "certification_rows"
    assert schema.near_miss("id", known) is None  # too short to guess
    assert schema.near_miss("future_rule_field", known) is None


def test_guarantee_counts_that_cannot_be_are_refused_in_python_too() -> None:
    with pytest.raises(rx.RuleSetError, match="certification_covered .12. exceeds"):
        rx.Guarantee(0.01, 0.95, certification_rows=10, certification_covered=12)
    with pytest.raises(rx.RuleSetError, match="certification_errors .3. exceeds"):
        rx.Guarantee(
            0.01, 0.95, certification_rows=10, certification_covered=2, certification_errors=3
        )
    with pytest.raises(rx.RuleSetError, match="error_upper_bound must lie in"):
        rx.Guarantee(0.01, 0.95, error_upper_bound=-0.1)


def test_format_version_is_the_oldest_that_holds_the_rule_set() -> None:
    """A projection summed in blocks needs format 1.1 (a 1.0 reader refuses its unknown
    ``sum_block`` field, by schema, rather than sum it in another order); every other rule
    set is written as 1.0, which older readers read."""
    rs = rich_rule_set()
    assert rs.projection is not None and rs.projection.sum_block is None
    assert json.loads(rx.dumps(rs))["format_version"] == "1.0"
    assert "sum_block" not in json.loads(rx.dumps(rs))["projection"]
    p = rs.projection
    blocked = dataclasses.replace(
        rs, projection=rx.Projection(p.inputs, p.outputs, p.mean, p.weights, sum_block=1)
    )
    d = json.loads(rx.dumps(blocked))
    assert d["format_version"] == "1.1" and d["projection"]["sum_block"] == 1
    assert rx.loads(rx.dumps(blocked)) == blocked != rs
    d["projection"]["sum_block"] = 1.0  # JSON has one number type
    assert rx.loads(text_of(d)) == blocked
    assert "(format 1.1)" in rx.to_python(blocked) and "(format 1.0)" in rx.to_python(rs)


@pytest.mark.parametrize("bad", [0, -2, True, 2.0, "4", np.int64(0)])
def test_projection_sum_block_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(rx.RuleSetError, match="sum_block must be a positive integer"):
        rx.Projection(("a", "b"), ("z",), (0.0, 0.0), ((1.0, 1.0),), sum_block=bad)
    p = rx.Projection(("a", "b", "c"), ("z",), (0.0,) * 3, ((1.0,) * 3,), sum_block=np.int64(2))
    assert p.sum_block == 2 and type(p.sum_block) is int
    assert p.blocks() == ((0, 2), (2, 3))
    assert rx.Projection(("a", "b"), ("z",), (0.0,) * 2, ((1.0,) * 2,)).blocks() == ((0, 2),)


def test_optional_fields_may_be_missing() -> None:
    d = doc()
    for k in ("library_version", "fit_params", "data_fingerprint", "metadata", "guarantee"):
        del d[k]
    for r in d["rules"]:
        del r["stats"], r["provenance"]
    rs = rx.loads(text_of(d))
    assert rs.guarantee is None and rs.rules[0].stats == rx.RuleStats()


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(json_io.MAX_FILE_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(rx.RuleSetError, match="file is larger than"):
        rx.load(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(rx.RuleSetError, match="no such file"):
        rx.load(tmp_path / "nope.json")
    with pytest.raises(rx.RuleSetError, match="is a directory"):
        rx.load(tmp_path)


def test_save_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    rich_rule_set().save(path)
    rich_rule_set().save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_model_refuses_what_the_file_could_not_hold() -> None:
    with pytest.raises(rx.RuleSetError, match="unpaired surrogate"):
        rx.Feature("bad\udc80")
    with pytest.raises(rx.RuleSetError, match="nested deeper"):
        deep: Any = []
        for _ in range(40):
            deep = [deep]
        rx.RuleSet(rx.make_features(["a"]), ("p",), metadata={"d": deep})
    with pytest.raises(rx.RuleSetError, match="finite"):
        rx.Interval("a", float("nan"), None)
    with pytest.raises(rx.RuleSetError, match="NUL"):
        rx.Feature("a\x00b")


def test_schema_errors_name_the_broken_constraint() -> None:
    """A number out of range where null is also allowed: "must be at most 1", not a garbled
    list of the alternatives' types."""
    import json

    rs = rx.RuleSet(
        rx.make_features(["x"]),
        ("y",),
        (rx.Rule((rx.Interval("x", 0.5, None),), "y", stats=rx.RuleStats((1,), (1,), 0.5)),),
    )
    doc = json.loads(rs.to_json())
    doc["rules"][0]["stats"]["precision_lower_bound"] = 2.0
    with pytest.raises(rx.RuleSetError, match=r"precision_lower_bound: must be at most 1, got 2"):
        rx.loads(json.dumps(doc))
    doc["rules"][0]["stats"]["precision_lower_bound"] = "high"
    with pytest.raises(rx.RuleSetError, match='expected null or number, got "high"'):
        rx.loads(json.dumps(doc))


def _load_seconds(n_features: int) -> float:
    names = [f"f{i}" for i in range(n_features)]
    rs = rx.RuleSet(rx.make_features(names), (0, 1), (rx.Rule((rx.Interval("f1", 0.5, None),), 1),))
    text = rx.dumps(rs)
    best = math.inf
    for _ in range(2):
        start = time.perf_counter()
        assert len(rx.loads(text).features) == n_features
        best = min(best, time.perf_counter() - start)
    return best


def test_loading_grows_linearly_with_the_number_of_features() -> None:
    """Duplicate names were found with names.count(n) per feature: 10x the features took
    ~110x the time (80,000 features: minutes). Linear loading takes ~10x; quadratic 100x."""
    ratio = _load_seconds(30_000) / _load_seconds(3_000)
    assert ratio < 30, f"10x the features took {ratio:.0f}x the time"
