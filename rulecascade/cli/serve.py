"""``rulecascade apply`` and ``export``: rules answering the rows of a file, or rendered for elsewhere."""

from __future__ import annotations

import click
import polars as pl

import rules_export
from rules_export.dialects import supported_dialects
from rules_export.model import answer_kind

from .errors import CliError, guard, one_line
from .files import (
    categorical_names,
    check_out,
    check_schema,
    features_frame,
    labels_series,
    load_rules,
    read_data,
    rule_ids,
    warn_unknown_categories,
    write_table,
    write_text,
    writer_for,
)
from .options import LABEL_COLUMN, QUIET, RULE_ID_COLUMN
from .text import pct


@click.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@click.argument("data", type=click.Path())
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(),
    help="Output file: .parquet, .csv, .tsv or .arrow (by suffix).",
)
@RULE_ID_COLUMN
@LABEL_COLUMN
@QUIET
@guard
def apply(
    rules_path: str, data: str, out: str, rule_id_column: str, label_column: str, quiet: bool
) -> None:
    """Answer the rows of DATA with the rules and write OUT.

    OUT holds every input column in the input's row order, unchanged, plus `rule_id` (the first
    matching rule, -1 where none) and `prediction` (its label, null where no rule answers: those
    rows go to the model); --rule-id-column / --label-column rename the two.
    """
    if rule_id_column == label_column:
        raise click.BadParameter(
            f"{label_column!r} is also the --rule-id-column", param_hint="--label-column"
        )
    writer_for(out)
    check_out(out, rules_path, data)
    rules = load_rules(rules_path)
    try:  # the prediction column is typed by the classes (refused: 1 and "1" as text)
        answer_kind(rules.classes)
    except ValueError as e:
        raise CliError(f"{rules_path}: {e}") from None
    # columns passed through stay as written; categorical codes such as "01" too
    df = read_data(data, typed=rules.used_features, text_columns=categorical_names(rules))
    for name, option in ((rule_id_column, "--rule-id-column"), (label_column, "--label-column")):
        if name in df.columns:
            raise CliError(
                f"{data}: already has a column {name!r}; name the output column with {option}"
            )
    X = features_frame(df, rules, data)
    check_schema(rules, X, data, rules_path)
    warn_unknown_categories(rules, X, data)
    ids = rule_ids(rules, X, data, quiet)
    labels = [r.label for r in rules.rules] + [None]
    pred = labels_series(label_column, [labels[i] for i in ids], rules.classes)
    result = df.with_columns(pl.Series(rule_id_column, ids, dtype=pl.Int64), pred)
    write_table(result, out)
    n_cov = int((ids >= 0).sum())
    click.echo(
        f"wrote {out}: {len(ids):,} rows, {n_cov:,} answered by rules ({pct(n_cov / len(ids))}), "
        f"{len(ids) - n_cov:,} left for the model",
        err=True,
    )


def _dialect(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A supported SQL dialect, or a usage error naming them."""
    from rules_export.sql import get_dialect

    try:
        get_dialect(value)
    except ValueError as e:
        raise click.BadParameter(one_line(e)) from None
    return value


@click.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@click.option(
    "--to",
    "to",
    type=click.Choice(["sql", "python", "json", "audit-sql"]),
    required=True,
    help="sql: one SELECT (or expression); python: a standalone module; json: canonical JSON; "
    "audit-sql: the audit's counts as one aggregate query (needs --target).",
)
@click.option(
    "--dialect",
    default="duckdb",
    show_default=True,
    callback=_dialect,
    help=f"SQL dialect: {', '.join(supported_dialects())}.",
)
@click.option("--table", default=None, help='SQL: table to read (default "input").')
@click.option(
    "--form",
    type=click.Choice(["select", "rule_id", "label"]),
    default="select",
    show_default=True,
    help="sql: a SELECT adding rule_id and prediction, or just the rule-id / label expression.",
)
@click.option("--target", default=None, help="audit-sql: the column of labels.")
@click.option(
    "--by", default=None, metavar="COL", help="audit-sql: group the counts by chunk column COL."
)
@RULE_ID_COLUMN
@LABEL_COLUMN
@click.option(
    "-o", "--out", type=click.Path(), default=None, help="File to write (default stdout)."
)
@guard
def export(
    rules_path: str,
    to: str,
    dialect: str,
    table: str | None,
    form: str,
    target: str | None,
    by: str | None,
    rule_id_column: str,
    label_column: str,
    out: str | None,
) -> None:
    """Render a rule set as SQL, a Python module, or canonical JSON.

    \b
    --to audit-sql prints the query that `audit` runs, for data in a warehouse:
    rows per rule_id (-1: none) and per class; `rulecascade.audit.counts_from_sql_rows`
    and `audit_from_counts` turn its result into the audit report. With --by COL
    the counts are grouped by (COL, rule_id): `chunk_counts_from_sql_rows`.
    """
    if to == "audit-sql" and not target:
        raise click.UsageError("--to audit-sql needs --target COL")
    if out is not None and out != "-":
        check_out(out, rules_path)
    if by is not None and to != "audit-sql":
        raise click.UsageError("--by is an option of --to audit-sql")
    rules = load_rules(rules_path)
    if to == "json":
        text = rules.to_json()
    elif to == "python":
        text = rules_export.to_python(rules)
    else:
        if to == "audit-sql":
            from ..audit import audit_sql

            text = audit_sql(rules, table or "input", target, dialect, by=by, pretty=True)
        else:
            try:
                text = rules_export.to_sql(
                    rules,
                    dialect=dialect,
                    table=table,
                    form=form,
                    rule_id_column=rule_id_column,
                    label_column=label_column,
                )
            except ValueError as e:  # output columns that clash with a feature or each other
                raise CliError(f"{rules_path}: {one_line(e)}") from None
    write_text(text if text.endswith("\n") else text + "\n", out)
