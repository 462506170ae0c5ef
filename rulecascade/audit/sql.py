"""The audit's two count tables from ONE aggregate SQL query, for data that lives in a warehouse."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlglot import exp

from rules_export import RuleSet
from rules_export.reference import InputError

from .report import AuditCounts


def _label_literal(label: Any) -> exp.Expression:
    if isinstance(label, bool):
        return exp.Boolean(this=label)
    if isinstance(label, int):
        lit = exp.Literal.number(abs(label))
        return exp.Neg(this=lit) if label < 0 else lit
    return exp.Literal.string(str(label))


def _count_if(condition: exp.Expression, name: str) -> exp.Expression:
    """``SUM(CASE WHEN condition THEN 1 ELSE 0 END) AS name``."""
    case = exp.Case(
        ifs=[exp.If(this=condition, true=exp.Literal.number(1))], default=exp.Literal.number(0)
    )
    return exp.alias_(exp.Sum(this=case), exp.to_identifier(name, quoted=True))


def audit_sql(
    rules: RuleSet,
    table: str | exp.Expression,
    target: str,
    dialect: str = "duckdb",
    *,
    by: str | None = None,
    pretty: bool = False,
) -> str:
    """Both count tables of :func:`audit_counts` as ONE aggregate query, for data in a warehouse.

    ``SELECT rule_id, COUNT(*) AS n_rows, SUM(CASE WHEN target = <class c> ...) AS n_class_c,
    SUM(CASE WHEN <rule i holds> AND target = <class c> ...) AS covers_i_class_c, ... FROM
    (SELECT <rule-id expression> AS rule_id, target, ... FROM table) GROUP BY rule_id``; the
    rule-id expressions are ``rules_export.sql``'s, so every condition has the semantics of all
    evaluators. Turn the result rows into the tables with :func:`counts_from_sql_rows`, then
    into the report with :func:`audit_from_counts`. ``table`` is a name (quoted as one
    identifier) or a sqlglot expression (e.g. a ``read_parquet(...)`` call). The target column
    must hold the classes' type (integers for integer classes, and so on).

    ``by``: a column whose values are chunks (a day, a batch id): the query then groups by
    ``(chunk, rule_id)``, its first output column is ``chunk``, and
    :func:`chunk_counts_from_sql_rows` gives the count tables per chunk, equal to
    :func:`rulecascade.audit.chunks.chunk_counts`'s.
    """
    from rules_export.model import check_label_texts
    from rules_export.sql import dialect_traits, get_dialect, rule_id_expression

    check_label_texts(rules.classes)  # the target is compared with each class's literal
    d = get_dialect(dialect)
    clash = [f for f in rules.feature_names if f != target and f.casefold() == target.casefold()]
    if clash and dialect_traits(d).case_insensitive_names:
        raise ValueError(
            f"target {target!r} and feature {clash[0]!r} differ only in letter case: "
            f"{dialect} resolves column names regardless of case, so the query would read "
            "one column for both; rename one of them"
        )

    def ident(name: str) -> exp.Identifier:
        return exp.to_identifier(name, quoted=True)

    source = exp.Table(this=ident(table)) if isinstance(table, str) else table
    # one rule-id expression for the order, one per rule for "its conditions hold"
    inner_cols = [
        exp.alias_(rule_id_expression(rules, d), ident("rule_id")),
        exp.alias_(exp.column(ident(target)), ident("target")),
        *([exp.alias_(exp.column(ident(by)), ident("chunk"))] if by is not None else []),
        *(
            exp.alias_(rule_id_expression(rules.replace(rules=(r,)), d), ident(f"holds_{i}"))
            for i, r in enumerate(rules.rules)
        ),
    ]
    inner = exp.select(*inner_cols).from_(
        exp.alias_(source, "audit_input", table=True, quoted=True)
    )

    def is_class(c: Any) -> exp.Expression:
        return exp.EQ(this=exp.column(ident("target")), expression=_label_literal(c))

    aggregates = [
        exp.alias_(exp.Count(this=exp.Star()), ident("n_rows")),
        *(_count_if(is_class(c), _class_column(j)) for j, c in enumerate(rules.classes)),
        *(
            _count_if(
                exp.and_(
                    exp.EQ(this=exp.column(ident(f"holds_{i}")), expression=exp.Literal.number(0)),
                    is_class(c),
                ),
                _covers_column(i, j),
            )
            for i in range(len(rules.rules))
            for j, c in enumerate(rules.classes)
        ),
        *(
            _count_if(
                exp.EQ(this=exp.column(ident(f"holds_{i}")), expression=exp.Literal.number(0)),
                f"covers_{i}",
            )
            for i in range(len(rules.rules))
        ),
        # rows without a label: an input error (counting them as wrong answers would break
        # bounds that hold), refused by counts_from_sql_rows as the Python audit refuses them
        _count_if(exp.Is(this=exp.column(ident("target")), expression=exp.Null()), "n_no_label"),
    ]
    keys = [exp.column(ident("chunk"))] if by is not None else []
    keys.append(exp.column(ident("rule_id")))
    query = (
        exp.select(*keys, *aggregates)
        .from_(exp.alias_(exp.Subquery(this=inner), "audit_rows", table=True, quoted=True))
        .group_by(*keys)
        .order_by(*(k.copy() for k in keys))
    )
    return query.sql(dialect=d, pretty=pretty)


def _class_column(j: int) -> str:
    return f"n_class_{j}"


def _covers_column(i: int, j: int) -> str:
    return f"covers_{i}_class_{j}"


def counts_from_sql_rows(rules: RuleSet, rows: Sequence[Sequence[Any]]) -> AuditCounts:
    """The count tables from the result rows of :func:`audit_sql`'s query.

    Each row is ``(rule_id, n_rows, n_class_0 .. n_class_{C-1}, covers_0_class_0 ..
    covers_{R-1}_class_{C-1}, covers_0 .. covers_{R-1}, n_no_label)``; ``rule_id`` -1 is "no
    rule". Rows without a label (NULL) are an :class:`InputError`, as in :func:`audit`.
    """
    n_rules, n_classes = len(rules.rules), len(rules.classes)
    width = 3 + n_classes + n_rules * n_classes + n_rules
    answered = np.zeros((n_rules + 1, n_classes + 1), dtype=np.int64)
    covers = np.zeros((n_rules, n_classes + 1), dtype=np.int64)
    no_label = 0
    for row in rows:
        if len(row) != width:
            raise ValueError(f"expected {width} columns per row, got {len(row)}")
        v = np.array([0 if x is None else int(x) for x in row], dtype=np.int64)
        rid, total = int(v[0]), int(v[1])
        if not -1 <= rid < n_rules:
            raise ValueError(f"rule_id {rid} out of range for {n_rules} rules")
        per_class = v[2 : 2 + n_classes]
        r = n_rules if rid < 0 else rid
        answered[r, :n_classes] += per_class
        answered[r, n_classes] += total - per_class.sum()
        cov = v[2 + n_classes : 2 + n_classes + n_rules * n_classes].reshape(n_rules, n_classes)
        cov_total = v[2 + n_classes + n_rules * n_classes : -1]
        no_label += int(v[-1])
        covers[:, :n_classes] += cov
        covers[:, n_classes] += cov_total - cov.sum(axis=1)
    if no_label:
        raise InputError(
            f"{no_label:,} rows have no label (NULL in the target column); an audit needs a "
            "label on every row"
        )
    return AuditCounts(answered, covers)


def chunk_counts_from_sql_rows(
    rules: RuleSet, rows: Sequence[Sequence[Any]]
) -> tuple[list[Any], list[AuditCounts]]:
    """The chunk values (sorted, missing last) and each chunk's count tables, from the result
    rows of :func:`audit_sql` with ``by``: each row is ``(chunk, <the columns of
    counts_from_sql_rows>)``."""
    groups: dict[Any, list[Sequence[Any]]] = {}
    for row in rows:
        groups.setdefault(row[0], []).append(row[1:])
    present = sorted(k for k in groups if k is not None)
    keys = present + ([None] if None in groups else [])
    return keys, [counts_from_sql_rows(rules, groups[k]) for k in keys]
