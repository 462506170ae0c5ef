"""The SQL dialects the exporter supports, and what it must know about each engine.

A dialect is listed only where its output parses back with sqlglot (a test renders every
listed dialect and parses the text back) and where the engine's comparison semantics are
known; ``rules_export.sql`` looks the traits up by dialect instead of testing names. Plain
data and no sqlglot import, so that a command-line ``--help`` can list the names cheaply.

Why a sqlglot dialect is not listed: ``prql`` and ``dax`` render text that sqlglot cannot
parse back; ``oracle`` casts to ``DOUBLE PRECISION``, a decimal ``FLOAT(126)``, so comparisons
would not be made in float64; the others (Trino, Redshift, ClickHouse, ...) render, but how
they compare NaN has not been checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NanTest = Literal["opaque_isnan", "inf_guard", "none"]


@dataclass(frozen=True)
class DialectTraits:
    """What the SQL for one engine must do to keep the reference's semantics.

    * ``nan_test``: ``"opaque_isnan"``: NaN sorts above +inf *and* the engine folds
      expressions with column statistics that leave NaN out (DuckDB on parquet files folds
      ``x <= 2.0``, ``x <= +inf`` and even ``ISNAN(x)`` to constants), so every numeric
      condition is guarded by ``NOT ISNAN(NEXTAFTER(x, 0))``: the same truth value for every
      ``x``, through a function the engine derives no statistics for;
      ``"inf_guard"``: NaN sorts above +inf, so a condition with only a lower bound also gets
      ``x <= CAST('inf' AS DOUBLE)``, which NaN fails (Spark uses parquet statistics only to
      skip row groups for filters, never to fold a CASE); ``"none"``: NaN compares like
      IEEE, or cannot be stored.
    * ``case_insensitive_names``: the engine resolves quoted identifiers regardless of letter
      case, so two features whose names differ only in case would read one column.
    * ``exact_int_literals``: thresholds are built from integers (SQLite's decimal parser is
      off by one unit in the last place for some literals).
    * ``text_type``: the type categorical columns are cast to (``None``: sqlglot's TEXT).
    * ``national_strings``: string literals are written ``N'...'``.
    * ``bit_booleans``: boolean labels are ``CAST(1 AS BIT)`` (no boolean literals).
    * ``checked_by``: how the tests check this dialect: ``"engine"`` (the SQL runs on the real
      engine and agrees with the reference on every row) or ``"parse"`` (parsed back only).
    """

    nan_test: NanTest
    case_insensitive_names: bool
    exact_int_literals: bool = False
    text_type: str | None = None
    national_strings: bool = False
    bit_booleans: bool = False
    checked_by: Literal["engine", "parse"] = "parse"
    note: str = ""


#: supported dialects, by sqlglot's name for them
DIALECTS: dict[str, DialectTraits] = {
    "duckdb": DialectTraits(
        "opaque_isnan",
        True,
        checked_by="engine",
        note="folds comparisons with parquet min/max statistics, which leave NaN out",
    ),
    "sqlite": DialectTraits(
        "none",
        True,
        exact_int_literals=True,
        checked_by="engine",
        note="stores NaN as NULL; identifiers are case-insensitive (ASCII)",
    ),
    "postgres": DialectTraits(
        "inf_guard",
        False,
        checked_by="engine",
        note="NaN sorts above +inf; quoted identifiers are case-sensitive",
    ),
    "spark": DialectTraits(
        "inf_guard",
        True,
        checked_by="engine",
        note="NaN sorts above +inf; column names resolve case-insensitively by default",
    ),
    "databricks": DialectTraits(
        "inf_guard", True, note="Spark SQL: NaN sorts above +inf; case-insensitive column names"
    ),
    "snowflake": DialectTraits(
        "inf_guard", False, note="NaN sorts above +inf; quoted identifiers are case-sensitive"
    ),
    "bigquery": DialectTraits(
        "none", True, note="compares NaN like IEEE; column names are case-insensitive"
    ),
    "mysql": DialectTraits(
        "none",
        True,
        note="cannot store NaN; column names are case-insensitive; strings compare "
        "under the column's collation",
    ),
    "tsql": DialectTraits(
        "none",
        True,
        text_type="NVARCHAR(MAX)",
        national_strings=True,
        bit_booleans=True,
        note="cannot store NaN; names and strings follow the (usually case-insensitive) collation",
    ),
}


def supported_dialects() -> tuple[str, ...]:
    """The names of the supported SQL dialects, sorted."""
    return tuple(sorted(DIALECTS))
