"""``rulecascade show``, ``audit`` and ``diff``: reading, re-testing and comparing rule sets."""

from __future__ import annotations

import sys

import click

from rules_export.reference import InputError

from .errors import EXIT_BROKEN, CliError, guard, one_line
from .files import (
    categorical_names,
    check_schema,
    features_frame,
    load_rules,
    need_columns,
    read_data,
    rule_ids,
    warn_unknown_categories,
)
from .options import FORMAT, PROBABILITY, QUIET
from .text import audit_text, diff_text, show_text


@click.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@FORMAT
@guard
def show(rules_path: str, fmt: str) -> None:
    """Print a rule set: its rules in order, support, precision bounds, guarantee and schema.

    --format json prints the canonical JSON of the rule file.
    """
    rules = load_rules(rules_path)
    click.echo(rules.to_json() if fmt == "json" else show_text(rules, rules_path), nl=False)


@click.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@click.argument("data", type=click.Path())
@click.option(
    "--target",
    required=True,
    help="Labels to check against: true labels for a truth guarantee, the model's predictions "
    "for a fidelity one.",
)
@click.option(
    "--alpha",
    type=PROBABILITY,
    default=0.05,
    show_default=True,
    help="Family-wise false-alarm rate: if every bound holds, the audit fails by chance with "
    "probability at most alpha (Bonferroni over all tests).",
)
@FORMAT
@QUIET
@guard
def audit(rules_path: str, data: str, target: str, alpha: float, fmt: str, quiet: bool) -> None:
    """Re-measure a rule set on new labelled DATA and check every bound it claims.

    \b
    Per rule: the rows it answers (first match wins) and the rows its conditions
    cover; precision, its lower bound at the guarantee's confidence, the bound
    claimed at fit, and the drift of its coverage against the fit (support /
    validation rows). Bound checks and drift use the covered rows, as the fit does.
    For the set: coverage and the error on covered rows against the max_error (and
    per-class caps) it was fitted for.

    \b
    A rule is BROKEN when the new data reject "precision >= claimed bound" by an
    exact one-sided binomial test (its upper Clopper-Pearson bound lies below the
    claimed bound); the set is BROKEN when they reject "error <= max_error";
    a per-class cap likewise. Tests run at alpha / (number of tests).

    \b
    Exit codes: 0 every bound holds, 1 a rule or the set breaks its bound,
    2 usage or input error.
    """
    from ..audit import audit as run_audit

    rules = load_rules(rules_path)
    df = read_data(data, text_columns=categorical_names(rules))
    need_columns(df, [target], data, "target")
    X = features_frame(df, rules, data)
    check_schema(rules, X, data, rules_path)
    warn_unknown_categories(rules, X, data)
    ids = rule_ids(rules, X, data, quiet)
    from ..data import as_labels

    try:  # a missing, NaN or infinite label is an input error, not an error of the rules
        y = as_labels(df.get_column(target))
    except InputError as e:
        raise CliError(f"{data}: column {target!r}: {one_line(e)}") from None
    try:
        report = run_audit(rules, X, y, alpha=alpha, rule_ids=ids)
    except InputError as e:
        raise InputError(f"{data}: column {target!r}: {one_line(e)}") from None
    if fmt == "json":
        click.echo(report.to_json(), nl=False)
    else:
        click.echo(audit_text(report, rules_path, data), nl=False)
    if not report.holds:
        sys.exit(EXIT_BROKEN)


@click.command(name="diff")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@FORMAT
@guard
def diff_cmd(a: str, b: str, fmt: str) -> None:
    """Compare rule sets A (old) and B (new).

    \b
    Rules are paired by their conditions (identical first, then the same features
    with moved thresholds); reported: rules added, removed and changed
    (thresholds, label, precision bound, counts), a change of their order, and
    differences in guarantee, feature schema, classes, fit parameters and data
    fingerprint. Library version and metadata are shown but not counted.

    \b
    Exit codes: 0 identical, 1 different, 2 usage or input error.
    """
    from ..audit import diff

    ra, rb = load_rules(a), load_rules(b)
    d = diff(ra, rb)
    click.echo(d.to_json() if fmt == "json" else diff_text(d, a, b), nl=False)
    if not d.identical:
        sys.exit(EXIT_BROKEN)
