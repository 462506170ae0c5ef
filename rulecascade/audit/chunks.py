"""Audits over time: each value of a column (a day, a week, a batch id) audited as its own chunk.

A chunk gets the whole audit of :mod:`rulecascade.audit.report` on its rows (count tables, the
bound tests, coverage and error) and the drift of :mod:`rulecascade.audit.drift`. Chunks are
ordered as their values sort (missing values last, as one chunk). The bound tests of a chunk run
at ``alpha / n_chunks`` (Bonferroni over the chunks), so with every claim holding, the chance that
any chunk reports a breakage is at most ``alpha``; with one chunk its audit is the audit of all
rows. A chunk's ``status``: ``broken`` when a bound breaks, else the worst drift state of its
features (``drift``, ``warn``, ``ok``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from rules_export import RuleSet
from rules_export.reference import InputError, input_columns

from .. import progress
from ..data import check_labels_present
from ..serve.evaluate import match
from .drift import DriftReport, drift_from_columns
from .report import (
    DEFAULT_ALPHA,
    AuditCounts,
    AuditReport,
    audit_from_counts,
    cover_masks_from_columns,
    label_indices,
)

__all__ = [
    "ChunkAudit",
    "ChunkedAudit",
    "audit_chunks",
    "chunk_codes",
    "chunk_counts",
    "sorted_chunks",
]


def chunk_codes(by: Any) -> tuple[list[Any], np.ndarray]:
    """The distinct values of ``by`` in sorted order (missing last) and each row's index in it."""
    s = by if isinstance(by, pl.Series) else pl.Series("by", by)
    present = s.drop_nulls().unique().sort()
    keys = present.to_list()
    if len(present):
        codes = np.asarray(present.search_sorted(s.fill_null(present[0])), dtype=np.int64)
    else:
        codes = np.zeros(s.len(), np.int64)
    nulls = s.is_null().to_numpy()
    if nulls.any():
        codes = np.where(nulls, len(keys), codes)
        keys.append(None)
    return keys, codes


def chunk_counts(
    rules: RuleSet,
    X: Any,
    y: Any,
    codes: np.ndarray,
    n_chunks: int,
    rule_ids: Any = None,
    columns: tuple[dict[str, np.ndarray], int] | None = None,
) -> list[AuditCounts]:
    """The count tables of :func:`audit_counts` for each chunk (``codes``: chunk per row)."""
    ids = match(rules, X) if rule_ids is None else np.asarray(rule_ids, dtype=np.int64)
    check_labels_present(np.asarray(y))
    cls = label_indices(rules, y)
    codes = np.asarray(codes, dtype=np.int64)
    if not cls.shape[0] == ids.shape[0] == codes.shape[0]:
        raise InputError(
            f"got {cls.shape[0]} labels and {codes.shape[0]} chunk values for {ids.shape[0]} rows"
        )
    n_rules, n_cols = len(rules.rules), len(rules.classes) + 1
    row = np.where(ids < 0, n_rules, ids)
    size = (n_rules + 1) * n_cols
    flat = np.bincount(codes * size + row * n_cols + cls, minlength=n_chunks * size)
    answered = flat.reshape(n_chunks, n_rules + 1, n_cols).astype(np.int64)
    covers = np.zeros((n_chunks, n_rules, n_cols), dtype=np.int64)
    if n_rules:
        cols, n_rows = columns if columns is not None else input_columns(rules, X)
        for i, m in enumerate(cover_masks_from_columns(rules, cols, n_rows)):
            covers[:, i] = np.bincount(
                codes[m] * n_cols + cls[m], minlength=n_chunks * n_cols
            ).reshape(n_chunks, n_cols)
    return [AuditCounts(answered[k], covers[k]) for k in range(n_chunks)]


@dataclass(frozen=True)
class ChunkAudit:
    """One chunk: its value, its audit (at ``alpha / n_chunks``) and its drift."""

    chunk: Any
    report: AuditReport
    drift: DriftReport

    @property
    def status(self) -> str:
        return "broken" if not self.report.holds else self.drift.status()

    def to_dict(self) -> dict[str, Any]:
        s = self.report.set
        return {
            "chunk": _json_value(self.chunk),
            "rows": self.report.rows,
            "covered": s.covered,
            "coverage": s.coverage,
            "errors": s.errors,
            "error": s.error,
            "error_upper_bound": s.error_upper_bound,
            "max_error": s.max_error,
            "holds": self.report.holds,
            "broken_rules": list(self.report.broken_rules),
            "set_broken": s.broken,
            "alpha_per_test": self.report.alpha_per_test,
            "status": self.status,
            "features": [
                {
                    "feature": f.feature,
                    "status": f.status,
                    "p_value": f.p_value,
                    "psi": f.psi,
                    "statistic": f.statistic,
                    "test": f.test,
                }
                for f in self.drift.features
            ],
        }


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if np.isfinite(v) else str(v)
    if isinstance(v, (_dt.date, _dt.datetime, _dt.time)):
        return v.isoformat()
    return str(v)


@dataclass(frozen=True)
class ChunkedAudit:
    """Every chunk of an audit over ``by``, in the order of the chunk values."""

    by: str
    alpha: float
    chunks: tuple[ChunkAudit, ...]

    @property
    def holds(self) -> bool:
        return all(c.report.holds for c in self.chunks)

    def to_list(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.chunks]


def audit_chunks(
    rules: RuleSet,
    X: Any,
    y: Any,
    by: Any,
    alpha: float = DEFAULT_ALPHA,
    rule_ids: Any = None,
    by_name: str = "by",
    quiet: bool = True,
    with_drift: bool = True,
) -> ChunkedAudit:
    """Audit each value of ``by`` (one value per row) as its own chunk (see the module doc);
    ``with_drift=False`` leaves the drift of the chunks out."""
    keys, codes = chunk_codes(by)
    cols, n_rows = input_columns(rules, X)
    counts = chunk_counts(rules, X, y, codes, len(keys), rule_ids, columns=(cols, n_rows))
    a = alpha / max(len(keys), 1)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    out = []
    with progress.task("auditing chunks", total=len(keys), unit="chunks", quiet=quiet) as t:
        for k, key in enumerate(keys):
            rows = order[bounds[k] : bounds[k + 1]]
            sub = {n: v[rows] for n, v in cols.items()}
            out.append(
                ChunkAudit(
                    key,
                    audit_from_counts(rules, counts[k], alpha=a),
                    drift_from_columns(rules, sub),
                )
            )
            t.update(1)
    return ChunkedAudit(by_name, float(alpha), tuple(out))


def sorted_chunks(keys: Sequence[Any]) -> list[Any]:
    """Chunk values as :func:`chunk_codes` orders them (missing last)."""
    present = sorted(k for k in keys if k is not None)
    return present + ([None] if any(k is None for k in keys) else [])
