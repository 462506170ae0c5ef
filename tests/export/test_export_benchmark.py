"""Smoke test of benchmarks/export.py (the real run is `python benchmarks/export.py`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "export.py"


def load():
    spec = importlib.util.spec_from_file_location("export_benchmark", PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_tables_render_and_check_agreement() -> None:
    pytest.importorskip("duckdb")
    bench = load()
    render = bench.render_table([10])
    assert render.count("\n") == 4 and "| 10 | SQL duckdb |" in render
    evaluation = bench.eval_table([10], n_rows=2000, python_rows=500)
    assert "DuckDB, exported SELECT" in evaluation and "reference (numpy)" in evaluation
