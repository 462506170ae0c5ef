"""Options shared by several commands, and the parsers of option values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import click
import numpy as np

from .errors import CliError

FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: for reading; json: exact and deterministic, for machines.",
)
RULE_ID_COLUMN = click.option(
    "--rule-id-column",
    default="rule_id",
    show_default=True,
    help="Output column of the answering rule's index (-1: none).",
)
LABEL_COLUMN = click.option(
    "--label-column",
    default="prediction",
    show_default=True,
    help="Output column of the answer (null: no rule answers).",
)
OUTPUT_COLUMNS = {"rule_id": "--rule-id-column", "prediction": "--label-column"}
"""The default output columns of ``apply`` and ``export``, and the options that rename them."""
QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")


class FiniteFloatRange(click.FloatRange):
    """A float option in a range; NaN and infinities are refused as usage errors (a NaN
    passes every comparison of click's own range check)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = 0.0  # click's own message for a non-number
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return super().convert(value, param, ctx)


PROBABILITY = FiniteFloatRange(0, 1, min_open=True, max_open=True)
"""A float strictly between 0 and 1 (errors, confidences, alphas)."""

SEED = click.IntRange(0, 2**32 - 1)
"""A random seed: what numpy and scikit-learn accept as ``random_state``."""


def parse_caps(values: Sequence[str]) -> list[tuple[str, float]]:
    caps = []
    for v in values:
        label, sep, eps = v.rpartition("=")
        if not sep or not label:
            raise click.BadParameter(
                f"{v!r}: expected LABEL=EPS, e.g. fraud=0.01", param_hint="--per-class-max-error"
            )
        try:
            cap = float(eps)
        except ValueError:
            raise click.BadParameter(
                f"{v!r}: {eps!r} is not a number", param_hint="--per-class-max-error"
            ) from None
        if not 0.0 < cap < 1.0:
            raise click.BadParameter(
                f"{v!r}: the cap must lie strictly between 0 and 1",
                param_hint="--per-class-max-error",
            )
        caps.append((label, cap))
    return caps


def match_label(text: str, y: np.ndarray, column: str) -> Any:
    """The label in ``y`` that ``text`` names (labels in a file are typed; the option is text)."""
    from rules_export.model import label_value

    values = {}
    for u in np.unique(y):
        u = label_value(u)
        values.setdefault(str(u).lower() if isinstance(u, bool) else str(u), u)
    key = text.lower() if text.lower() in ("true", "false") else text
    if key not in values:
        shown = ", ".join(sorted(values)[:10])
        raise CliError(
            f"--per-class-max-error: label {text!r} does not occur in column {column!r} "
            f"(labels: {shown})"
        )
    return values[key]
