"""``rulecascade demo``: rules in front of a gradient-boosting model, on a real bundled data set.

1. The data set is split three ways (stratified by the label): the model's training rows, the
   calibration rows the rules are fitted on, and held-out rows nothing was fitted on.
2. A ``HistGradientBoostingClassifier`` (the "expensive model") is trained on the first part.
3. Rules are fitted in fidelity mode on the calibration rows: against the model's predictions,
   so the guarantee is "the rules disagree with the model on at most ``max_error`` of the rows
   they answer".
4. The cascade runs on the held-out rows; the same rows also go through the model alone.
5. The rules are exported to SQL and run in embedded DuckDB over the held-out rows, which must
   pick the same rule as Python on every row.
6. ``rules.json``, ``rules.sql`` and ``report.md`` are written to ``out_dir``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from rules_export import to_sql
from rules_export.files import check_output, write_atomic

from . import progress

__all__ = ["DemoResult", "run_demo"]

SPLITS = (0.3, 0.45, 0.25)  # model training, calibration (rules), held out
MIN_TIMING_S = 0.25


@dataclass(frozen=True)
class DemoResult:
    dataset: str
    rows: int
    features: int
    train_rows: int
    calibration_rows: int
    heldout_rows: int
    n_rules: int
    max_error: float
    certified: bool | None
    covered: int
    coverage: float
    model_rows: int
    model_accuracy: float
    cascade_accuracy: float
    agreement_covered: float | None
    disagreements_covered: int
    model_rows_per_s: float
    cascade_rows_per_s: float
    sql_same_rule_rows: int
    seconds: float
    out_dir: str


class _Model:
    """The expensive model as a callable on any table: encodes, then ``predict``."""

    def __init__(self, clf: Any, names: tuple[str, ...], kinds: dict[str, str], cats: Any):
        self.clf, self.names, self.kinds, self.cats = clf, names, kinds, cats
        self.calls = 0
        self.rows = 0

    def matrix(self, X: Any) -> np.ndarray:
        from .data import encode, to_polars

        return encode(to_polars(X), self.names, self.kinds, self.cats).values

    def __call__(self, X: Any) -> np.ndarray:
        values = self.matrix(X)
        self.calls += 1
        self.rows += values.shape[0]
        return self.clf.predict(values)


def _split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified three-way split of row indices (each part in row order)."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    cuts = np.cumsum(SPLITS)[:-1]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        for p, chunk in enumerate(np.split(idx, np.round(cuts * idx.size).astype(int))):
            parts[p].append(chunk)
    train, cal, test = (np.sort(np.concatenate(p)) for p in parts)
    return train, cal, test


def _rows_per_s(fn: Callable[[], Any], rows: int) -> float:
    """Rows per second of ``fn`` (repeated until ``MIN_TIMING_S`` has passed)."""
    runs, start = 0, time.perf_counter()
    while True:
        fn()
        runs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_TIMING_S:
            return runs * rows / elapsed


def _rate(v: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:.2f}{unit} rows/s"
    return f"{v:.0f} rows/s"


def _sql_rule_ids(rules: Any, frame: pl.DataFrame) -> np.ndarray:
    """The rule index per row from the exported SQL, run in embedded DuckDB."""
    import duckdb

    sql = to_sql(rules, dialect="duckdb", table="heldout", form="select")
    table = frame.with_columns(
        [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t == pl.Categorical]
    ).with_row_index("__row")
    con = duckdb.connect()
    try:
        con.register("heldout", table.to_arrow())
        rows = con.execute(
            f'SELECT "__row", "rule_id" FROM ({sql}) AS "q" ORDER BY "__row"'
        ).fetchall()
    finally:
        con.close()
    return np.array([r[1] for r in rows], dtype=np.int64)


def run_demo(
    dataset: str = "credit_default",
    out_dir: str | Path = "rulecascade_demo",
    max_error: float = 0.01,
    confidence: float = 0.95,
    seed: int = 0,
    quiet: bool = False,
    echo: Callable[[str], Any] | None = None,
) -> DemoResult:
    """Run the demo; print its summary with ``echo`` (default: click.echo) and return it."""
    import click
    from sklearn.ensemble import HistGradientBoostingClassifier

    from rulecascade import datasets

    from .data import encode, infer_kinds
    from .data import to_polars as _to_polars
    from .learn.estimator import RuleLearner
    from .serve.cascade import Cascade
    from .serve.warmup import warmup

    say = echo or click.echo
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.is_dir():  # refuse a link or device where an output goes before the work
        for name in ("rules.json", "rules.sql", "report.md"):
            check_output(out / name)
    steps = ["loading data", "training the model", "fitting rules", "cascade", "SQL"]
    with progress.task("demo", total=len(steps), unit="step", quiet=quiet) as bar:
        bar.set_description(steps[0])
        try:
            ds = datasets.load(dataset)
        except (KeyError, ValueError) as e:
            raise click.BadParameter(str(e).strip("'\""), param_hint="--dataset") from None
        X, y = ds.X, ds.y
        train, cal, test = _split(y, seed)
        X_test, y_test = X[test], y[test]
        bar.update()

        bar.set_description(steps[1])
        frame = _to_polars(X)
        kinds = infer_kinds(frame)
        names = tuple(frame.columns)
        fm = encode(frame, names, kinds)
        clf = HistGradientBoostingClassifier(
            random_state=seed, categorical_features=fm.categorical_mask
        )
        clf.fit(fm.values[train], y[train])
        model = _Model(clf, names, kinds, fm.categories)
        bar.update()

        bar.set_description(steps[2])
        y_model_cal = clf.predict(fm.values[cal])
        learner = RuleLearner(
            max_error=max_error, confidence=confidence, mode="fidelity", random_state=seed
        )
        learner.fit(X[cal], y_model_cal)
        rules = learner.rules_
        bar.update()

        bar.set_description(steps[3])
        warmup(quiet=True)  # the kernels compiled (or loaded) before anything is timed
        model_pred = model(X_test)
        cascade = Cascade(rules, model)
        pred, rule_ids = cascade.predict(X_test, return_rule=True)
        pred, rule_ids = np.asarray(pred), np.asarray(rule_ids)
        covered = rule_ids >= 0
        model_rate = _rows_per_s(lambda: model(X_test), len(test))
        cascade_rate = _rows_per_s(lambda: Cascade(rules, model).predict(X_test), len(test))
        bar.update()

        bar.set_description(steps[4])
        sql_ids = _sql_rule_ids(rules, X_test)
        bar.update()

    n_cov = int(covered.sum())
    disagree = int((pred[covered] != model_pred[covered]).sum())
    g = rules.guarantee
    result = DemoResult(
        dataset=ds.name,
        rows=len(y),
        features=len(names),
        train_rows=len(train),
        calibration_rows=len(cal),
        heldout_rows=len(test),
        n_rules=len(rules.rules),
        max_error=max_error,
        certified=g.certified if g is not None else None,
        covered=n_cov,
        coverage=n_cov / len(test),
        model_rows=len(test) - n_cov,
        model_accuracy=float(np.mean(model_pred == y_test)),
        cascade_accuracy=float(np.mean(pred == y_test)),
        agreement_covered=1.0 - disagree / n_cov if n_cov else None,
        disagreements_covered=disagree,
        model_rows_per_s=model_rate,
        cascade_rows_per_s=cascade_rate,
        sql_same_rule_rows=int((sql_ids == rule_ids).sum()) if len(sql_ids) == len(test) else 0,
        seconds=time.perf_counter() - t0,
        out_dir=str(out),
    )
    out.mkdir(parents=True, exist_ok=True)
    rules.save(out / "rules.json")
    write_atomic(
        out / "rules.sql",
        to_sql(rules, dialect="duckdb", table="input", form="select", pretty=True) + "\n",
    )
    text = _summary(result, rules, ds)
    write_atomic(out / "report.md", _report_md(result, rules, ds, text))
    for line in text:
        say(line)
    say(f"wrote {out / 'rules.json'}, {out / 'rules.sql'}, {out / 'report.md'}")
    return result


def _summary(r: DemoResult, rules: Any, ds: Any) -> list[str]:
    g = rules.guarantee
    cert = "-"
    if g is not None:
        cert = "certified" if g.certified else "NOT certified"
        if g.error_upper_bound is not None:
            cert += (
                f" (error upper bound {g.error_upper_bound:.4f} on "
                f"{g.certification_covered:,} covered certification rows)"
            )
    agree = "-" if r.agreement_covered is None else f"{r.agreement_covered:.4f}"
    speedup = r.cascade_rows_per_s / r.model_rows_per_s if r.model_rows_per_s else float("nan")
    return [
        f"rulecascade demo on {r.dataset}: {r.rows:,} rows, {r.features} features",
        f"  model: HistGradientBoostingClassifier trained on {r.train_rows:,} rows",
        f"  rules: {r.n_rules} fitted in fidelity mode on {r.calibration_rows:,} rows "
        f"(the model's predictions); max_error {r.max_error:g} at "
        f"{100 * (g.confidence if g else 0.95):g}%: {cert}",
        f"held-out rows: {r.heldout_rows:,}",
        f"  coverage:                {100 * r.coverage:.1f}% ({r.covered:,} rows answered by rules)",
        f"  model rows saved:        {r.covered:,} of {r.heldout_rows:,} "
        f"({100 * r.coverage:.1f}%); the model was called on {r.model_rows:,} rows",
        f"  accuracy vs truth:       model {r.model_accuracy:.4f}, cascade {r.cascade_accuracy:.4f}",
        f"  agreement with the model on covered rows: {agree} "
        f"({r.disagreements_covered:,} of {r.covered:,} differ; allowed {r.max_error:g})",
        f"  throughput:              model {_rate(r.model_rows_per_s)}, cascade "
        f"{_rate(r.cascade_rows_per_s)} (x{speedup:.2f})",
        f"  SQL in DuckDB: the same rule as Python on {r.sql_same_rule_rows:,} of "
        f"{r.heldout_rows:,} rows",
        f"  ran in {r.seconds:.1f} s",
    ]


def _report_md(r: DemoResult, rules: Any, ds: Any, summary: list[str]) -> str:
    lines = [
        f"# rulecascade demo: {r.dataset}",
        "",
        (ds.description or "").strip(),
        "",
        "## Result",
        "",
        "```",
        *summary,
        "```",
        "",
        "## Rules (first match wins)",
        "",
        *(f"{i}. `{rule.describe()}`" for i, rule in enumerate(rules.rules)),
        "",
        "## Numbers",
        "",
        "| quantity | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in asdict(r).items()),
        "",
        "Files: `rules.json` (the rule set), `rules.sql` (DuckDB SELECT adding `rule_id` and "
        "`prediction`).",
        "",
    ]
    return "\n".join(lines)
