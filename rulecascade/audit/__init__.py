"""Audits of fitted rule sets: bounds re-tested on new labelled data, one aggregate SQL query for
warehouse data, and the differences between two rule sets."""

from .diff import RuleChange, RuleSetDiff, diff
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
from .sql import audit_sql, counts_from_sql_rows

__all__ = [
    "AuditCounts",
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
