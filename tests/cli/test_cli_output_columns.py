"""``apply`` names its output columns as asked (--rule-id-column/--label-column, as
``export``), and ``fit`` warns about a feature named like one of them."""

from __future__ import annotations

import numpy as np
import polars as pl


def test_apply_output_column_options(rules_file, tmp_path, cli):
    src = tmp_path / "in.csv"
    pl.DataFrame({"x": [0.9, 0.1], "rule_id": ["a", "b"], "prediction": [1, 2]}).write_csv(src)
    line = cli.fails("apply", rules_file, src, "-o", tmp_path / "o.csv", "-q")
    assert "already has a column 'rule_id'; name the output column with --rule-id-column" in line
    line = cli.fails(
        "apply", rules_file, src, "-o", tmp_path / "o.csv", "--rule-id-column", "rid", "-q"
    )
    assert "already has a column 'prediction'; name the output column with --label-column" in line
    cli.run(
        "apply",
        rules_file,
        src,
        "-o",
        tmp_path / "o.csv",
        "--rule-id-column",
        "rid",
        "--label-column",
        "answer",
        "-q",
    )
    got = pl.read_csv(tmp_path / "o.csv")
    assert got.columns == ["x", "rule_id", "prediction", "rid", "answer"]
    assert got["rid"].to_list() == [0, 1] and got["answer"].to_list() == [1, 0]
    assert got["rule_id"].to_list() == ["a", "b"]
    line = cli.fails(
        "apply",
        rules_file,
        src,
        "-o",
        tmp_path / "o.csv",
        "--rule-id-column",
        "z",
        "--label-column",
        "z",
        "-q",
    )
    assert "--label-column" in line


def test_fit_warns_about_a_feature_named_like_an_output_column(tmp_path, cli):
    rng = np.random.default_rng(3)
    x = rng.random(1500)
    src = tmp_path / "d.csv"
    pl.DataFrame({"rule_id": x, "y": (x > 0.5).astype(np.int64)}).write_csv(src)
    res = cli.run("fit", src, "--target", "y", "-o", tmp_path / "r.json", "-q")
    assert (
        "warning: feature 'rule_id' is also an output column of apply and export: "
        "give them --rule-id-column with another name" in res.stderr
    )
    out = tmp_path / "o.csv"
    cli.run("apply", tmp_path / "r.json", src, "-o", out, "--rule-id-column", "rid", "-q")
    assert pl.read_csv(out)["rid"].min() >= -1
