"""The ``rulecascade`` command line: a thin layer over the library.

Every user mistake (missing file or column, wrong type, empty file, malformed rule file, a rule
file for other features) ends as one line on stderr naming the file, column, row or value, and
exit code 2; the library's error types (``InputError``, ``RuleSetError``) are caught here.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import polars as pl

import rules_export
from rules_export import RuleSet, RuleSetError
from rules_export.model import answer_kind
from rules_export.reference import InputError

from . import __version__, progress
from .kernels.dispatch import DeviceError

EXIT_BROKEN = 1
EXIT_USAGE = 2

CHUNK_ROWS = 1_000_000
_WRITERS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
}


class CliError(click.ClickException):
    """A usage or input error: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return " ".join(text.split()) if text else type(e).__name__


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's error types (and failed file I/O) into one line and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (InputError, RuleSetError) as e:
            raise CliError(_one_line(e)) from None
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise CliError(f"{where}{e.strerror or _one_line(e)}") from None

    return wrapper


# --- shared helpers ------------------------------------------------------------------------------
def _load_rules(path: str) -> RuleSet:
    return rules_export.load(path)


def _read_data(path: str) -> pl.DataFrame:
    from .data import read_table

    df = read_table(path)
    if df.height == 0:
        raise InputError(f"{path}: file has no rows")
    return df


def _need_columns(
    df: pl.DataFrame, names: Sequence[str], path: str, what: str, why: str = ""
) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        s = "s" if len(missing) > 1 else ""
        shown = ", ".join(repr(n) for n in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"{path}: missing {what} column{s} {shown}{why}")


def _features_frame(
    df: pl.DataFrame, rules: RuleSet | None = None, path: str | None = None
) -> pl.DataFrame:
    """The data's features (embedding list columns expanded); with ``rules``, list columns
    that no feature of the rule set comes from are left out (a column the rules do not read
    may hold anything). Errors name ``path``."""
    from .data import to_polars

    try:
        return to_polars(df, used=None if rules is None else set(rules.feature_names))
    except InputError as e:
        if path is None:
            raise
        raise InputError(f"{path}: {_one_line(e)}") from None


def _check_schema(rules: RuleSet, df: pl.DataFrame, data_path: str, rules_path: str) -> None:
    """A rule file for other features fails here, naming the columns it lacks."""
    _need_columns(
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


def _rule_ids(rules: RuleSet, df: pl.DataFrame, path: str, quiet: bool) -> np.ndarray:
    """The first matching rule per row (-1: none); a bar over the chunks of a large file."""
    from .audit import _match

    n = df.height
    try:
        if n <= CHUNK_ROWS:
            return _match(rules, df)
        return np.concatenate(
            [
                _match(rules, df.slice(s.start, s.stop - s.start))
                for s in progress.chunks(n, CHUNK_ROWS, "matching rules", quiet=quiet)
            ]
        )
    except InputError as e:
        raise InputError(f"{path}: {_one_line(e)}") from None


def _writer_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    kind = _WRITERS.get(suffix)
    if kind is None:
        raise CliError(
            f"{path}: unknown output type {suffix or '(none)'}; use .parquet, .csv, .tsv or .arrow"
        )
    return kind


def _write_table(df: pl.DataFrame, path: str) -> None:
    kind = _writer_for(path)
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{path}: is a directory")
    if not p.parent.exists():
        raise CliError(f"{path}: directory {str(p.parent)!r} does not exist")
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        if kind == "parquet":
            df.write_parquet(tmp)
        elif kind in ("csv", "tsv"):
            df.write_csv(tmp, separator="\t" if kind == "tsv" else ",")
        else:
            df.write_ipc(tmp)
        os.replace(tmp, p)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as e:  # noqa: BLE001 - a writer failure (e.g. nested column to CSV)
        tmp.unlink(missing_ok=True)
        raise CliError(f"{path}: cannot write as {kind}: {_one_line(e)}") from None


def _write_text(text: str, out: str | None) -> None:
    if out is None or out == "-":
        click.echo(text, nl=not text.endswith("\n"))
        return
    p = Path(out)
    if p.is_dir():
        raise CliError(f"{out}: is a directory")
    p.write_text(text, encoding="utf-8")


def _labels_series(name: str, labels: Sequence[Any], classes: Sequence[Any]) -> pl.Series:
    """Predicted labels as one typed column (null where no rule answered)."""
    dtype = {"bool": pl.Boolean, "int64": pl.Int64, "uint64": pl.UInt64}.get(
        answer_kind(classes), pl.String
    )
    if dtype == pl.String:  # strings, and integers past 64 bits written in decimal
        labels = [None if v is None else str(v) for v in labels]
    return pl.Series(name, labels, dtype=dtype)


# --- formatting ----------------------------------------------------------------------------------
def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _pct(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{100 * v:.{digits}f}%"


def _signed_pts(v: float | None) -> str:
    return "unknown" if v is None else f"{100 * v:+.1f}pt"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def _label(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def _guarantee_lines(rules: RuleSet) -> list[str]:
    g = rules.guarantee
    if g is None:
        return ["guarantee: none recorded"]
    against = "true labels" if g.mode == "truth" else "the model's outputs"
    lines = [
        f"guarantee: error on covered rows <= {g.max_error:g} vs {against}, "
        f"at {100 * g.confidence:g}% confidence"
    ]
    for lab, cap in g.per_class_max_error:
        lines.append(
            f"  per class: at most {100 * cap:g}% of class {_label(lab)} rows answered otherwise"
        )
    if g.certification_rows:
        lines.append(
            f"  certified: {_fmt(g.certified)}; {g.certification_errors:,} errors on "
            f"{g.certification_covered:,} covered of {g.certification_rows:,} certification rows"
            f" (error upper bound {_fmt(g.error_upper_bound)})"
            + (f", by {g.method}" if g.method else "")
        )
    else:
        lines.append(f"  certified: {_fmt(g.certified)}")
    return lines


def _schema_lines(rules: RuleSet) -> list[str]:
    numeric = [f.name for f in rules.features if f.kind == "numeric"]
    cats = [f for f in rules.features if f.kind == "categorical"]
    used = rules.used_features
    lines = [
        f"features: {len(rules.features)} ({len(numeric)} numeric, {len(cats)} categorical); "
        f"the rules read {len(used)}: {', '.join(used[:12])}{', ...' if len(used) > 12 else ''}"
    ]
    for f in cats[:10]:
        shown = ", ".join(f.categories[:8]) + (", ..." if len(f.categories) > 8 else "")
        lines.append(f"  {f.name}: categorical {{{shown}}}")
    if rules.projection is not None:
        p = rules.projection
        lines.append(
            f"  projection: {len(p.inputs)} inputs -> {len(p.outputs)} derived features "
            f"({', '.join(p.outputs[:6])}{', ...' if len(p.outputs) > 6 else ''})"
            + (f", summed in blocks of {p.sum_block}" if p.sum_block is not None else "")
        )
    lines.append(f"classes: {', '.join(_label(c) for c in rules.classes)}")
    return lines


def _show_text(rules: RuleSet, path: str) -> str:
    rows = []
    for i, r in enumerate(rules.rules):
        rows.append(
            [
                str(i),
                r.describe(),
                _fmt(r.stats.support) if r.stats.validation_counts else "-",
                _fmt(r.stats.precision_lower_bound),
            ]
        )
    head = [f"{path}: {len(rules.rules)} rule{'s' if len(rules.rules) != 1 else ''}"]
    if rules.library_version:
        head[0] += f" (rulecascade {rules.library_version})"
    body = (
        _table(
            ["#", "rule (first match wins)", "support", "bound"], rows, [True, False, True, True]
        )
        if rows
        else "(no rules: every row goes to the model)"
    )
    return "\n".join([*head, *_schema_lines(rules), *_guarantee_lines(rules), "", body]) + "\n"


def _audit_text(report: Any, rules_path: str, data_path: str) -> str:
    conf = f"{100 * report.confidence:g}%"
    lines = [
        f"audit of {rules_path} on {data_path}: {report.rows:,} rows, {len(report.rules)} rule"
        + ("s" if len(report.rules) != 1 else ""),
        f"tests: alpha {report.alpha:g} family-wise over {report.tests} tests "
        f"(Bonferroni: {report.alpha_per_test:.3g} each)",
        "",
    ]
    rows = []
    for r in report.rules:
        if r.broken:
            status = f"BROKEN p={r.p_value:.2g}"
        elif r.claimed_lower_bound is None:
            status = "no claim"
        elif r.covers == 0:
            status = "no rows"
        else:
            status = "ok"
        rows.append(
            [
                str(r.index),
                _label(r.label),
                _fmt(r.rows),
                _pct(r.coverage),
                _pct(r.covers_fraction),
                _pct(r.fit_coverage),
                _signed_pts(r.coverage_drift),
                _fmt(r.precision),
                _fmt(r.precision_lower_bound),
                _fmt(r.claimed_lower_bound),
                status,
            ]
        )
    if rows:
        lines.append(
            _table(
                [
                    "#",
                    "label",
                    "answers",
                    "share",
                    "covers",
                    "at fit",
                    "drift",
                    "precision",
                    f"lower {conf}",
                    "claimed",
                    "status",
                ],
                rows,
                [True, False, True, True, True, True, True, True, True, True, False],
            )
        )
        lines.append(
            "answers/share: rows the rule answers (first match wins); covers: rows its conditions"
            " hold on, as measured at fit; drift, precision and the claim use covers."
        )
    else:
        lines.append("(no rules)")
    for r in report.rules:
        if r.broken:
            lines.append(
                f"rule {r.index} is broken: {r.rule}: precision {_fmt(r.precision)} on "
                f"{r.covers:,} rows it covers, claimed at least {_fmt(r.claimed_lower_bound)}"
            )
    s = report.set
    lines.append("")
    fit_cov = f"; at fit {_pct(s.fit_coverage)}" if s.fit_coverage is not None else ""
    lines.append(
        f"set: {s.covered:,} of {s.rows:,} rows covered ({_pct(s.coverage)}{fit_cov}); "
        f"{s.errors:,} errors on covered rows: error {_fmt(s.error)}, "
        f"upper {conf} bound {_fmt(s.error_upper_bound)}"
    )
    if s.max_error is not None:
        against = "true labels" if s.mode == "truth" else "the model's outputs"
        verdict = f"BROKEN p={s.p_value:.2g}" if s.broken else "holds"
        if s.certified is False:
            verdict += " (a target: not certified at fit)"
        lines.append(
            f"guarantee: max_error {s.max_error:g} vs {against} (the --target column): {verdict}"
            f"; within it at {conf} on this data: {_fmt(s.recertified)}"
        )
    else:
        lines.append("guarantee: none recorded in the rule file")
    for c in s.per_class:
        verdict = f"BROKEN p={c.p_value:.2g}" if c.broken else "holds"
        if s.certified is False:
            verdict += " (a target: not certified at fit)"
        lines.append(
            f"per class {_label(c.label)}: {c.wrong:,} of {c.rows:,} rows answered otherwise "
            f"({_pct(c.error, 2)}; cap {100 * c.max_error:g}%): {verdict}"
        )
    if report.other_label_rows:
        lines.append(
            f"note: {report.other_label_rows:,} rows have a label that is not a class of the "
            "rule set (counted as errors where a rule answers them)"
        )
    lines.append("")
    if report.holds:
        lines.append("verdict: every bound holds (exit 0)")
    else:
        broken = [f"rule {i}" for i in report.broken_rules]
        if s.broken:
            broken.append("set error")
        broken += [f"class {_label(c.label)} cap" for c in s.per_class if c.broken]
        lines.append(f"verdict: BROKEN: {', '.join(broken)} (exit 1)")
    return "\n".join(lines) + "\n"


def _diff_text(d: Any, a_path: str, b_path: str) -> str:
    lines = [f"--- {a_path}", f"+++ {b_path}"]
    n_changed = len(d.changed)
    lines.append(
        f"rules: {d.unchanged} unchanged, {n_changed} changed, {len(d.added)} added, "
        f"{len(d.removed)} removed" + (", order of the shared rules changed" if d.reordered else "")
    )
    for c in d.changed:
        lines.append(f"~ [{c.a_index}] -> [{c.b_index}] {c.rule_b}")
        for cond in c.conditions:
            lines.append(f"    {cond['a_text']}  ->  {cond['b_text']}")
        if c.label:
            lines.append(f"    label {_label(c.label['a'])} -> {_label(c.label['b'])}")
        if c.precision_lower_bound:
            pb = c.precision_lower_bound
            lines.append(f"    precision bound {_fmt(pb['a'])} -> {_fmt(pb['b'])}")
        if c.validation_counts:
            vc = c.validation_counts
            lines.append(f"    validation counts {vc['a']} -> {vc['b']}")
    for r in d.removed:
        lines.append(f"- [{r['index']}] {r['rule']}")
    for r in d.added:
        lines.append(f"+ [{r['index']}] {r['rule']}")
    if d.features:
        for f in d.features.get("added", ()):
            lines.append(f"features: + {f['name']} ({f['kind']})")
        for f in d.features.get("removed", ()):
            lines.append(f"features: - {f['name']} ({f['kind']})")
        for f in d.features.get("changed", ()):
            lines.append(f"features: ~ {f['name']}: {f['a']} -> {f['b']}")
        if "order" in d.features:
            lines.append("features: column order changed")
    if d.classes:
        lines.append(f"classes: {d.classes['a']} -> {d.classes['b']}")
    if d.projection:
        p = d.projection
        what = "added" if not p["a"] else "removed" if not p["b"] else "changed"
        parts = f" ({', '.join(p['changed'])})" if p["a"] and p["b"] else ""
        lines.append(f"projection: {what}{parts}")
    for k, v in sorted(d.guarantee.items()):
        lines.append(f"guarantee {k}: {v['a']} -> {v['b']}")
    for k, v in sorted(d.fit_params.items()):
        lines.append(f"fit_params {k}: {v['a']} -> {v['b']}")
    if d.data_fingerprint:
        lines.append("data fingerprint: differs (fitted on other data)")
    if d.library_version:
        lines.append(
            f"library version: {d.library_version['a']} -> {d.library_version['b']} (not a difference)"
        )
    if d.metadata_keys:
        lines.append(f"metadata differs in: {', '.join(d.metadata_keys)} (not a difference)")
    lines.append("identical (exit 0)" if d.identical else "different (exit 1)")
    return "\n".join(lines) + "\n"


# --- commands ------------------------------------------------------------------------------------
FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: for reading; json: exact and deterministic, for machines.",
)
QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")

MAIN_HELP = """\
Pure-region rules that answer the easy rows before an expensive classifier runs.

\b
DATA files: parquet (.parquet, .pq), CSV (.csv, .tsv), Arrow IPC (.arrow, .feather, .ipc)
or a 2-D numpy array (.npy; columns are named x0, x1, ...).

\b
Exit codes:
  0  success (audit: every bound holds; diff: identical)
  1  audit: a rule or the set breaks its bound; diff: the rule sets differ
  2  usage or input error (one line on stderr naming the file, column, row or value)
"""


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return ["fit", "show", "apply", "export", "audit", "diff", "demo"]


@click.group(
    cls=_Group,
    help=MAIN_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="rulecascade")
def main() -> None:
    pass


def _parse_caps(values: Sequence[str]) -> list[tuple[str, float]]:
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


def _match_label(text: str, y: np.ndarray, column: str) -> Any:
    """The label in ``y`` that ``text`` names (labels in a file are typed; the option is text)."""
    from .audit import _norm_label

    values = {}
    for u in np.unique(y):
        u = _norm_label(u)
        values.setdefault(str(u).lower() if isinstance(u, bool) else str(u), u)
    key = text.lower() if text.lower() in ("true", "false") else text
    if key not in values:
        shown = ", ".join(sorted(values)[:10])
        raise CliError(
            f"--per-class-max-error: label {text!r} does not occur in column {column!r} "
            f"(labels: {shown})"
        )
    return values[key]


@main.command()
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
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.005,
    show_default=True,
    help="Error allowed on the rows the rules answer.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
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
@click.option("--seed", type=int, default=None, help="Random seed (reproducible fit).")
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
@_guard
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
    from .data import as_labels

    caps = _parse_caps(per_class)
    if keep_inputs and projection is None:
        raise CliError("--keep-inputs needs --projection")
    if Path(out).is_dir():
        raise CliError(f"{out}: is a directory")
    if not Path(out).parent.exists():  # say so before the fit, not after it
        raise CliError(f"{out}: directory {str(Path(out).parent)!r} does not exist")
    df = _read_data(data)
    _need_columns(df, [target], data, "target")
    if model_column is not None:
        _need_columns(df, [model_column], data, "model")
        if model_column == target:
            raise CliError("--model-column must differ from --target")
    _need_columns(df, list(drop), data, "--drop")
    _need_columns(df, list(categorical), data, "--categorical")
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
        raise InputError(f"{data}: column {label_col!r}: {_one_line(e)}") from None
    per_class_caps = {_match_label(lab, y, label_col): cap for lab, cap in caps} or None

    from .learner import RuleLearner

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
            raise CliError(f"{data}: {_one_line(e)}") from None
        except DeviceError as e:
            raise CliError(f"--device {device}: {_one_line(e)}") from None
    for w in caught:
        click.echo(f"warning: {_one_line(w.message)}", err=True)
    rules = learner.rules_
    rules.save(out)
    _print_fit_summary(rules, X, df, target, model_column, data, out)


def _print_fit_summary(
    rules: RuleSet,
    X: pl.DataFrame,
    df: pl.DataFrame,
    target: str,
    model_column: str | None,
    data: str,
    out: str,
) -> None:
    from .audit import _match, label_indices, split_rows

    click.echo(f"wrote {out}: {len(rules.rules)} rules on {len(rules.used_features)} features")
    stages = split_rows(rules)
    if stages:
        click.echo("rows per stage: " + ", ".join(f"{k} {v:,}" for k, v in stages.items()))
    for line in _guarantee_lines(rules):
        click.echo(line)
    if not rules.rules:
        return
    ids = _match(rules, _features_frame(X))
    covered = ids >= 0
    n_cov = int(covered.sum())
    click.echo(
        f"on all of {data} (in-sample, optimistic): the rules answer {n_cov:,} of {len(ids):,} "
        f"rows ({_pct(n_cov / len(ids))})"
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


@main.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@FORMAT
@_guard
def show(rules_path: str, fmt: str) -> None:
    """Print a rule set: its rules in order, support, precision bounds, guarantee and schema.

    --format json prints the canonical JSON of the rule file.
    """
    rules = _load_rules(rules_path)
    click.echo(rules.to_json() if fmt == "json" else _show_text(rules, rules_path), nl=False)


@main.command()
@click.argument("rules_path", metavar="RULES", type=click.Path())
@click.argument("data", type=click.Path())
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(),
    help="Output file: .parquet, .csv, .tsv or .arrow (by suffix).",
)
@QUIET
@_guard
def apply(rules_path: str, data: str, out: str, quiet: bool) -> None:
    """Answer the rows of DATA with the rules and write OUT.

    OUT holds every input column in the input's row order, plus `rule_id` (the first matching
    rule, -1 where none) and `prediction` (its label, null where no rule answers: those rows go
    to the model).
    """
    _writer_for(out)
    rules = _load_rules(rules_path)
    try:  # the prediction column is typed by the classes (refused: 1 and "1" as text)
        answer_kind(rules.classes)
    except ValueError as e:
        raise CliError(f"{rules_path}: {e}") from None
    df = _read_data(data)
    for name in ("rule_id", "prediction"):
        if name in df.columns:
            raise CliError(f"{data}: already has a column {name!r}; rename it first")
    X = _features_frame(df, rules, data)
    _check_schema(rules, X, data, rules_path)
    ids = _rule_ids(rules, X, data, quiet)
    labels = [r.label for r in rules.rules] + [None]
    pred = _labels_series("prediction", [labels[i] for i in ids], rules.classes)
    result = df.with_columns(pl.Series("rule_id", ids, dtype=pl.Int64), pred)
    _write_table(result, out)
    n_cov = int((ids >= 0).sum())
    click.echo(
        f"wrote {out}: {len(ids):,} rows, {n_cov:,} answered by rules ({_pct(n_cov / len(ids))}), "
        f"{len(ids) - n_cov:,} left for the model",
        err=True,
    )


@main.command()
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
    "--dialect", default="duckdb", show_default=True, help="SQL dialect (any sqlglot dialect)."
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
    "--rule-id-column",
    default="rule_id",
    show_default=True,
    help="SQL: the output column of the answering rule's index (-1: none).",
)
@click.option(
    "--label-column",
    default="prediction",
    show_default=True,
    help="SQL: the output column of the answer (NULL: no rule).",
)
@click.option(
    "-o", "--out", type=click.Path(), default=None, help="File to write (default stdout)."
)
@_guard
def export(
    rules_path: str,
    to: str,
    dialect: str,
    table: str | None,
    form: str,
    target: str | None,
    rule_id_column: str,
    label_column: str,
    out: str | None,
) -> None:
    """Render a rule set as SQL, a Python module, or canonical JSON.

    \b
    --to audit-sql prints the query that `audit` runs, for data in a warehouse:
    rows per rule_id (-1: none) and per class; `rulecascade.audit.counts_from_sql_rows`
    and `audit_from_counts` turn its result into the audit report.
    """
    if to == "audit-sql" and not target:
        raise click.UsageError("--to audit-sql needs --target COL")
    rules = _load_rules(rules_path)
    if to == "json":
        text = rules.to_json()
    elif to == "python":
        text = rules_export.to_python(rules)
    else:
        from rules_export.sql import get_dialect

        try:
            get_dialect(dialect)
        except ValueError:
            raise click.BadParameter(
                f"unknown SQL dialect {dialect!r}", param_hint="--dialect"
            ) from None
        if to == "audit-sql":
            from .audit import audit_sql

            text = audit_sql(rules, table or "input", target, dialect, pretty=True)
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
                raise CliError(f"{rules_path}: {_one_line(e)}") from None
    _write_text(text if text.endswith("\n") else text + "\n", out)


@main.command()
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
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Family-wise false-alarm rate: if every bound holds, the audit fails by chance with "
    "probability at most alpha (Bonferroni over all tests).",
)
@FORMAT
@QUIET
@_guard
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
    from .audit import audit as run_audit

    rules = _load_rules(rules_path)
    df = _read_data(data)
    _need_columns(df, [target], data, "target")
    X = _features_frame(df, rules, data)
    _check_schema(rules, X, data, rules_path)
    ids = _rule_ids(rules, X, data, quiet)
    from .data import as_labels

    try:  # a missing, NaN or infinite label is an input error, not an error of the rules
        y = as_labels(df.get_column(target))
    except InputError as e:
        raise CliError(f"{data}: column {target!r}: {_one_line(e)}") from None
    try:
        report = run_audit(rules, X, y, alpha=alpha, rule_ids=ids)
    except InputError as e:
        raise InputError(f"{data}: column {target!r}: {_one_line(e)}") from None
    if fmt == "json":
        click.echo(report.to_json(), nl=False)
    else:
        click.echo(_audit_text(report, rules_path, data), nl=False)
    if not report.holds:
        sys.exit(EXIT_BROKEN)


@main.command(name="diff")
@click.argument("a", type=click.Path())
@click.argument("b", type=click.Path())
@FORMAT
@_guard
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
    from .compare import diff

    ra, rb = _load_rules(a), _load_rules(b)
    d = diff(ra, rb)
    click.echo(d.to_json() if fmt == "json" else _diff_text(d, a, b), nl=False)
    if not d.identical:
        sys.exit(EXIT_BROKEN)


@main.command()
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
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.01,
    show_default=True,
    help="Disagreement with the model allowed on the rows the rules answer.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@QUIET
@_guard
def demo(dataset: str, out_dir: str, max_error: float, seed: int, quiet: bool) -> None:
    """Train a gradient-boosting model, put rules in front of it, and measure the saving.

    On a real bundled data set: the model is trained on one split, rules are fitted
    in fidelity mode on a second (the model's predictions), and the cascade runs on
    held-out rows. The rules are exported to SQL and run in embedded DuckDB, which
    picks the same rule on every row as Python.
    """
    from .demo import run_demo

    run_demo(dataset=dataset, out_dir=out_dir, max_error=max_error, seed=seed, quiet=quiet)


if __name__ == "__main__":  # pragma: no cover
    main()
