"""Audits of fitted rule sets: bounds re-tested on new labelled data (also per chunk of a column),
feature drift against the summaries stored at fit, one aggregate SQL query for warehouse data,
re-certification of an edited rule set, and the differences between two rule sets."""

from .chunks import ChunkAudit, ChunkedAudit, audit_chunks, chunk_codes, chunk_counts
from .diff import RuleChange, RuleSetDiff, diff
from .drift import DriftReport, FeatureDrift, NoReferenceError, drift
from .report import (
    AuditCounts,
    AuditReport,
    ClassCapAudit,
    RuleAudit,
    SetAudit,
    audit,
    audit_counts,
    audit_from_counts,
    clopper_pearson_lower,
    clopper_pearson_upper,
    label_indices,
    split_rows,
)
from .sql import audit_sql, chunk_counts_from_sql_rows, counts_from_sql_rows

__all__ = [
    "AuditCounts",
    "ChunkAudit",
    "ChunkedAudit",
    "DriftReport",
    "FeatureDrift",
    "NoReferenceError",
    "audit_chunks",
    "chunk_codes",
    "chunk_counts",
    "chunk_counts_from_sql_rows",
    "drift",
    "AuditReport",
    "ClassCapAudit",
    "RuleAudit",
    "RuleChange",
    "RuleSetDiff",
    "SetAudit",
    "audit",
    "audit_counts",
    "audit_from_counts",
    "audit_sql",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "counts_from_sql_rows",
    "diff",
    "label_indices",
    "split_rows",
]
