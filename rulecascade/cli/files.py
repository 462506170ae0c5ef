"""Reading data and rule files and writing outputs for the commands; errors name the file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import click
import numpy as np
import polars as pl

import rules_export
from rules_export import RuleSet
from rules_export.files import check_output, write_atomic
from rules_export.model import answer_kind
from rules_export.reference import InputError

from .. import progress
from .errors import CliError, one_line

CHUNK_ROWS = 1_000_000
WRITERS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
}


def load_rules(path: str) -> RuleSet:
    return rules_export.load(path)


def categorical_names(rules: RuleSet) -> list[str]:
    """The features a rule set reads as categorical (read from CSV as text)."""
    return [f.name for f in rules.features if f.kind == "categorical"]


def read_data(
    path: str, typed: Sequence[str] | None = None, text_columns: Sequence[str] = ()
) -> pl.DataFrame:
    """The table in ``path`` (see ``read_table``: with ``typed``, a CSV's other columns are
    read as text; ``text_columns`` always are); a file without rows is an input error."""
    from ..data import read_table

    df = read_table(path, typed, text_columns)
    if df.height == 0:
        raise InputError(f"{path}: file has no rows")
    return df


def need_columns(
    df: pl.DataFrame, names: Sequence[str], path: str, what: str, why: str = ""
) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        s = "s" if len(missing) > 1 else ""
        shown = ", ".join(repr(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"{path}: missing {what} column{s} {shown}{why}")


def features_frame(
    df: pl.DataFrame, rules: RuleSet | None = None, path: str | None = None
) -> pl.DataFrame:
    """The data's features (embedding list columns expanded); with ``rules``, list columns
    that no feature of the rule set comes from are left out (a column the rules do not read
    may hold anything). Errors name ``path``."""
    from ..data import to_polars

    if rules is not None:  # a feature read as one value per row, given as a column of lists
        lists = [
            n
            for n in rules.used_features
            if n in df.columns and isinstance(df.schema[n], (pl.List, pl.Array))
        ]
        if lists:
            name = lists[0]
            raise InputError(
                f"{path or 'data'}: column {name!r} holds lists, but the rules read it as one "
                f"{rules.feature(name).kind} value per row"
            )
    try:
        return to_polars(df, used=None if rules is None else set(rules.feature_names))
    except InputError as e:
        if path is None:
            raise
        raise InputError(f"{path}: {one_line(e)}") from None


def check_schema(rules: RuleSet, df: pl.DataFrame, data_path: str, rules_path: str) -> None:
    """A rule file for other features fails here, naming the columns it lacks."""
    need_columns(
        df,
        rules.used_features,
        data_path,
        "feature",
        f" that the rules in {rules_path} use (a rule file for other data?)",
    )
    for name in rules.used_features:
        if rules.feature(name).kind != "numeric" or df.schema[name] not in (pl.String, pl.Utf8):
            continue
        # a numeric column read as text: name the first value that is not a number
        s = df.get_column(name)
        bad = (s.is_not_null() & s.cast(pl.Float64, strict=False).is_null()).arg_true()
        if bad.len():
            row = int(bad[0])
            raise InputError(
                f"{data_path}: column {name!r}, row {row}: {s[row]!r} is not a number "
                "(the rules treat the column as numeric)"
            )


def warn_unknown_categories(rules: RuleSet, df: pl.DataFrame, path: str) -> None:
    """A ``warning:`` line on stderr per categorical feature the rules use whose values (there
    are some) never equal a category the rules know: its conditions then match no row, which
    is seldom meant (codes written differently, another encoding, another column)."""
    used = set(rules.used_features)
    for f in rules.features:
        if f.kind != "categorical" or f.name not in used or f.name not in df.columns:
            continue
        known = set(f.categories)
        for r in rules.rules:
            known.update(v for c in r.conditions if c.feature == f.name for v in c.values)
        col = df.get_column(f.name)
        if col.dtype not in (pl.String, pl.Utf8) and not col.dtype.is_integer():
            continue  # check_schema / evaluation name a column of another type
        values = col.cast(pl.String).drop_nulls().unique()
        if values.len() == 0 or values.is_in(sorted(known)).any():
            continue
        seen = ", ".join(repr(v) for v in values.sort().head(3).to_list())
        cats = ", ".join(repr(v) for v in sorted(known)[:3])
        click.echo(
            f"warning: {path}: column {f.name!r}: no value is a category the rules know "
            f"(values {seen}{', ...' if values.len() > 3 else ''}; categories {cats}"
            f"{', ...' if len(known) > 3 else ''}): its conditions match no row",
            err=True,
        )


def rule_ids(rules: RuleSet, df: pl.DataFrame, path: str, quiet: bool) -> np.ndarray:
    """The first matching rule per row (-1: none); a bar over the chunks of a large file."""
    from ..serve import match

    n = df.height
    try:
        if n <= CHUNK_ROWS:
            return match(rules, df)
        return np.concatenate(
            [
                match(rules, df.slice(s.start, s.stop - s.start))
                for s in progress.chunks(n, CHUNK_ROWS, "matching rules", quiet=quiet)
            ]
        )
    except InputError as e:
        raise InputError(f"{path}: {one_line(e)}") from None


def writer_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    kind = WRITERS.get(suffix)
    if kind is None:
        raise CliError(
            f"{path}: unknown output type {suffix or '(none)'}; use .parquet, .csv, .tsv or .arrow"
        )
    return kind


def check_out(out: str, *inputs: str) -> None:
    """Refuse an output that is not a regular file (link, device, FIFO, directory), whose
    folder is missing, or that is the same file as one of ``inputs``; say so before any work."""
    check_output(out)
    for src in inputs:
        try:
            same = os.path.samefile(out, src)
        except OSError:  # either does not exist (yet)
            continue
        if same:
            raise CliError(f"{out}: is the input file {src}; refusing to overwrite an input")


def write_table(df: pl.DataFrame, path: str) -> None:
    """Write ``df`` to ``path`` as the suffix says, atomically (see ``write_atomic``)."""
    kind = writer_for(path)

    def write(fh: IO[bytes]) -> None:
        if kind == "parquet":
            df.write_parquet(fh)
        elif kind in ("csv", "tsv"):
            df.write_csv(fh, separator="\t" if kind == "tsv" else ",")
        else:
            df.write_ipc(fh)

    try:
        write_atomic(path, write)
    except OSError:
        raise
    except Exception as e:  # noqa: BLE001 - a writer failure (e.g. nested column to CSV)
        raise CliError(f"{path}: cannot write as {kind}: {one_line(e)}") from None


def write_text(text: str, out: str | None) -> None:
    """Print ``text`` (``out`` None or "-") or write it to ``out`` atomically."""
    if out is None or out == "-":
        click.echo(text, nl=not text.endswith("\n"))
        return
    write_atomic(out, text)


def labels_series(name: str, labels: Sequence[Any], classes: Sequence[Any]) -> pl.Series:
    """Predicted labels as one typed column (null where no rule answered)."""
    dtype = {"bool": pl.Boolean, "int64": pl.Int64, "uint64": pl.UInt64}.get(
        answer_kind(classes), pl.String
    )
    if dtype == pl.String:  # strings, and integers past 64 bits written in decimal
        labels = [None if v is None else str(v) for v in labels]
    return pl.Series(name, labels, dtype=dtype)
