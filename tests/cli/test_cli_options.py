"""Numeric options: NaN, infinities and out-of-range values are usage errors (exit 2, one
line naming the option), found before any data are read or any work is done."""

from __future__ import annotations

import pytest

from rules_export import Interval, Rule, RuleSet, make_features


@pytest.fixture()
def files(tmp_path):
    rules = tmp_path / "rules.json"
    RuleSet(make_features(["x"]), (0, 1), (Rule((Interval("x", low=0.5),), 1),)).save(rules)
    data = tmp_path / "d.csv"
    data.write_text("x,y\n0.9,1\n0.1,0\n")
    return {"rules": rules, "data": data, "dir": tmp_path}


BAD_FLOATS = ["nan", "NaN", "inf", "-inf", "Infinity", "+nan"]


@pytest.mark.parametrize("value", BAD_FLOATS)
def test_nan_and_inf_are_usage_errors_for_every_float_option(files, cli, value):
    out = files["dir"] / "r.json"
    cases = [
        ("--alpha", ("audit", files["rules"], files["data"], "--target", "y")),
        ("--max-error", ("fit", files["data"], "--target", "y", "-o", out)),
        ("--confidence", ("fit", files["data"], "--target", "y", "-o", out)),
        ("--max-error", ("demo", "--out-dir", files["dir"] / "demo", "-q")),
    ]
    for option, args in cases:
        line = cli.fails(*args, option, value)
        assert line == f"Error: Invalid value for '{option}': {value!r} is not a finite number."
    assert not out.exists() and not (files["dir"] / "demo").exists()
    line = cli.fails(
        "fit", files["data"], "--target", "y", "-o", out, "--per-class-max-error", f"1={value}"
    )
    assert "--per-class-max-error" in line


def test_seed_is_checked_as_an_option_not_blamed_on_the_data(files, cli):
    out = files["dir"] / "r.json"
    for seed in ("-1", str(2**32), "1.5", "x"):
        line = cli.fails("fit", files["data"], "--target", "y", "-o", out, "--seed", seed)
        assert line.startswith("Error: Invalid value for '--seed'"), line
        assert str(files["data"]) not in line
        line = cli.fails("demo", "--out-dir", files["dir"] / "demo", "--seed", seed, "-q")
        assert line.startswith("Error: Invalid value for '--seed'"), line


def test_range_errors_name_the_option(files, cli):
    for option, value in (("--max-error", "0"), ("--max-error", "1"), ("--confidence", "1.5")):
        line = cli.fails(
            "fit", files["data"], "--target", "y", "-o", files["dir"] / "r.json", option, value
        )
        assert line.startswith(f"Error: Invalid value for '{option}'"), line
    line = cli.fails(
        "fit", files["data"], "--target", "y", "-o", files["dir"] / "r.json", "--n-components", "0"
    )
    assert line.startswith("Error: Invalid value for '--n-components'"), line
