"""``apply`` passes the columns the rules do not read through unchanged (CSV text byte for
byte, parquet/arrow types kept)."""

from __future__ import annotations

import csv

import polars as pl
import pytest

PASS_THROUGH = {
    "id": ["00123", "00124", "0", "-0", "7"],
    "zip": ["02134", "10001", "", "00501", "99950"],
    "price": ["1.50", "2.00", "1e3", "0.10", "-0.0"],
    "flag": ["TRUE", "false", "True", "", "FALSE"],
    "note": ["a,b", 'say "hi"', " padded ", "x", "NaN"],
}


def _write_csv(path, sep=","):
    x = ["0.9", "0.1", "0.35", "0.6", "0.05"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        w.writerow(["id", "x", "zip", "price", "flag", "note"])
        for i in range(5):
            w.writerow(
                [PASS_THROUGH["id"][i], x[i]]
                + [PASS_THROUGH[c][i] for c in PASS_THROUGH if c != "id"]
            )


@pytest.mark.parametrize("suffix,sep", [(".csv", ","), (".tsv", "\t")])
def test_csv_pass_through_columns_keep_their_text(rules_file, tmp_path, cli, suffix, sep):
    src, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    _write_csv(src, sep)
    cli.run("apply", rules_file, src, "-o", out, "-q")
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh, delimiter=sep))
    header, body = rows[0], rows[1:]
    assert header == ["id", "x", "zip", "price", "flag", "note", "rule_id", "prediction"]
    for col, values in PASS_THROUGH.items():
        assert [r[header.index(col)] for r in body] == values, col
    assert [r[header.index("rule_id")] for r in body] == ["0", "1", "-1", "0", "1"]


def test_parquet_and_arrow_keep_their_types(rules_file, tmp_path, cli):
    df = pl.DataFrame(
        {
            "id": pl.Series([123, 124, 0], dtype=pl.Int32),
            "x": [0.9, 0.1, 0.35],
            "zip": ["02134", "10001", None],
            "price": pl.Series([1.5, 2.0, 0.1], dtype=pl.Float32),
            "flag": [True, False, None],
        }
    )
    for suffix, write, read in (
        (".parquet", df.write_parquet, pl.read_parquet),
        (".arrow", df.write_ipc, pl.read_ipc),
    ):
        src, out = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
        write(src)
        cli.run("apply", rules_file, src, "-o", out, "-q")
        got = read(out)
        assert got.select(df.columns).equals(df) and got.select(df.columns).schema == df.schema
