"""`rulecascade demo`: the README's main job, end to end on the bundled credit-default data."""

from __future__ import annotations

import re

from click.testing import CliRunner

from rulecascade.cli import main
from rules_export import RuleSet


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["demo", "--out-dir", str(out), "--seed", "0"])
    assert res.exit_code == 0, (res.output, res.exception)
    # (its run time is reported on the last line; not asserted: the first run on a machine
    # also compiles the numba kernels, and CI machines are shared)
    assert re.search(r"ran in [\d.]+ s", res.stdout)
    text = res.stdout
    assert "rulecascade demo on credit_default: 10,000 rows, 3 features" in text
    cov = float(re.search(r"coverage:\s+([\d.]+)%", text).group(1))
    assert cov > 30.0
    assert re.search(r"model rows saved:\s+[\d,]+ of 2,500", text)
    assert re.search(r"accuracy vs truth:\s+model 0\.\d{4}, cascade 0\.\d{4}", text)
    assert re.search(r"agreement with the model on covered rows: (0|1)\.\d{4}", text)
    assert re.search(r"throughput:\s+model [\d.]+k? rows/s, cascade [\d.]+k? rows/s", text)
    # the exported SQL, run in DuckDB, picks the same rule as Python on every held-out row
    assert "SQL in DuckDB: the same rule as Python on 2,500 of 2,500 rows" in text
    rules = RuleSet.load(out / "rules.json")
    assert rules.guarantee.mode == "fidelity" and rules.guarantee.max_error == 0.01
    assert rules.guarantee.certified
    assert "SELECT" in (out / "rules.sql").read_text()
    report = (out / "report.md").read_text()
    assert report.startswith("# rulecascade demo: credit_default")
    assert "| sql_same_rule_rows | 2500 |" in report
    assert res.stderr == ""  # no progress bars off a terminal


def test_demo_unknown_dataset():
    res = CliRunner().invoke(main, ["demo", "--dataset", "nope"])
    assert res.exit_code == 2
    assert "unknown dataset 'nope'" in res.stderr and "Traceback" not in res.output
