"""`rulecascade fit` with the real learner, on the bundled credit-default data (10,000 rows).

Each option reaches the learner and the rule file; fit -> show -> apply -> audit -> diff chain
together; every user mistake is exit 2 and one line.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from rulecascade import datasets
from rulecascade.cli import main
from rules_export import RuleSet

TARGET = "default"


def run(*args, ok=(0,)):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in ok, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def fails(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("Error:"), result.stderr
    assert "Traceback" not in result.output
    return lines[-1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    df = datasets.load("credit_default").frame.with_columns(
        pl.col("student").cast(pl.String),
        # an integer-coded column to pass through --categorical, and a stand-in "model"
        (pl.col("income") // 20000).cast(pl.Int64).alias("income_band"),
        (pl.col("balance") > 1700).cast(pl.Int64).alias("model_pred"),
    )
    path = d / "credit.parquet"
    df.write_parquet(path)
    return {"dir": d, "path": path, "frame": df}


@pytest.fixture(scope="module")
def fitted(data):
    out = data["dir"] / "rules.json"
    res = run(
        "fit",
        data["path"],
        "--target",
        TARGET,
        "--drop",
        "model_pred",
        "--max-error",
        "0.01",
        "--seed",
        "3",
        "-o",
        out,
    )
    return out, res


def test_fit_writes_a_certified_rule_file(fitted):
    out, res = fitted
    rules = RuleSet.load(out)
    assert len(rules.rules) >= 1
    g = rules.guarantee
    assert g.max_error == 0.01 and g.confidence == 0.95 and g.mode == "truth"
    assert "model_pred" not in rules.feature_names and TARGET not in rules.feature_names
    assert set(rules.feature_names) == {"student", "balance", "income", "income_band"}
    assert rules.fit_params["random_state"] == 3
    text = res.stdout
    assert f"wrote {out}: {len(rules.rules)} rule" in text
    assert "rows per stage: calibration 10,000, growth" in text
    assert "on the rows they answer: accuracy vs 'default'" in text


def test_same_seed_same_rules_and_the_chain(fitted, data, tmp_path):
    out, _ = fitted
    again = tmp_path / "again.json"
    run(
        "fit", data["path"], "--target", TARGET, "--drop", "model_pred",
        "--max-error", "0.01", "--seed", "3", "-o", again,
    )  # fmt: skip
    assert "identical (exit 0)" in run("diff", out, again).stdout
    assert "IF " in run("show", out).stdout
    applied = tmp_path / "applied.csv"
    run("apply", out, data["path"], "-o", applied)
    got = pl.read_csv(applied)
    assert got.height == 10_000 and got.columns[-2:] == ["rule_id", "prediction"]
    # auditing on its own calibration data: every bound holds
    doc = json.loads(run("audit", out, data["path"], "--target", TARGET, "--format", "json").stdout)
    assert doc["holds"] is True
    assert all(r["fit_coverage"] is not None for r in doc["rules"])


def test_other_seed_is_a_difference(fitted, data, tmp_path):
    out, _ = fitted
    other = tmp_path / "other.json"
    run(
        "fit", data["path"], "--target", TARGET, "--drop", "model_pred",
        "--max-error", "0.01", "--seed", "4", "-o", other,
    )  # fmt: skip
    res = run("diff", out, other, ok=(1,))
    assert "fit_params random_state: 3 -> 4" in res.stdout
    assert res.stdout.rstrip().endswith("different (exit 1)")


def test_fit_device_option(fitted, data, tmp_path, monkeypatch):
    """--device cpu writes the default fit's bytes; --device cuda without a GPU is exit 2."""
    from rulecascade.kernels import dispatch

    out, _ = fitted
    cpu = tmp_path / "cpu.json"
    run(
        "fit", data["path"], "--target", TARGET, "--drop", "model_pred",
        "--max-error", "0.01", "--seed", "3", "--device", "cpu", "-o", cpu,
    )  # fmt: skip
    assert cpu.read_bytes() == out.read_bytes()
    monkeypatch.setattr(dispatch, "cuda_available", lambda: False)
    msg = fails("fit", data["path"], "--target", TARGET, "--device", "cuda", "-o", tmp_path / "g")
    assert "--device cuda" in msg and "no usable GPU" in msg
    assert not (tmp_path / "g").exists()
    assert (
        "'gpu' is not one of"
        in CliRunner()
        .invoke(main, ["fit", str(data["path"]), "--target", TARGET, "--device", "gpu", "-o", "x"])
        .output
    )


def test_fidelity_mode_per_class_caps_and_categorical(data, tmp_path):
    out = tmp_path / "fid.json"
    res = run(
        "fit", data["path"], "--target", TARGET, "--model-column", "model_pred",
        "--max-error", "0.02", "--per-class-max-error", "1=0.05",
        "--categorical", "income_band", "--seed", "0", "-o", out,
    )  # fmt: skip
    rules = RuleSet.load(out)
    g = rules.guarantee
    assert g.mode == "fidelity" and g.max_error == 0.02
    assert g.per_class_max_error == ((1, 0.05),)
    assert rules.feature("income_band").kind == "categorical"
    assert "model_pred" not in rules.feature_names and TARGET not in rules.feature_names
    assert "agreement with the model" in res.stdout
    assert "accuracy vs 'default'" in res.stdout


def test_fit_projection_options_reach_the_rule_file(data, tmp_path):
    out = tmp_path / "lda.json"
    run(
        "fit", data["path"], "--target", TARGET, "--drop", "model_pred", "--max-error", "0.02",
        "--projection", "lda", "--keep-inputs", "--seed", "0", "-o", out,
    )  # fmt: skip
    rules = RuleSet.load(out)
    p = rules.projection
    assert p is not None and p.outputs == ("ld0",)  # two classes: one discriminant direction
    assert set(p.inputs) == {"balance", "income", "income_band"}
    assert rules.fit_params["projection"] == "lda" and rules.fit_params["keep_inputs"] is True
    out2 = tmp_path / "pca.json"
    run(
        "fit", data["path"], "--target", TARGET, "--drop", "model_pred", "--max-error", "0.02",
        "--projection", "pca", "--n-components", "2", "--seed", "0", "-o", out2,
    )  # fmt: skip
    assert RuleSet.load(out2).projection.outputs == ("pc0", "pc1")
    # the applied file answers the same rows as the Python API on the projected rule file
    applied = tmp_path / "applied.csv"
    run("apply", out, data["path"], "-o", applied)
    from rules_export.reference import match as ref_match

    frame = data["frame"].drop(TARGET, "model_pred")
    got = pl.read_csv(applied)["rule_id"].fill_null(-1).to_numpy()
    want = ref_match(rules, {c: frame[c].to_numpy() for c in rules.feature_names})
    assert np.array_equal(got, want)


def test_fit_sequential_flag_reaches_the_rule_file(data, tmp_path):
    files = {}
    for flag in ("--sequential", "--independent"):
        out = tmp_path / f"{flag[2:]}.json"
        run(
            "fit", data["path"], "--target", TARGET, "--drop", "model_pred",
            "--max-error", "0.02", flag, "--seed", "0", "-o", out,
        )  # fmt: skip
        files[flag] = RuleSet.load(out)
    assert files["--sequential"].fit_params["sequential"] is True
    assert files["--independent"].fit_params["sequential"] is False
    # without a flag: sequential
    out = tmp_path / "default.json"
    run(
        "fit", data["path"], "--target", TARGET, "--drop", "model_pred",
        "--max-error", "0.02", "--seed", "0", "-o", out,
    )  # fmt: skip
    assert RuleSet.load(out).to_json() == files["--sequential"].to_json()


def test_fit_reports_when_no_rule_qualifies(tmp_path):
    df = pl.DataFrame({"x": np.arange(200.0), "y": np.arange(200) % 2})
    path = tmp_path / "noise.csv"
    df.write_csv(path)
    res = run("fit", path, "--target", "y", "--seed", "0", "-o", tmp_path / "r.json")
    assert "0 rules" in res.stdout
    assert res.stderr.startswith("warning: ") and len(res.stderr.strip().splitlines()) == 1
    assert RuleSet.load(tmp_path / "r.json").rules == ()


def test_fit_user_errors(data, tmp_path):
    p, out = data["path"], tmp_path / "r.json"
    assert "missing target column 'nope'" in fails("fit", p, "--target", "nope", "-o", out)
    assert "missing model column 'm'" in fails(
        "fit", p, "--target", TARGET, "--model-column", "m", "-o", out
    )
    assert "--model-column must differ from --target" in fails(
        "fit", p, "--target", TARGET, "--model-column", TARGET, "-o", out
    )
    assert "missing --drop column 'zzz'" in fails(
        "fit", p, "--target", TARGET, "--drop", "zzz", "-o", out
    )
    assert "column 'balance' is Float64 but is used as a categorical" in fails(
        "fit", p, "--target", TARGET, "--categorical", "balance", "-o", out
    )
    assert "expected LABEL=EPS" in fails(
        "fit", p, "--target", TARGET, "--per-class-max-error", "0.01", "-o", out
    )
    assert "strictly between 0 and 1" in fails(
        "fit", p, "--target", TARGET, "--per-class-max-error", "1=2", "-o", out
    )
    assert "label 'fraud' does not occur in column 'default'" in fails(
        "fit", p, "--target", TARGET, "--per-class-max-error", "fraud=0.01", "-o", out
    )
    assert "--max-error" in fails("fit", p, "--target", TARGET, "--max-error", "0", "-o", out)
    assert "Missing option '-o'" in fails("fit", p, "--target", TARGET)
    line = fails("fit", p, "--target", "balance", "-o", out)  # a continuous "label"
    assert "credit.parquet" in line and "continuous" in line
    assert "is a directory" in fails("fit", p, "--target", TARGET, "-o", tmp_path)
    assert "--keep-inputs needs --projection" in fails(
        "fit", p, "--target", TARGET, "--keep-inputs", "-o", out
    )
    assert "'svd' is not one of 'pca', 'lda'" in fails(
        "fit", p, "--target", TARGET, "--projection", "svd", "-o", out
    )
    assert not out.exists()


def test_fit_missing_labels(data, tmp_path):
    df = data["frame"].with_columns(
        pl.when(pl.int_range(pl.len()) == 42).then(None).otherwise(pl.col(TARGET)).alias(TARGET)
    )
    p = tmp_path / "holes.parquet"
    df.write_parquet(p)
    line = fails("fit", p, "--target", TARGET, "-o", tmp_path / "r.json")
    assert "holes.parquet: column 'default': label is missing at row 42" in line


def test_fit_confidence_too_close_to_one_and_missing_output_directory(data, tmp_path):
    msg = fails(
        "fit", data["path"], "--target", TARGET, "--confidence", "0.9999999999999999",
        "-o", tmp_path / "r.json",
    )  # fmt: skip
    assert "no number of rows can certify" in msg
    msg = fails("fit", data["path"], "--target", TARGET, "-o", tmp_path / "nodir" / "r.json")
    assert "nodir' does not exist" in msg
