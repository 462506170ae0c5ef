"""A reader that closes stdout (``| head``) is no input error: the command ends quietly with
exit code 141 (128 + SIGPIPE), and the files it wrote stay written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[2]


def _closed_stdout(*args: object) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(
        [sys.executable, "-m", "rulecascade", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    p.stdout.close()  # the reader is gone before the command writes anything
    err = p.stderr.read().decode()
    return p.wait(timeout=600), err


def test_closed_stdout_is_exit_141_and_silent(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random(1500)
    pl.DataFrame({"x": x, "y": (x > 0.5).astype(np.int64)}).write_csv(tmp_path / "d.csv")
    rules = tmp_path / "r.json"
    rc, err = _closed_stdout("fit", tmp_path / "d.csv", "--target", "y", "-o", rules, "-q")
    assert (rc, err) == (141, "")
    assert rules.is_file() and rules.read_text().startswith("{")  # written before the summary
    rc, err = _closed_stdout("export", rules, "--to", "sql")
    assert (rc, err) == (141, "")
    rc, err = _closed_stdout("show", rules)
    assert (rc, err) == (141, "")
