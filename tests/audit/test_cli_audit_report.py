"""`rulecascade audit --by/--html/--drift` and `rulecascade certify` on rules fitted to the shuttle
data; the HTML report loaded in headless Chromium over the DevTools protocol."""

from __future__ import annotations

import json
import re

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from rulecascade import RuleLearner, datasets
from rulecascade.cli import main
from rules_export import Interval, RuleSet

try:
    import _chromium
except ImportError:  # tests/ imported as a package
    from tests import _chromium  # type: ignore[no-redef]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Rules fitted on half of shuttle; the other half (with a day column) as new data, once
    as it is and once with f1 shifted on the last two days."""
    d = tmp_path_factory.mktemp("shuttle")
    df = datasets.load("shuttle").frame
    perm = np.random.default_rng(0).permutation(df.height)
    fit, new = df[perm[:25000]], df[perm[25000:]]
    model = RuleLearner(max_error=0.01, random_state=0).fit(fit.drop("anomaly"), fit["anomaly"])
    rules_path = d / "rules.json"
    model.rules_.save(rules_path)
    new = new.with_columns((pl.int_range(pl.len()) % 5).alias("day"))
    new_path, shifted_path = d / "new.parquet", d / "shifted.parquet"
    new.write_parquet(new_path)
    new.with_columns(
        pl.when(pl.col("day") >= 3).then(pl.col("f1") + 6).otherwise("f1").alias("f1")
    ).write_parquet(shifted_path)
    return d, model.rules_, str(rules_path), str(new_path), str(shifted_path)


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_audit_json_has_features_and_chunks(fitted):
    d, rules, rp, new, shifted = fitted
    res = _run("audit", rp, shifted, "--target", "anomaly", "--by", "day", "--format", "json")
    assert res.exit_code in (0, 1), res.output
    doc = json.loads(res.stdout)
    feats = {f["feature"]: f for f in doc["features"]}
    assert set(feats) == {s.feature for s in rules.feature_summaries}
    for f in doc["features"]:
        assert {"feature", "test", "statistic", "p_value", "status"} <= set(f)
    assert feats["f1"]["status"] == "drift"
    chunks = doc["chunks"]
    assert [c["chunk"] for c in chunks] == [0, 1, 2, 3, 4]
    for c in chunks:
        assert {"chunk", "rows", "coverage", "error", "status"} <= set(c)
    assert sum(c["rows"] for c in chunks) == doc["rows"]
    # the shift is in days 3 and 4 only: their f1 drifts, the first days' does not
    f1 = [next(f for f in c["features"] if f["feature"] == "f1")["status"] for c in chunks]
    assert f1[3] == f1[4] == "drift" and "drift" not in f1[:3]
    # exit code: the bounds' verdict only (drift alone never changes it)
    assert res.exit_code == (0 if doc["holds"] and all(c["holds"] for c in chunks) else 1)


def test_drift_alone_does_not_change_the_exit_code(fitted):
    d, rules, rp, new, _ = fitted
    # a shift that moves no row across a threshold: f1 below 60 moved down by 3
    df = pl.read_parquet(new).with_columns(
        pl.when(pl.col("f1") < 60).then(pl.col("f1") - 3).otherwise("f1").alias("f1")
    )
    path = d / "moved.parquet"
    df.write_parquet(path)
    base = _run("audit", rp, new, "--target", "anomaly", "--format", "json")
    res = _run("audit", rp, path, "--target", "anomaly", "--format", "json")
    doc, before = json.loads(res.stdout), json.loads(base.stdout)
    assert doc["drift"]["status"] == "drift"
    assert doc["set"] == before["set"] and res.exit_code == base.exit_code


def test_html_report_is_self_contained_and_renders_in_chromium(fitted, tmp_path):
    d, rules, rp, new, shifted = fitted
    out = tmp_path / "report.html"
    res = _run("audit", rp, shifted, "--target", "anomaly", "--by", "day", "--html", out, "-q")
    assert res.exit_code in (0, 1), res.output
    page = out.read_text(encoding="utf-8")
    # no network reference at view time: no URL, script, stylesheet link, import or font
    # (``url(#clip)`` in the SVGs points inside the page)
    assert not re.search(
        r"https?:|//[a-z]|<script|<link|@import|url\((?!#)|<iframe|<img", page, re.I
    )
    assert re.search(r"url\(#", page)  # the pattern above does look at url(...)
    assert page.count("<svg") == 4  # rules, risk-coverage, chunks, the drifted feature f1
    for plot in ("plot-rules", "plot-risk", "plot-chunks", "plot-feature-0"):
        assert f'id="{plot}"' in page
    # thresholds drawn: the drifted feature's figure caption names each rule threshold on f1
    for t in sorted({c.high or c.low for r in rules.rules for c in r.conditions}):
        assert f"{t:.4g}:" in page
    # the same inputs give the same bytes
    again = tmp_path / "again.html"
    _run("audit", rp, shifted, "--target", "anomaly", "--by", "day", "--html", again, "-q")
    assert again.read_bytes() == out.read_bytes()
    if _chromium.find() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    load = _chromium.load(
        out.as_uri(),
        str(tmp_path / "profile"),
        {
            "svgs": "document.querySelectorAll('svg').length",
            "drawn": "Array.from(document.querySelectorAll('svg')).filter("
            "s => s.getBoundingClientRect().width > 100).length",
            "verdict": "document.getElementById('verdict').innerText",
        },
    )
    assert load.errors == []
    assert load.requests == [out.as_uri()]  # the page itself, nothing else
    assert load.values["svgs"] == 4 and load.values["drawn"] == 4
    assert "drifted (f1)" in load.values["verdict"]


def test_the_browser_check_sees_console_errors_and_requests(tmp_path):
    """The check above can fail: a page with a console error and a missing image fails it."""
    if _chromium.find() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><p>x</p><script>console.error("boom")</script><img src="gone.png">'
    )
    load = _chromium.load(bad.as_uri(), str(tmp_path / "profile"))
    assert "boom" in load.errors and any("gone.png" in u for u in load.requests)


def test_old_rule_file_audits_and_says_drift_has_no_reference(fitted, tmp_path):
    d, rules, rp, new, _ = fitted
    old = tmp_path / "old.json"
    doc = json.loads(rules.to_json())
    del doc["feature_summaries"]
    doc["format_version"] = "1.0"
    old.write_text(json.dumps(doc))
    res = _run("audit", old, new, "--target", "anomaly", "--by", "day")
    assert res.exit_code in (0, 1), res.output
    assert "feature drift: no reference" in res.stdout
    out = tmp_path / "old.html"
    res = _run("audit", old, new, "--target", "anomaly", "--html", out, "--format", "json")
    assert json.loads(res.stdout)["drift"]["reference"] is False
    assert "no reference" in out.read_text()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--by", "week"], "missing --by column 'week'"),
        (["--html", "{tmp}/no/such/dir/r.html"], "--html: {tmp}/no/such/dir/r.html: folder"),
        (["--html", "{rules}"], "is an input"),
    ],
)
def test_audit_bad_input_is_one_line_and_exit_2(fitted, tmp_path, args, message):
    d, rules, rp, new, _ = fitted
    args = [a.format(tmp=tmp_path, rules=rp) for a in args]
    res = _run("audit", rp, new, "--target", "anomaly", *args)
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert message.format(tmp=tmp_path) in err


def test_drift_asked_of_a_file_without_summaries_is_exit_2(fitted, tmp_path):
    d, rules, rp, new, _ = fitted
    old = tmp_path / "old.json"
    rules.replace(feature_summaries=()).save(old)
    res = _run("audit", old, new, "--target", "anomaly", "--drift")
    assert res.exit_code == 2
    assert "--drift:" in res.stderr and "stores no feature summaries" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def _edit(rules: RuleSet, i: int, **bounds) -> RuleSet:
    r = rules.rules[i]
    (c,) = r.conditions
    new = type(r)((Interval(c.feature, **bounds),), r.label, r.stats, "edited by hand")
    return rules.replace(rules=rules.rules[:i] + (new,) + rules.rules[i + 1 :])


def test_certify_accepts_a_valid_edit_and_refuses_a_bad_one(fitted, tmp_path):
    d, rules, rp, new, _ = fitted
    assert [c.feature for r in rules.rules for c in r.conditions] == ["f1", "f1"]
    # valid: the reviewer tightens rule 0 and deletes rule 1
    good = _edit(rules, 0, high=60.0)
    good = good.replace(rules=good.rules[:1])
    gp, out = tmp_path / "good.json", tmp_path / "certified.json"
    good.save(gp)
    res = _run("certify", gp, new, "--target", "anomaly", "-o", out)
    assert res.exit_code == 0, res.output
    assert "certified:" in res.stdout
    cert = RuleSet.load(out)
    g = cert.guarantee
    assert g.certified and g.certification_rows == pl.read_parquet(new).height
    assert g.error_upper_bound <= g.max_error == rules.guarantee.max_error
    assert cert.metadata["certified_on"]["data"] == "new.parquet"
    assert cert.rules[0].conditions == good.rules[0].conditions
    assert cert.feature_summaries == rules.feature_summaries  # the drift reference stays
    # the certified file audits clean on the rows it was certified on
    assert _run("audit", out, new, "--target", "anomaly").exit_code == 0
    # diff shows what the reviewer changed
    diff = _run("diff", rp, gp)
    assert diff.exit_code == 1 and "1 removed" in diff.stdout
    # bad: rule 0 loosened so that it answers anomalies as normal
    bad = _edit(rules, 0, high=110.0)
    bp, out2 = tmp_path / "bad.json", tmp_path / "refused.json"
    bad.save(bp)
    res = _run("certify", bp, new, "--target", "anomaly", "-o", out2, "--format", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["holds"] is False and doc["reason"].startswith("refused:")
    assert doc["errors"] / doc["covered"] > rules.guarantee.max_error
    assert not out2.exists()


def test_certify_bad_input_is_exit_2(fitted, tmp_path):
    d, rules, rp, new, _ = fitted
    for out, message in [(rp, "is an input"), (tmp_path / "none" / "x.json", "does not exist")]:
        res = _run("certify", rp, new, "--target", "anomaly", "-o", out)
        assert res.exit_code == 2 and message in res.stderr, res.output
        assert len(res.stderr.strip().splitlines()) == 1
    res = _run("certify", rp, new, "--target", "nope", "-o", tmp_path / "x.json")
    assert res.exit_code == 2 and "nope" in res.stderr


def test_html_without_the_report_extra_is_one_line(fitted, tmp_path, monkeypatch):
    import sys

    d, rules, rp, new, _ = fitted
    monkeypatch.setitem(sys.modules, "jinja2", None)  # as if the extra were not installed
    res = _run("audit", rp, new, "--target", "anomaly", "--html", tmp_path / "r.html")
    assert res.exit_code == 2
    assert "pip install 'rulecascade[report]'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "r.html").exists()


def test_no_drift_leaves_drift_out(fitted):
    d, rules, rp, new, _ = fitted
    res = _run("audit", rp, new, "--target", "anomaly", "--by", "day", "--no-drift", "-q")
    assert res.exit_code in (0, 1)
    assert "feature drift" not in res.stdout and "per day" in res.stdout
