"""The rulecascade CLI on real data (sklearn's breast cancer set written to files in tmp_path).

Every command's success path, its output files and exit codes, and every user mistake: exit code
2, one line on stderr naming the file/column/row/value, and never a Python traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from rulecascade import datasets
from rulecascade.cli import main
from rules_export import (
    Guarantee,
    InSet,
    Interval,
    Rule,
    RuleSet,
    RuleStats,
    make_features,
)
from rules_export.reference import match as reference_match

TARGET = "benign"


def _rules(features, **kw) -> RuleSet:
    """Hand-written rules on breast cancer (benign=1), with plausible fit statistics; a
    feature named ``zone`` is categorical ("01".."04")."""
    cats = {"zone": ["01", "02", "03", "04"]}
    base = dict(
        features=make_features(features, [f for f in features if f in cats], cats),
        classes=(0, 1),
        rules=(
            Rule(
                (Interval("worst_radius", high=13.0), Interval("worst_concave_points", high=0.12)),
                1,
                RuleStats((0, 150), (1, 100), 0.95),
            ),
            Rule(
                (Interval("worst_concave_points", low=0.2),), 0, RuleStats((60, 0), (40, 0), 0.93)
            ),
            Rule((Interval("mean_radius", low=18.0),), 0, RuleStats((30, 1), (20, 1), 0.8)),
        ),
        guarantee=Guarantee(
            max_error=0.02,
            confidence=0.95,
            certified=True,
            error_upper_bound=0.015,
            certification_rows=200,
            certification_covered=120,
            certification_errors=0,
            method="binomial",
        ),
        metadata={"split_rows": {"growth": 200, "validation": 200, "certification": 169}},
        library_version="0.1.0",
    )
    base.update(kw)
    return RuleSet(**base)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    ds = datasets.load("breast_cancer")
    df = ds.frame
    paths = {
        "parquet": d / "bc.parquet",
        "csv": d / "bc.csv",
        "arrow": d / "bc.arrow",
        "npy": d / "bc.npy",
    }
    df.write_parquet(paths["parquet"])
    df.write_csv(paths["csv"])
    df.write_ipc(paths["arrow"])
    np.save(paths["npy"], ds.X.to_numpy())
    rules = _rules(ds.features)
    rules.save(d / "rules.json")
    paths["rules"] = d / "rules.json"
    paths["dir"] = d
    paths["frame"] = df
    paths["features"] = ds.features
    return paths


def run(*args, ok=(0,)):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in ok, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def fails(*args) -> str:
    """A user mistake: exit 2, no traceback, one line on stderr; returns that line."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    # click's usage errors print the usage first; our own errors are exactly one line
    assert lines and lines[-1].startswith("Error:"), result.stderr
    assert result.stdout == ""
    return lines[-1]


# --- help and exit codes ---------------------------------------------------------------------------
def test_help_documents_exit_codes_and_commands():
    out = run("--help").output
    for word in ("fit", "show", "apply", "export", "audit", "diff", "demo"):
        assert word in out
    assert "0  success" in out and "1  audit" in out and "2  usage or input error" in out
    audit_help = run("audit", "--help").output
    assert "Exit codes: 0 every bound holds, 1 a rule or the set breaks its bound" in audit_help
    assert "Exit codes: 0 identical, 1 different" in run("diff", "--help").output


def test_version():
    assert "rulecascade, version" in run("--version").output


# --- show ------------------------------------------------------------------------------------------
def test_show_table(files):
    out = run("show", files["rules"]).stdout
    assert "3 rules" in out
    assert "IF worst_concave_points <= 0.12 AND worst_radius <= 13.0 THEN 1" in out
    assert "error on covered rows <= 0.02 vs true labels, at 95% confidence" in out
    assert "features: 30 (30 numeric, 0 categorical)" in out
    assert "classes: 0, 1" in out
    # support and bound of rule 0
    line = next(ln for ln in out.splitlines() if ln.startswith("0 "))
    assert line.split()[-2:] == ["101", "0.9500"]


def test_show_json_is_canonical(files):
    out = run("show", files["rules"], "--format", "json").stdout
    assert out == files["rules"].read_text()
    assert RuleSet.from_json(out) == RuleSet.load(files["rules"])


def test_show_names_a_projection_and_its_summation_blocks(tmp_path):
    from rules_export import Projection

    names = [f"e{i}" for i in range(5)]
    proj = Projection(tuple(names), ("ld0",), (0.0,) * 5, ((1.0,) * 5,), sum_block=2)
    p = tmp_path / "proj.json"
    RuleSet(make_features(names), (0, 1), (Rule((Interval("ld0", 0.5),), 1),), proj).save(p)
    out = run("show", p).stdout
    assert "projection: 5 inputs -> 1 derived features (ld0), summed in blocks of 2" in out


def test_show_empty_rule_set(files, tmp_path):
    p = tmp_path / "empty.json"
    _rules(files["features"], rules=()).save(p)
    assert "no rules" in run("show", p).stdout


# --- apply -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("src", ["parquet", "csv", "arrow"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".arrow"])
def test_apply_keeps_columns_and_order(files, tmp_path, src, suffix):
    out = tmp_path / f"out{suffix}"
    run("apply", files["rules"], files[src], "-o", out)
    from rulecascade.data import read_table

    got = read_table(out)
    df = files["frame"]
    assert got.columns == [*df.columns, "rule_id", "prediction"]
    assert got.height == df.height
    assert got.select(df.columns).equals(df.select(df.columns).cast(got.select(df.columns).schema))
    rules = RuleSet.load(files["rules"])
    want = reference_match(rules, df)
    np.testing.assert_array_equal(got["rule_id"].to_numpy(), want)
    labels = np.array([r.label for r in rules.rules])
    pred = got["prediction"]
    assert pred.dtype == pl.Int64
    assert pred.is_null().to_numpy().tolist() == (want < 0).tolist()
    np.testing.assert_array_equal(pred.drop_nulls().to_numpy(), labels[want[want >= 0]])


def test_apply_in_chunks_is_the_same(files, tmp_path, monkeypatch):
    import rulecascade.cli.files as cli_files

    monkeypatch.setattr(cli_files, "CHUNK_ROWS", 100)  # 569 rows -> 6 chunks
    out = tmp_path / "chunked.parquet"
    run("apply", files["rules"], files["parquet"], "-o", out)
    want = reference_match(RuleSet.load(files["rules"]), files["frame"])
    np.testing.assert_array_equal(pl.read_parquet(out)["rule_id"].to_numpy(), want)


def test_apply_npy_embeddings(files, tmp_path):
    names = [f"x{i}" for i in range(len(files["features"]))]
    col = {n: f"x{i}" for i, n in enumerate(files["features"])}
    rules = _rules(
        names,
        rules=tuple(
            Rule(
                tuple(Interval(col[c.feature], c.low, c.high) for c in r.conditions),
                r.label,
                r.stats,
            )
            for r in _rules(files["features"]).rules
        ),
    )
    rp = tmp_path / "emb.json"
    rules.save(rp)
    out = tmp_path / "out.parquet"
    run("apply", rp, files["npy"], "-o", out)
    got = pl.read_parquet(out)
    assert got.columns == [*names, "rule_id", "prediction"]
    want = reference_match(RuleSet.load(files["rules"]), files["frame"])
    np.testing.assert_array_equal(got["rule_id"].to_numpy(), want)


def test_apply_refuses_classes_whose_text_is_one(tmp_path):
    """Classes 1 and "1" would both be written as the text "1" in the prediction column."""
    data = tmp_path / "x.csv"
    pl.DataFrame({"x": [0.9, 0.1]}).write_csv(data)
    rp = tmp_path / "mixed.json"
    RuleSet(
        make_features(["x"]),
        (1, "1"),
        (Rule((Interval("x", 0.5),), 1), Rule((Interval("x", high=0.5),), "1")),
    ).save(rp)
    msg = fails("apply", rp, data, "-o", tmp_path / "out.parquet")
    assert "classes 1 and '1' have the same text '1'" in msg


def test_apply_categorical_and_string_labels(tmp_path):
    df = pl.DataFrame(
        {
            "country": ["FR", "DE", None, "US", "FR"],
            "amount": [1.0, 50.0, 3.0, None, 100.0],
            "note": ["a", "b", "c", "d", "e"],
        }
    )
    data = tmp_path / "tx.csv"
    df.write_csv(data)
    rules = RuleSet(
        features=make_features(["country", "amount"], categorical=["country"]),
        classes=("fraud", "ok"),
        rules=(
            Rule((InSet("country", ("FR",)), Interval("amount", high=10.0)), "ok"),
            Rule((Interval("amount", low=40.0),), "fraud"),
        ),
    )
    rp = tmp_path / "r.json"
    rules.save(rp)
    out = tmp_path / "out.parquet"
    run("apply", rp, data, "-o", out)
    got = pl.read_parquet(out)
    assert got["rule_id"].to_list() == [0, 1, -1, -1, 1]
    assert got["prediction"].to_list() == ["ok", "fraud", None, None, "fraud"]
    assert got["note"].to_list() == df["note"].to_list()


# --- export ----------------------------------------------------------------------------------------
def test_export_json_to_stdout_and_file(files, tmp_path):
    assert run("export", files["rules"], "--to", "json").stdout == files["rules"].read_text()
    out = tmp_path / "copy.json"
    run("export", files["rules"], "--to", "json", "-o", out)
    assert out.read_text() == files["rules"].read_text()


def test_export_sql_runs_in_duckdb_with_the_same_rule_per_row(files, tmp_path):
    import duckdb

    out = tmp_path / "rules.sql"
    run("export", files["rules"], "--to", "sql", "--table", "bc", "-o", out)
    con = duckdb.connect()
    con.register("bc", files["frame"].with_row_index("row_nr").to_arrow())
    got = con.execute(
        f'SELECT "rule_id" FROM ({out.read_text()}) AS q ORDER BY "row_nr"'
    ).fetchall()
    want = reference_match(RuleSet.load(files["rules"]), files["frame"])
    np.testing.assert_array_equal([r[0] for r in got], want)
    expr = run("export", files["rules"], "--to", "sql", "--form", "rule_id", "--dialect", "sqlite")
    assert expr.stdout.startswith("CASE WHEN")


def test_export_sql_output_column_names(tmp_path):
    """A feature named like an output column (in any case) is one line and exit 2; the
    output columns can be renamed."""
    import duckdb

    import rules_export as rx

    rs = rx.RuleSet(
        rx.make_features(["Prediction"]),
        ("y", "n"),
        (rx.Rule((rx.Interval("Prediction", 0.5, None),), "y"),),
    )
    path = tmp_path / "rules.json"
    rs.save(path)
    msg = fails("export", path, "--to", "sql")
    assert "output column 'prediction' clashes with feature 'Prediction'" in msg
    sql = run(
        "export", path, "--to", "sql", "--rule-id-column", "rid", "--label-column", "answer"
    ).stdout
    con = duckdb.connect()
    con.execute('CREATE TABLE input ("Prediction" DOUBLE)')
    con.execute("INSERT INTO input VALUES (0.1), (1.0)")
    assert con.execute(f"SELECT rid, answer FROM ({sql}) q").fetchall() == [(-1, None), (0, "y")]
    assert "must differ" in fails(
        "export", path, "--to", "sql", "--rule-id-column", "x", "--label-column", "X"
    )


def test_export_python_module_gives_the_same_rule_per_row(files, tmp_path):
    out = tmp_path / "rules_module.py"
    run("export", files["rules"], "--to", "python", "-o", out)
    ns: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)
    cols = {c: files["frame"][c].to_list() for c in files["features"]}
    want = reference_match(RuleSet.load(files["rules"]), files["frame"])
    assert ns["match_columns"](cols) == want.tolist()


# --- audit -----------------------------------------------------------------------------------------
def test_audit_holds_exit_0(files):
    res = run("audit", files["rules"], files["parquet"], "--target", TARGET)
    out = res.stdout
    assert "verdict: every bound holds (exit 0)" in out
    assert "set: 256 of 569 rows covered (45.0%; at fit 60.0%)" in out
    # rule 0 answers 132 rows; fit coverage 101/200 = 50.5%
    row0 = next(ln for ln in out.splitlines() if ln.startswith("0 "))
    assert "132" in row0 and "50.5%" in row0 and "-27.3pt" in row0 and row0.endswith("ok")


def test_audit_json_exact_and_deterministic(files):
    a = run("audit", files["rules"], files["csv"], "--target", TARGET, "--format", "json").stdout
    b = run("audit", files["rules"], files["parquet"], "--target", TARGET, "--format", "json")
    assert a == b.stdout
    doc = json.loads(a)
    assert a == json.dumps(doc, sort_keys=True, indent=1) + "\n"
    assert doc["holds"] is True and doc["broken_rules"] == []
    rules = RuleSet.load(files["rules"])
    ids = reference_match(rules, files["frame"])
    y = files["frame"][TARGET].to_numpy()
    for r in doc["rules"]:
        mask = ids == r["index"]
        assert r["rows"] == int(mask.sum())
        assert r["correct"] == int((y[mask] == rules.rules[r["index"]].label).sum())
        assert r["coverage"] == r["rows"] / 569
        assert r["fit_coverage"] == rules.rules[r["index"]].stats.support / 200
    assert doc["set"]["covered"] == int((ids >= 0).sum())
    assert doc["set"]["max_error"] == 0.02


def test_audit_broken_rule_exit_1(files, tmp_path):
    rules = _rules(
        files["features"],
        rules=(Rule((Interval("mean_radius", low=12.0),), 0, RuleStats((50, 1), (50, 1), 0.99)),),
    )
    rp = tmp_path / "bad.json"
    rules.save(rp)
    res = run("audit", rp, files["parquet"], "--target", TARGET, ok=(1,))
    assert "BROKEN" in res.stdout and "verdict: BROKEN: rule 0, set error (exit 1)" in res.stdout
    assert "rule 0 is broken: IF mean_radius > 12.0 THEN 0: precision" in res.stdout
    doc = json.loads(
        run("audit", rp, files["parquet"], "--target", TARGET, "--format", "json", ok=(1,)).stdout
    )
    assert doc["holds"] is False and doc["broken_rules"] == [0]
    assert doc["set"]["broken"] is True


def test_audit_chance_dip_does_not_break(files, tmp_path):
    # claimed 0.97, measured 1.0 on 72 rows: holds; claimed 0.999 on a perfect rule with few rows
    # cannot be rejected either (the upper bound of 72/72 is 1)
    rules = _rules(
        files["features"],
        rules=(
            Rule((Interval("worst_concave_points", low=0.2),), 0, RuleStats((1, 0), (1, 0), 0.999)),
        ),
    )
    rp = tmp_path / "tight.json"
    rules.save(rp)
    run("audit", rp, files["parquet"], "--target", TARGET)


def test_audit_drift_unknown_without_split_sizes(files, tmp_path):
    rp = tmp_path / "nosplit.json"
    _rules(files["features"], metadata={}).save(rp)
    out = run("audit", rp, files["parquet"], "--target", TARGET).stdout
    assert "unknown" in out
    doc = json.loads(
        run("audit", rp, files["parquet"], "--target", TARGET, "--format", "json").stdout
    )
    assert all(r["coverage_drift"] is None for r in doc["rules"])


def test_audit_per_class_cap(files, tmp_path):
    g = Guarantee(max_error=0.5, confidence=0.95, per_class_max_error=((1, 0.01),))
    rules = _rules(
        files["features"],
        guarantee=g,
        rules=(Rule((Interval("mean_radius", low=13.0),), 0, RuleStats()),),
    )
    rp = tmp_path / "cap.json"
    rules.save(rp)
    res = run("audit", rp, files["parquet"], "--target", TARGET, ok=(1,))
    assert "per class 1:" in res.stdout and "class 1 cap" in res.stdout


# --- diff ------------------------------------------------------------------------------------------
def test_diff_identical_exit_0(files, tmp_path):
    copy = tmp_path / "copy.json"
    shutil.copy(files["rules"], copy)
    out = run("diff", files["rules"], copy).stdout
    assert "identical (exit 0)" in out
    doc = json.loads(run("diff", files["rules"], copy, "--format", "json").stdout)
    assert doc["identical"] is True


def test_diff_different_exit_1(files, tmp_path):
    a = RuleSet.load(files["rules"])
    r0, r1, r2 = a.rules
    moved = Rule((Interval("worst_radius", high=13.5), r0.conditions[0]), 1, r0.stats)
    new = Rule((InSet("country", ("FR",)),), 0)
    feats = (*a.features, *make_features(["country"], categorical=["country"]))
    b = a.replace(
        features=feats,
        rules=(moved, r2, new),
        guarantee=Guarantee(max_error=0.01, confidence=0.95),
    )
    bp = tmp_path / "b.json"
    b.save(bp)
    res = run("diff", files["rules"], bp, ok=(1,))
    out = res.stdout
    assert "1 changed, 1 added, 1 removed" in out
    assert "worst_radius <= 13.0  ->  worst_radius <= 13.5" in out
    assert "- [1] IF worst_concave_points > 0.2 THEN 0" in out
    assert "+ [2] IF country in {'FR'} THEN 0" in out
    assert "guarantee max_error: 0.02 -> 0.01" in out
    assert "features: + country (categorical)" in out
    doc = json.loads(run("diff", files["rules"], bp, "--format", "json", ok=(1,)).stdout)
    assert doc["identical"] is False
    assert doc["removed"] == [{"index": 1, "rule": r1.describe()}]
    # a projection: added, then its weights and summation blocks changed
    from rules_export import Projection

    names = ("worst_radius", "mean_radius", "mean_texture")
    p1 = Projection(names, ("pc0",), (0.0,) * 3, ((1.0, 1.0, 1.0),))
    p2 = Projection(names, ("pc0",), (0.0,) * 3, ((1.0, 2.0, 1.0),), sum_block=2)
    (cp, dp) = (tmp_path / "c.json", tmp_path / "d.json")
    a.replace(projection=p1).save(cp)
    a.replace(projection=p2).save(dp)
    assert "projection: added" in run("diff", files["rules"], cp, ok=(1,)).stdout
    assert "projection: changed (weights, sum_block)" in run("diff", cp, dp, ok=(1,)).stdout


# --- errors: exit 2, one line, no traceback --------------------------------------------------------
def test_missing_files(files, tmp_path):
    assert "nope.json: no such file" in fails("show", tmp_path / "nope.json")
    assert "nope.parquet: no such file" in fails(
        "apply", files["rules"], tmp_path / "nope.parquet", "-o", tmp_path / "o.csv"
    )
    assert "no such file" in fails("audit", files["rules"], tmp_path / "x.csv", "--target", TARGET)
    assert "no such file" in fails("diff", files["rules"], tmp_path / "b.json")
    assert "is a directory" in fails("show", tmp_path)
    assert "is a directory" in fails("audit", files["rules"], tmp_path, "--target", TARGET)


def test_malformed_rule_files(files, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "rulecascade.ruleset", ')
    assert "bad.json: not valid JSON" in fails("show", bad)
    bad.write_text('{"hello": 1}')
    assert "not a rulecascade rule set" in fails("export", bad, "--to", "json")
    doc = json.loads(files["rules"].read_text())
    doc["rules"][0]["label"] = 7
    bad.write_text(json.dumps(doc))
    line = fails("apply", bad, files["csv"], "-o", tmp_path / "o.csv")
    assert "bad.json" in line and "7" in line
    bad.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in fails("show", bad)


def test_rule_file_for_other_features(files, tmp_path):
    other = RuleSet(
        features=make_features(["balance", "income"]),
        classes=(0, 1),
        rules=(Rule((Interval("balance", high=500.0),), 0),),
    )
    rp = tmp_path / "other.json"
    other.save(rp)
    line = fails("audit", rp, files["parquet"], "--target", TARGET)
    assert "bc.parquet" in line and "'balance'" in line and "other.json" in line
    line = fails("apply", rp, files["csv"], "-o", tmp_path / "o.csv")
    assert "missing feature column 'balance' that the rules in" in line


def test_missing_target_column(files):
    line = fails("audit", files["rules"], files["parquet"], "--target", "label")
    assert "bc.parquet: missing target column 'label'" in line


def test_wrong_type_in_a_feature_column(files, tmp_path):
    df = files["frame"].with_columns(pl.col("worst_radius").cast(pl.String).str.replace(r"^1", "x"))
    p = tmp_path / "typo.csv"
    df.write_csv(p)
    line = fails("apply", files["rules"], p, "-o", tmp_path / "o.csv")
    assert "typo.csv: column 'worst_radius', row 3: 'x4.91' is not a number" in line


def test_labels_that_are_not_classes(files, tmp_path):
    df = files["frame"].with_columns(
        pl.when(pl.col(TARGET) == 1).then(pl.lit("yes")).otherwise(pl.lit("no")).alias(TARGET)
    )
    p = tmp_path / "strlabels.parquet"
    df.write_parquet(p)
    line = fails("audit", files["rules"], p, "--target", TARGET)
    assert "is a class of the rule set" in line and "'no'" in line and TARGET in line


def test_missing_label(files, tmp_path):
    df = files["frame"].with_columns(
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col(TARGET)).alias(TARGET)
    )
    p = tmp_path / "nolabel.parquet"
    df.write_parquet(p)
    assert "label is missing at row 7" in fails("audit", files["rules"], p, "--target", TARGET)


def test_empty_files(files, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty.csv" in fails("audit", files["rules"], empty, "--target", TARGET)
    header = tmp_path / "header.csv"
    header.write_text(",".join(files["frame"].columns) + "\n")
    assert "header.csv: file has no rows" in fails(
        "apply", files["rules"], header, "-o", tmp_path / "o.csv"
    )
    empty_json = tmp_path / "empty.json"
    empty_json.write_text("")
    assert "empty.json: not valid JSON" in fails("show", empty_json)


def test_bad_files_and_types(files, tmp_path):
    txt = tmp_path / "data.txt"
    txt.write_text("a,b\n1,2\n")
    assert "unknown file type .txt" in fails("audit", files["rules"], txt, "--target", TARGET)
    vec = tmp_path / "vec.npy"
    np.save(vec, np.arange(3.0))
    assert "vec.npy" in fails("apply", files["rules"], vec, "-o", tmp_path / "o.csv")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    assert "garbage.parquet: cannot read as parquet" in fails(
        "apply", files["rules"], garbage, "-o", tmp_path / "o.csv"
    )


def test_apply_output_errors(files, tmp_path):
    assert "unknown output type .xlsx" in fails(
        "apply", files["rules"], files["csv"], "-o", tmp_path / "o.xlsx"
    )
    assert "does not exist" in fails(
        "apply", files["rules"], files["csv"], "-o", tmp_path / "no" / "o.csv"
    )
    applied = tmp_path / "applied.parquet"
    run("apply", files["rules"], files["csv"], "-o", applied)
    assert "already has a column 'rule_id'" in fails(
        "apply", files["rules"], applied, "-o", tmp_path / "again.parquet"
    )


def test_usage_errors(files):
    assert "Missing option '--target'" in fails("audit", files["rules"], files["csv"])
    assert "--alpha" in fails(
        "audit", files["rules"], files["csv"], "--target", TARGET, "--alpha", "2"
    )
    assert "--format" in fails("show", files["rules"], "--format", "xml")
    assert "No such command" in fails("frobnicate")
    assert "--to" in fails("export", files["rules"], "--to", "rust")
    assert "unknown SQL dialect 'nosql'; supported: bigquery, databricks, duckdb" in fails(
        "export", files["rules"], "--to", "sql", "--dialect", "nosql"
    )


def test_dialects_are_the_supported_ones_and_listed_in_help(files):
    """prql and dax rendered text that sqlglot cannot parse back: refused by name, exit 2."""
    import sqlglot

    from rules_export.dialects import supported_dialects

    for d in ("prql", "dax", "oracle"):
        line = fails("export", files["rules"], "--to", "sql", "--dialect", d)
        assert f"unsupported SQL dialect '{d}'; supported: " in line and "--dialect" in line
    line = fails("export", files["rules"], "--to", "audit-sql", "--target", "y", "--dialect", "x")
    assert "unknown SQL dialect 'x'" in line
    help_text = " ".join(run("export", "--help").stdout.split())
    assert "SQL dialect: " + ", ".join(supported_dialects()) + "." in help_text
    for d in supported_dialects():
        sql = run("export", files["rules"], "--to", "sql", "--dialect", d).stdout
        assert len(sqlglot.parse(sql, read=d)) == 1, d


# --- the installed executable ----------------------------------------------------------------------
def _executable() -> list[str]:
    exe = shutil.which("rulecascade")
    return [exe] if exe else [sys.executable, "-m", "rulecascade"]


def test_installed_executable(files, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = _executable()
    res = subprocess.run([*cmd, "--help"], capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0 and "audit" in res.stdout
    res = subprocess.run(
        [*cmd, "audit", str(files["rules"]), str(files["parquet"]), "--target", TARGET],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "every bound holds" in res.stdout
    assert res.stderr == ""  # no progress bars when stderr is not a terminal
    res = subprocess.run(
        [*cmd, "show", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert res.returncode == 2
    assert res.stderr.strip() == f"Error: {tmp_path / 'missing.json'}: no such file"
    assert "Traceback" not in res.stderr


def test_python_dash_m(files):
    res = subprocess.run(
        [sys.executable, "-m", "rulecascade", "show", str(files["rules"])],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert res.returncode == 0, res.stderr
    assert "3 rules" in res.stdout


# --- found by adversarial testing ----------------------------------------------------------------
def test_apply_writes_labels_past_int64(files, tmp_path):
    """Integer classes at or past 2**63 (a fit on uint64 labels makes them): UInt64, or the
    decimal text past 64 bits; no traceback."""
    ds = datasets.load("breast_cancer")
    for big, dtype in ((2**63 + 5, pl.UInt64), (10**30, pl.String)):
        base = _rules(ds.features)
        rules = RuleSet(
            base.features,
            (0, big),
            tuple(Rule(r.conditions, big if r.label == 1 else 0, r.stats) for r in base.rules),
        )
        path = tmp_path / "big.json"
        rules.save(path)
        out = tmp_path / "out.parquet"
        run("apply", path, files["parquet"], "-o", out)
        got = pl.read_parquet(out)
        assert got.schema["prediction"] == dtype
        want = [None if i < 0 else str(rules.rules[i].label) for i in got["rule_id"]]
        assert [None if v is None else str(v) for v in got["prediction"]] == want


def test_audit_refuses_nan_labels_instead_of_counting_them_as_errors(files, tmp_path):
    df = datasets.load("breast_cancer").frame.with_columns(pl.col(TARGET).cast(pl.Float64))
    p = tmp_path / "nan.parquet"
    df.with_columns(
        pl.when(pl.int_range(pl.len()) == 5)
        .then(float("nan"))
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    ).write_parquet(p)
    msg = fails("audit", files["rules"], p, "--target", TARGET)
    assert f"column '{TARGET}': label is missing or not finite at row 5" in msg


def test_apply_and_audit_pass_list_columns_the_rules_do_not_read(files, tmp_path):
    df = datasets.load("breast_cancer").frame
    tags = [["a"] if i % 2 else ["b", "c"] for i in range(df.height)]  # ragged: no embedding
    p = tmp_path / "tags.parquet"
    df.with_columns(pl.Series("tags", tags)).write_parquet(p)
    out = tmp_path / "out.parquet"
    run("apply", files["rules"], p, "-o", out)
    got = pl.read_parquet(out)
    assert got["tags"].to_list() == tags and got.height == df.height
    run("audit", files["rules"], p, "--target", TARGET, ok=(0, 1))
    # a list column the rules do read (an embedding) must be regular; the error names the file
    from rules_export import Feature

    emb = RuleSet((Feature("tags_0"),), (0, 1), (Rule((Interval("tags_0", None, 0.5),), 1),))
    emb_path = tmp_path / "emb.json"
    emb.save(emb_path)
    msg = fails("apply", emb_path, p, "-o", tmp_path / "o2.parquet")
    assert "tags.parquet: column 'tags': embedding lists have different lengths" in msg


def test_csv_with_a_repeated_header_name_is_refused(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("worst_radius,benign,worst_radius\n1,1,2\n")
    msg = fails("fit", p, "--target", "benign", "-o", tmp_path / "r.json")
    assert "dup.csv: duplicate column name(s) 'worst_radius'" in msg


def test_audit_says_when_the_guarantee_was_not_certified(files, tmp_path):
    """A rule file fitted with certify=False still records its target: audit tests it the
    same way and says it was a target, not a certified bound."""
    ds = datasets.load("breast_cancer")
    path = tmp_path / "target.json"
    _rules(ds.features, guarantee=Guarantee(max_error=0.02, confidence=0.95)).save(path)
    res = run("audit", path, files["parquet"], "--target", TARGET, ok=(0, 1))
    assert "(a target: not certified at fit)" in res.stdout
    doc = json.loads(
        run(
            "audit", path, files["parquet"], "--target", TARGET, "--format", "json", ok=(0, 1)
        ).stdout
    )
    assert doc["set"]["certified"] is False and doc["set"]["p_value"] is not None
    certified = json.loads(
        run("audit", files["rules"], files["parquet"], "--target", TARGET, "--format", "json",
            ok=(0, 1)).stdout
    )  # fmt: skip
    assert certified["set"]["certified"] is True


# --- categorical codes in CSV files ----------------------------------------------------------------
def _zone_frame(files) -> pl.DataFrame:
    """Breast cancer with a zero-padded code column: the quartile of worst_radius, "01".."04"."""
    df = files["frame"]
    q = df["worst_radius"].rank("ordinal") * 4 // (df.height + 1)
    return df.with_columns(zone=pl.format("0{}", (q + 1).cast(pl.Int64)))


def _zone_rules(files) -> RuleSet:
    """zone "01" (small tumours) -> benign, "04" -> malignant; the categories as fitted."""
    return _rules(
        [*files["features"], "zone"],
        rules=(Rule((InSet("zone", ("01",)),), 1), Rule((InSet("zone", ("04",)),), 0)),
    )


def test_categorical_codes_from_csv_match_as_in_parquet(files, tmp_path):
    """polars infers "01" as the integer 1: apply on the CSV answered 0% and audit said
    "every bound holds" on rules that read nothing. The rules' categorical columns are read
    as text; CSV and parquet of the same data give the same answers and the same audit."""
    df = _zone_frame(files)
    pq, csv = tmp_path / "zone.parquet", tmp_path / "zone.csv"
    df.write_parquet(pq)
    df.write_csv(csv)
    assert pl.read_csv(csv)["zone"].dtype == pl.Int64  # the trap
    rp = tmp_path / "zone_rules.json"
    _zone_rules(files).save(rp)
    outs = {}
    for src in (pq, csv):
        out = tmp_path / f"applied_{src.suffix[1:]}.parquet"
        res = run("apply", rp, src, "-o", out)
        assert "warning" not in res.stderr
        outs[src.suffix] = pl.read_parquet(out)
    ids = outs[".csv"]["rule_id"]
    assert ids.to_list() == outs[".parquet"]["rule_id"].to_list()
    assert (ids == 0).sum() > 100 and (ids == 1).sum() > 100
    assert outs[".csv"]["zone"].to_list() == df["zone"].to_list()  # "01", as written
    from rulecascade import Cascade
    from rulecascade.serve import match

    rules = _zone_rules(files)
    assert match(rules, str(csv)).tolist() == ids.to_list()  # a path given to the library
    cascade = Cascade(rules, lambda X: np.full(len(X), 0))
    assert cascade.predict(str(csv)).tolist() == cascade.predict(str(pq)).tolist()
    audits = [
        run("audit", rp, src, "--target", TARGET, "--format", "json", ok=(0, 1))
        for src in (pq, csv)
    ]
    assert audits[0].exit_code == audits[1].exit_code
    assert json.loads(audits[0].stdout) == json.loads(audits[1].stdout)


def test_fit_reads_categorical_codes_from_csv_as_written(files, tmp_path):
    csv = tmp_path / "zone_fit.csv"
    _zone_frame(files).write_csv(csv)
    out = tmp_path / "fitted.json"
    run("fit", csv, "--target", TARGET, "--categorical", "zone", "-o", out)
    zone = [f for f in json.loads(out.read_text())["features"] if f["name"] == "zone"]
    assert zone and zone[0]["categories"] == ["01", "02", "03", "04"]


def test_categorical_values_that_never_match_are_a_warning(files, tmp_path):
    """Codes stored as integers (1..4 for "01".."04"): the conditions on them match no row.
    apply and audit say so on stderr; audit still exits by its bounds."""
    df = _zone_frame(files).with_columns(pl.col("zone").cast(pl.Int64))
    src = tmp_path / "zone_int.parquet"
    df.write_parquet(src)
    rp = tmp_path / "zone_rules.json"
    _zone_rules(files).save(rp)
    res = run("apply", rp, src, "-o", tmp_path / "o.parquet")
    warn = [ln for ln in res.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == 1, res.stderr
    assert f"{src}: column 'zone': no value is a category the rules know" in warn[0]
    assert "values '1', '2', '3', ...; categories '01', '02', '03', ..." in warn[0]
    res = run("audit", rp, src, "--target", TARGET, ok=(0, 1))
    assert any(ln.startswith("warning: ") and "'zone'" in ln for ln in res.stderr.splitlines())
    assert "verdict:" in res.stdout
    # some values known: no warning
    part = df.with_columns(pl.col("zone").cast(pl.String).replace("1", "01"))
    part.write_parquet(src)
    assert "warning" not in run("apply", rp, src, "-o", tmp_path / "o2.parquet").stderr
