"""Messages that name the real problem: the row and line of a broken CSV, a list column where
the rules read one value, a readable row count for a tiny max_error, a NUL file refused fast."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from rules_export import Interval, Rule, RuleSet, make_features


@pytest.fixture()
def rules_file(tmp_path):
    path = tmp_path / "rules.json"
    RuleSet(make_features(["e"]), (0, 1), (Rule((Interval("e", low=0.5),), 1),)).save(path)
    return path


@pytest.mark.parametrize(
    "text,expected",
    [
        ('e,y\n0.9,1\n"0.1,0\n0.3,1\n', "row 1 (line 3): unbalanced quote"),
        ('e,y\n"0.9,1\n', "row 0 (line 2): unbalanced quote"),
        ('"e,y\n0.9,1\n', "line 1: unbalanced quote in the header"),
        ("e,y\n0.9,1\n0.1,0,5\n0.3,1\n", "row 1 (line 3) has 3 fields, the header has 2"),
        ("e,y\n\0\0\0\n", "holds a NUL byte at byte 4: not a CSV text table"),
    ],
)
def test_broken_csv_names_row_and_line(rules_file, tmp_path, cli, text, expected):
    src = tmp_path / "d.csv"
    src.write_text(text)
    line = cli.fails("audit", rules_file, src, "--target", "y", "-q")
    assert f"Error: {src}: {expected}" in line, line
    assert "no rows" not in line


def test_late_type_change_names_the_row(rules_file, tmp_path, cli):
    src = tmp_path / "late.csv"
    body = "".join(f"{i % 10 / 10},{i % 2}\n" for i in range(12_000))
    src.write_text("e,y\n" + body + "abc,1\n")
    line = cli.fails("audit", rules_file, src, "--target", "y", "-q")
    assert f"{src}: column 'e', row 12000 (line 12002): 'abc' is not a f64" in line, line


def test_list_column_where_the_rules_read_one_value(rules_file, tmp_path, cli):
    src = tmp_path / "d.parquet"
    pl.DataFrame({"e": [[0.1, 0.2], [0.9, 0.8]], "y": [0, 1]}).write_parquet(src)
    line = cli.fails("apply", rules_file, src, "-o", tmp_path / "o.csv", "-q")
    assert f"{src}: column 'e' holds lists, but the rules read it as one numeric value" in line
    assert "missing" not in line


def test_tiny_max_error_prints_a_readable_row_count(tmp_path, cli):
    x = np.random.default_rng(0).random(1000)
    src = tmp_path / "d.csv"
    pl.DataFrame({"x": x, "y": (x > 0.5).astype(np.int64)}).write_csv(src)
    res = cli.run("fit", src, "--target", "y", "-o", tmp_path / "r.json", "--max-error", "1e-300")
    assert "that needs at least about 3.0e+300 covered certification rows" in res.stderr
    assert not re.search(r"\d{20}", res.output)


def test_all_nul_file_fails_fast_and_small(tmp_path, cli):
    src = tmp_path / "nul.csv"
    with open(src, "wb") as fh:  # sparse: 200 MB of NUL bytes that take no disk
        fh.truncate(200 * 1024 * 1024)
    import tracemalloc

    tracemalloc.start()
    line = cli.fails("fit", src, "--target", "y", "-o", tmp_path / "r.json")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "holds a NUL byte at byte 0" in line
    assert peak < 20 * 1024 * 1024  # the file is not read (polars would hold all of it)
