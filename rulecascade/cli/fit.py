"""``rulecascade fit``: a rule set fitted on labelled data."""

from __future__ import annotations

import warnings

import click
import numpy as np
import polars as pl

from rules_export import RuleSet
from rules_export.reference import InputError

from .. import progress
from ..kernels.dispatch import DeviceError
from .errors import CliError, guard, one_line
from .files import (
    check_out,
    features_frame,
    need_columns,
    read_data,
)
from .options import OUTPUT_COLUMNS, PROBABILITY, QUIET, SEED, match_label, parse_caps
from .text import guarantee_lines, pct


@click.command()
@click.argument("data", type=click.Path())
@click.option("--target", required=True, help="Column of labels (true labels).")
@click.option(
    "--model-column",
    default=None,
    help="Fidelity mode: fit on the model's predictions in this column; --target is then "
    "used only for the report.",
)
@click.option(
    "--max-error",
    type=PROBABILITY,
    default=0.005,
    show_default=True,
    help="Error allowed on the rows the rules answer.",
)
@click.option(
    "--confidence",
    type=PROBABILITY,
    default=0.95,
    show_default=True,
    help="Confidence of the guarantee.",
)
@click.option(
    "--per-class-max-error",
    "per_class",
    multiple=True,
    metavar="LABEL=EPS",
    help="Cap the fraction of class LABEL's rows that a rule with another label answers "
    "(repeatable).",
)
@click.option(
    "--categorical",
    multiple=True,
    metavar="COL",
    help="Treat an integer column as categorical (string columns always are).",
)
@click.option("--drop", multiple=True, metavar="COL", help="Leave a column out of the features.")
@click.option(
    "--projection",
    type=click.Choice(["pca", "lda"]),
    default=None,
    help="Learn on a linear projection of the numeric columns (stored in the rule file): pca "
    "for embeddings, lda for classes that oblique cuts separate.",
)
@click.option(
    "--n-components",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Most projected features.",
)
@click.option(
    "--keep-inputs",
    is_flag=True,
    help="With --projection: learn on the numeric columns too (rules may mix both).",
)
@click.option(
    "--sequential/--independent",
    default=True,
    show_default=True,
    help="Let later rules be clean only where earlier rules do not answer (rules read in "
    "order), or keep every rule clean on its own.",
)
@click.option("--seed", type=SEED, default=None, help="Random seed (reproducible fit).")
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the fit's row passes run: cuda = numba.cuda on a GPU (same rule file); "
    "auto = the GPU when one is present and there are 100k rows or more.",
)
@click.option("-o", "--out", required=True, type=click.Path(), help="Rule file to write (JSON).")
@QUIET
@guard
def fit(
    data: str,
    target: str,
    model_column: str | None,
    max_error: float,
    confidence: float,
    per_class: tuple[str, ...],
    categorical: tuple[str, ...],
    drop: tuple[str, ...],
    projection: str | None,
    n_components: int,
    keep_inputs: bool,
    sequential: bool,
    seed: int | None,
    device: str,
    out: str,
    quiet: bool,
) -> None:
    """Fit a rule set on labelled DATA and write it to --out.

    \b
    Truth mode (default): rules are certified against --target.
    Fidelity mode (--model-column): rules are certified against the model's predictions.
    """
    from ..data import as_labels

    caps = parse_caps(per_class)
    if keep_inputs and projection is None:
        raise CliError("--keep-inputs needs --projection")
    check_out(out, data)  # say so before the fit, not after it
    df = read_data(data, text_columns=categorical)  # codes such as "01" as written, not 1
    need_columns(df, [target], data, "target")
    if model_column is not None:
        need_columns(df, [model_column], data, "model")
        if model_column == target:
            raise CliError("--model-column must differ from --target")
    need_columns(df, list(drop), data, "--drop")
    need_columns(df, list(categorical), data, "--categorical")
    label_col = model_column or target
    non_features = {target, *drop} | ({model_column} if model_column else set())
    for c in categorical:
        if c in non_features:
            raise CliError(f"--categorical {c!r} is not a feature column")
    X = df.drop(sorted(non_features))
    if X.width == 0:
        raise CliError(f"{data}: no feature columns left after --target/--model-column/--drop")
    try:
        y = as_labels(df.get_column(label_col))
    except InputError as e:
        raise InputError(f"{data}: column {label_col!r}: {one_line(e)}") from None
    per_class_caps = {match_label(lab, y, label_col): cap for lab, cap in caps} or None

    from ..learn import RuleLearner

    learner = RuleLearner(
        max_error=max_error,
        confidence=confidence,
        per_class_max_error=per_class_caps,
        mode="fidelity" if model_column else "truth",
        categorical=list(categorical) or None,
        projection=projection,
        n_components=n_components,
        keep_inputs=keep_inputs,
        sequential=sequential,
        random_state=seed,
        device=device,
    )
    with (
        progress.task(f"fitting rules on {df.height:,} rows", quiet=quiet),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            learner.fit(X, y)
        except ValueError as e:  # InputError, and the learner's checks of the labels
            raise CliError(f"{data}: {one_line(e)}") from None
        except DeviceError as e:
            raise CliError(f"--device {device}: {one_line(e)}") from None
    for w in caught:
        click.echo(f"warning: {one_line(w.message)}", err=True)
    for name, option in OUTPUT_COLUMNS.items():
        if name in X.columns:
            click.echo(
                f"warning: feature {name!r} is also an output column of apply and export: "
                f"give them {option} with another name",
                err=True,
            )
    rules = learner.rules_
    rules.save(out)
    print_fit_summary(rules, X, df, target, model_column, data, out)


def print_fit_summary(
    rules: RuleSet,
    X: pl.DataFrame,
    df: pl.DataFrame,
    target: str,
    model_column: str | None,
    data: str,
    out: str,
) -> None:
    from ..audit import label_indices, split_rows
    from ..serve import match

    click.echo(f"wrote {out}: {len(rules.rules)} rules on {len(rules.used_features)} features")
    stages = split_rows(rules)
    if stages:
        click.echo("rows per stage: " + ", ".join(f"{k} {v:,}" for k, v in stages.items()))
    for line in guarantee_lines(rules):
        click.echo(line)
    if not rules.rules:
        return
    ids = match(rules, features_frame(X))
    covered = ids >= 0
    n_cov = int(covered.sum())
    click.echo(
        f"on all of {data} (in-sample, optimistic): the rules answer {n_cov:,} of {len(ids):,} "
        f"rows ({pct(n_cov / len(ids))})"
    )
    if n_cov == 0:
        return
    rule_class = np.array([rules.classes.index(r.label) for r in rules.rules])[ids[covered]]
    checks = [(f"accuracy vs {target!r}", target)]
    if model_column:
        checks.append(("agreement with the model", model_column))
    for what, col in checks:
        try:
            truth = label_indices(rules, df.get_column(col).to_numpy())[covered]
        except InputError:  # labels of another type than the classes: nothing to compare
            continue
        click.echo(f"  on the rows they answer: {what} {np.mean(rule_class == truth):.4f}")
