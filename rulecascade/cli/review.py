"""``rulecascade show``, ``audit``, ``certify`` and ``diff``: reading, re-testing, re-certifying
and comparing rule sets."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rules_export.reference import InputError

from .. import progress
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
    write_text,
)
from .options import FORMAT, PROBABILITY, QUIET
from .text import audit_text, certify_text, chunks_text, diff_text, drift_text, show_text


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
@click.option(
    "--by",
    "by",
    default=None,
    metavar="COL",
    help="Audit each value of COL (a day, a week, a batch id) as its own chunk, in sorted order.",
)
@click.option(
    "--html",
    "html_path",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Also write a self-contained HTML report with plots (needs the 'report' extra).",
)
@click.option(
    "--drift/--no-drift",
    "want_drift",
    default=None,
    help="Feature drift against the summaries stored at fit (default: when the file has them; "
    "--drift on a file without them is an error).",
)
@FORMAT
@QUIET
@guard
def audit(
    rules_path: str,
    data: str,
    target: str,
    alpha: float,
    by: str | None,
    html_path: str | None,
    want_drift: bool | None,
    fmt: str,
    quiet: bool,
) -> None:
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
    Feature drift (files written since format 1.2): per feature the rules read,
    a chi-squared test against the calibration bins stored at fit, PSI beside,
    and the mass below each threshold; ok / warn (p < 0.05) / drift (p < 0.001
    and PSI >= 0.1). Drift never changes the exit code.

    \b
    --by COL: the same audit per value of COL (tests at alpha / chunks); a
    broken chunk is a broken bound.

    \b
    Exit codes: 0 every bound holds, 1 a rule or the set breaks its bound,
    2 usage or input error.
    """
    from ..audit import audit as run_audit
    from ..audit import drift as run_drift

    if html_path is not None:
        check_output(html_path, "--html", (rules_path, data))
    rules = load_rules(rules_path)
    if want_drift and not rules.feature_summaries:
        raise CliError(
            f"--drift: {rules_path} stores no feature summaries (written at fit since format "
            "1.2), so drift has no reference; refit, or leave out --drift"
        )
    df = read_data(data, text_columns=categorical_names(rules))
    need_columns(df, [target], data, "target")
    if by is not None:
        need_columns(df, [by], data, "--by")
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
    drift = None
    if want_drift is not False:
        with progress.task("feature drift", quiet=quiet):
            drift = run_drift(rules, X)
    chunks = None
    if by is not None:
        from ..audit import audit_chunks

        chunks = audit_chunks(
            rules,
            X,
            y,
            df.get_column(by),
            alpha=alpha,
            rule_ids=ids,
            by_name=by,
            quiet=quiet,
            with_drift=want_drift is not False,
        )
    if fmt == "json":
        doc = report.to_dict()
        if drift is not None:
            doc["drift"] = {
                "reference": drift.reference,
                "note": drift.note,
                "status": drift.status(),
            }
            doc["features"] = [f.to_dict() for f in drift.features]
        if chunks is not None:
            doc["by"] = by
            doc["chunks"] = chunks.to_list()
        click.echo(json.dumps(doc, sort_keys=True, indent=1, allow_nan=False))
    else:
        text = audit_text(report, rules_path, data)
        if drift is not None:
            text += "\n" + drift_text(drift)
        if chunks is not None:
            text += "\n" + chunks_text(chunks)
        click.echo(text, nl=False)
    if html_path is not None:
        from ..audit.html import MissingExtraError, render_html

        try:
            page = render_html(
                rules,
                report,
                drift if drift is not None else _no_drift(),
                chunks,
                rules_path=rules_path,
                data_path=data,
            )
        except MissingExtraError as e:
            raise CliError(f"--html: {one_line(e)}") from None
        write_text(page, html_path)
    if not report.holds or (chunks is not None and not chunks.holds):
        sys.exit(EXIT_BROKEN)


def _no_drift() -> Any:
    from ..audit.drift import DriftReport

    return DriftReport(False, (), "not measured (--no-drift)")


def check_output(path: str, option: str, inputs: tuple[str, ...]) -> None:
    """An output path whose folder exists and that is none of the inputs."""
    p = Path(path)
    if not p.parent.exists():
        raise CliError(f"{option}: {path}: folder {str(p.parent)!r} does not exist")
    if p.is_dir():
        raise CliError(f"{option}: {path}: is a directory")
    for i in inputs:
        if p.exists() and Path(i).exists() and p.resolve() == Path(i).resolve():
            raise CliError(f"{option}: {path} is an input; outputs never overwrite an input")


@click.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--target", required=True, help="Labels of the fresh rows (as for audit).")
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The certified rule file to write (never one of the inputs).",
)
@click.option(
    "--max-error",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="The error bound to certify (default: the rule file's guarantee).",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Its confidence (default: the rule file's guarantee).",
)
@FORMAT
@QUIET
@guard
def certify(
    rules_path: str,
    data: str,
    target: str,
    out: str,
    max_error: float | None,
    confidence: float | None,
    fmt: str,
    quiet: bool,
) -> None:
    """Re-certify a rule set edited by hand on fresh labelled DATA.

    \b
    The edited set (rules deleted, thresholds tightened, rules reordered) is
    tested as it stands with the fit's exact test: "error on the rows the rules
    answer <= max_error" by the one-sided binomial test at level 1 - confidence,
    and every per-class cap likewise. If it holds, OUTPUT gets the rule set with
    the new guarantee, each rule's counts and bound on these rows, and the data it
    was certified on (metadata.certified_on); if not, nothing is written and the
    figures say why. `rulecascade diff` shows what the reviewer changed.

    \b
    Exit codes: 0 certified (OUTPUT written), 1 refused, 2 usage or input error.
    """
    from ..audit.certify import certify_rules

    check_output(out, "-o", (rules_path, data))
    rules = load_rules(rules_path)
    df = read_data(data)
    need_columns(df, [target], data, "target")
    X = features_frame(df, rules, data)
    check_schema(rules, X, data, rules_path)
    ids = rule_ids(rules, X, data, quiet)
    from ..data import as_labels

    try:
        y = as_labels(df.get_column(target))
    except InputError as e:
        raise CliError(f"{data}: column {target!r}: {one_line(e)}") from None
    try:
        result = certify_rules(
            rules,
            X,
            y,
            max_error=max_error,
            confidence=confidence,
            source=Path(data).name,
            rule_ids=ids,
        )
    except InputError as e:
        raise InputError(f"{data}: {one_line(e)}") from None
    if result.holds and result.rules is not None:
        result.rules.save(out)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), sort_keys=True, indent=1, allow_nan=False))
    else:
        click.echo(certify_text(result, rules_path, data, out), nl=False)
    if not result.holds:
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
