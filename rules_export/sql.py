"""Rule set -> SQL, as a sqlglot expression tree rendered with ``.sql(dialect=...)``.

Three forms:

* ``rule_id_expression``: ``CASE WHEN <rule 0> THEN 0 WHEN <rule 1> THEN 1 ... ELSE -1 END``;
* ``label_expression``: the same with each rule's label (``NULL`` where no rule matches);
* ``select_expression``: ``SELECT <input>.*, <rule id> AS rule_id, <label> AS prediction``.

How the semantics of ``reference.py`` are kept on every engine:

* **DOUBLE comparisons.** Every numeric column is ``CAST(col AS DOUBLE)`` (``DOUBLE PRECISION``,
  ``FLOAT64``, ``FLOAT``, ``REAL``: sqlglot names the type per dialect) and every threshold is a
  DOUBLE: ``CAST(0.1E0 AS DOUBLE)``, the shortest decimal that parses to the float64 (Python's
  ``repr``) written with an exponent, so that engines read it as a floating-point literal and not
  as DECIMAL/NUMERIC. Without the casts DuckDB compares a FLOAT column with ``0.1`` in float32.
  Casting float32 to float64 is exact, so FLOAT columns compare like their values upcast.
* **SQLite** parses decimal literals with its own routine, which is off by one unit in the last
  place for some values (seen on 3.40: ``6.303107449006717e-309``, ``5.91621733490289e+303``).
  For SQLite a threshold is built only from whole numbers (which have nothing to round) and one
  correctly rounded IEEE operation: ``52000.0``, ``1.0 / 10`` for 0.1 (exact when the decimal
  digits fit in 53 bits and the power of ten is at most 1e18), else ``mantissa * 2**k`` by exact
  power-of-two steps (see ``_exact_from_integers``).
* **Missing values.** ``NULL`` makes a comparison unknown, which ``CASE WHEN`` treats as not true,
  so NULL never matches. NaN is the other missing value: PostgreSQL, DuckDB, Spark and Snowflake
  order NaN above +inf, so ``NaN > 0.5`` is true there. On PostgreSQL and Snowflake a condition
  with only a lower bound therefore also gets ``x <= CAST('inf' AS DOUBLE)``, which NaN fails.
  DuckDB also folds comparisons with the min/max statistics of a parquet file, which leave NaN
  out (a column ``[NaN, 1.0]`` "has" max 1.0, so ``x <= CAST('inf' AS DOUBLE)`` and even
  ``x <= 2.0`` become TRUE, and ``ISNAN(x)`` FALSE); so on DuckDB every numeric condition is
  guarded by ``NOT ISNAN(NEXTAFTER(x, 0))``, NaN exactly when ``x`` is, through a function
  DuckDB derives no statistics for. SQLite stores NaN as NULL; MySQL and
  T-SQL cannot store NaN; BigQuery compares NaN like IEEE. The traits of each engine are in
  ``rules_export.dialects`` (``nan_guard`` overrides them).
* **Categorical** conditions are ``CAST(col AS TEXT) IN ('a', 'b')`` (exact string comparison;
  integers compare as their decimal text). String literals and identifiers are escaped by
  sqlglot; every identifier is quoted, whatever characters the name holds.
* **Projection** features are rendered inline as ``((x1 - m1) * w1 + (x2 - m2) * w2 + ...)``,
  summed left to right in DOUBLE like the reference; a projection with ``sum_block`` is written
  as parenthesized blocks added left to right, ``((block 1) + (block 2) + ...)``, the order
  every evaluator follows, so that the expression nests about ``sum_block`` levels deep, not
  one per input. (PostgreSQL raises "value out of range"
  where float64 arithmetic would overflow to inf or underflow to 0 instead of returning it.)

Only the dialects in ``rules_export.dialects.DIALECTS`` are rendered (their output parses back
with sqlglot and their comparison semantics are known); any other name is a ValueError naming
them. Features whose names differ only in letter case are refused for engines that resolve
quoted identifiers regardless of case (DuckDB, SQLite, Spark, BigQuery, MySQL, T-SQL): the SQL
would read one column for both; PostgreSQL and Snowflake tell them apart. Engine caveats
(outside what SQL text can fix): PostgreSQL truncates identifiers to 63 bytes; SQLite turns
text in a numeric column into 0.0 where the reference raises. Not run by the tests (no server
here): MySQL and SQL Server compare strings under the column's collation (often
case-insensitive, ignoring trailing spaces); Databricks, Snowflake, BigQuery, MySQL and T-SQL
output is checked by parsing it back with sqlglot only.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.dialects.dialect import Dialect

from .dialects import DIALECTS, DialectTraits, supported_dialects
from .model import (
    InSet,
    Interval,
    Label,
    Projection,
    RuleSet,
    RuleSetError,
    answer_kind,
    check_output_columns,
)

Form = Literal["select", "rule_id", "label"]

DEFAULT_TABLE = "input"
_INPUT_ALIAS = "rules_input"
_OUTPUT_ALIAS = "rules_output"

_DType = exp.DataType.Type
_TEXT_TYPES = {_DType.TEXT, _DType.VARCHAR, _DType.NVARCHAR}


def _dialect_name(d: Dialect) -> str | None:
    """sqlglot's registered name for the class of ``d``."""
    for name, cls in Dialect.classes.items():
        if cls is type(d):
            return name
    return None


def _unsupported(dialect: Any, why: str) -> ValueError:
    return ValueError(
        f"{why} SQL dialect {dialect!r}; supported: {', '.join(supported_dialects())}"
    )


def get_dialect(dialect: str | Dialect | type[Dialect] | None) -> Dialect:
    """The sqlglot dialect instance for a supported name such as ``"duckdb"`` (see
    ``rules_export.dialects.DIALECTS``); ValueError naming the supported ones otherwise."""
    if dialect is None or dialect == "":
        raise _unsupported(dialect, "no")
    try:
        d = Dialect.get_or_raise(dialect)
    except (ValueError, KeyError):
        raise _unsupported(dialect, "unknown") from None
    if _dialect_name(d) not in DIALECTS:
        raise _unsupported(dialect, "unsupported")
    return d


def dialect_traits(dialect: str | Dialect | type[Dialect]) -> DialectTraits:
    """The per-engine traits of a supported dialect; ValueError otherwise."""
    return DIALECTS[_dialect_name(get_dialect(dialect))]  # type: ignore[index]


def nan_sorts_high(dialect: str | Dialect) -> bool:
    """Whether NaN compares greater than every number (and +inf) on this engine."""
    return dialect_traits(dialect).nan_test != "none"


def check_feature_case(rules: RuleSet, dialect: str | Dialect) -> None:
    """Refuse features whose names differ only in letter case where the engine resolves
    quoted identifiers regardless of case: both would read one column there."""
    if not dialect_traits(dialect).case_insensitive_names:
        return
    seen: dict[str, str] = {}
    for name in rules.feature_names:
        other = seen.setdefault(name.casefold(), name)
        if other != name:
            raise ValueError(
                f"features {other!r} and {name!r} differ only in letter case: "
                f"{_dialect_name(get_dialect(dialect))} resolves column names regardless of "
                "case, so the SQL would read one column for both; rename one of them"
            )


class _Renderer:
    """Builds the expression tree for one rule set and one dialect."""

    def __init__(
        self,
        rules: RuleSet,
        dialect: str | Dialect | None,
        column_types: Mapping[str, Any] | None,
        nan_guard: bool | None,
    ) -> None:
        if not isinstance(rules, RuleSet):
            raise RuleSetError(f"expected a RuleSet, got {type(rules).__name__}")
        self.rules = rules
        self.dialect = get_dialect(dialect)
        self.traits = dialect_traits(self.dialect)
        check_feature_case(rules, self.dialect)
        t = self.traits
        nan_test = t.nan_test if t.nan_test != "none" else "inf_guard"
        self.nan_test = t.nan_test if nan_guard is None else nan_test if nan_guard else "none"
        self.text_type = (
            exp.DataType.build(t.text_type, dialect=self.dialect)
            if t.text_type
            else exp.DataType(this=_DType.TEXT)
        )
        self.column_types = self._parse_column_types(column_types or {})
        self._projected: dict[str, exp.Expression] = {}

    # --- leaves --------------------------------------------------------------------------------
    def _parse_column_types(self, column_types: Mapping[str, Any]) -> dict[str, exp.DataType]:
        names = set(self.rules.feature_names)
        out = {}
        for name, t in column_types.items():
            if name not in names:
                raise ValueError(f"column_types names {name!r}, which is not a feature")
            try:
                out[name] = (
                    t
                    if isinstance(t, exp.DataType)
                    else exp.DataType.build(t, dialect=self.dialect)
                )
            except Exception as e:  # sqlglot raises several error types for a bad type
                raise ValueError(f"column_types[{name!r}]: cannot read type {t!r}: {e}") from None
        return out

    def double_type(self) -> exp.DataType:
        return exp.DataType(this=_DType.DOUBLE)

    def column(self, name: str) -> exp.Column:
        return exp.Column(this=exp.to_identifier(name, quoted=True))

    def numeric(self, name: str) -> exp.Expression:
        if self.rules.projection is not None and name in self.rules.projection.outputs:
            return self.projected(name)
        declared = self.column_types.get(name)
        if declared is not None and declared.this == _DType.DOUBLE:
            return _tag(self.column(name), ("column", name))
        return _tag(exp.Cast(this=self.column(name), to=self.double_type()), ("double", name))

    def text(self, name: str) -> exp.Expression:
        declared = self.column_types.get(name)
        if declared is not None and declared.this in _TEXT_TYPES and not declared.expressions:
            return _tag(self.column(name), ("column", name))
        return _tag(exp.Cast(this=self.column(name), to=self.text_type.copy()), ("text", name))

    def number(self, value: float) -> exp.Expression:
        """A DOUBLE expression equal to the float64 ``value`` on the target engine."""
        return _tag(self._number(value), ("number", float(value).hex()))

    def _number(self, value: float) -> exp.Expression:
        if self.traits.exact_int_literals:
            return _exact_from_integers(value, self.double_type)
        text = repr(float(value))
        if "e" in text:
            mantissa, _, exponent = text.partition("e")
            text = f"{mantissa}E{int(exponent)}"
        else:
            text += "E0"
        neg = text.startswith("-")
        lit: exp.Expression = exp.Literal(this=text.lstrip("-"), is_string=False)
        if neg:
            lit = exp.Neg(this=lit)
        return exp.Cast(this=lit, to=self.double_type())

    def _factor(self, value: float) -> exp.Expression:
        """``number`` as the right operand of ``*``: SQLite's literals built from integers
        (``1.0 / 10``) are parenthesized, else ``a * 1.0 / 10`` reads as ``(a * 1.0) / 10``."""
        num = self.number(value)
        return exp.Paren(this=num) if isinstance(num, exp.Binary) else num

    def string(self, value: str) -> exp.Expression:
        if self.traits.national_strings:
            return exp.National(this=value)
        return exp.Literal.string(value)

    def projected(self, name: str) -> exp.Expression:
        if name not in self._projected:
            proj: Projection = self.rules.projection  # type: ignore[assignment]
            j = proj.outputs.index(name)
            blocks = []
            for start, stop in proj.blocks():
                part: exp.Expression | None = None
                for i in range(start, stop):
                    term = exp.Mul(
                        this=exp.Paren(
                            this=exp.Sub(
                                this=self.numeric(proj.inputs[i]),
                                expression=self.number(proj.mean[i]),
                            )
                        ),
                        expression=self._factor(proj.weights[j][i]),
                    )
                    part = term if part is None else exp.Add(this=part, expression=term)
                blocks.append(part)
            acc = blocks[0]
            if len(blocks) > 1:  # the block sums, each in parentheses, added left to right
                acc = exp.Paren(this=acc)
                for part in blocks[1:]:
                    acc = exp.Add(this=acc, expression=exp.Paren(this=part))
            self._projected[name] = _tag(exp.Paren(this=acc), ("projected", name))
        return self._projected[name].copy()

    # --- conditions and rules ------------------------------------------------------------------
    def condition(self, cond: Interval | InSet) -> list[exp.Expression]:
        """The comparisons that together make one condition (to be ANDed)."""
        if isinstance(cond, InSet):
            values = [self.string(v) for v in cond.values]
            return [exp.In(this=self.text(cond.feature), expressions=values)]
        parts: list[exp.Expression] = []
        if self.nan_test == "opaque_isnan":
            # statistics without NaN fold "x <= +inf" and ISNAN(x) itself; NEXTAFTER(x, 0) is
            # NaN exactly when x is, and the engine derives no statistics for it
            step = exp.Anonymous(
                this="NEXTAFTER", expressions=[self.numeric(cond.feature), self.number(0.0)]
            )
            parts.append(exp.Not(this=exp.IsNan(this=step)))
        if cond.low is not None:
            parts.append(exp.GT(this=self.numeric(cond.feature), expression=self.number(cond.low)))
        if cond.high is not None:
            parts.append(
                exp.LTE(this=self.numeric(cond.feature), expression=self.number(cond.high))
            )
        elif self.nan_test == "inf_guard":
            # NaN > low is true where NaN sorts above +inf; NaN <= +inf is false everywhere
            inf = exp.Cast(this=exp.Literal.string("inf"), to=self.double_type())
            parts.append(exp.LTE(this=self.numeric(cond.feature), expression=inf))
        return parts

    def rule_condition(self, k: int) -> exp.Expression:
        parts = [p for c in self.rules.rules[k].conditions for p in self.condition(c)]
        return _and_all(parts)

    def label(self, label: Label) -> exp.Expression:
        kind = answer_kind(self.rules.classes)
        if kind == "string":
            return self.string(label if isinstance(label, str) else str(label))
        if isinstance(label, bool):
            if self.traits.bit_booleans:
                return exp.Cast(this=exp.Literal.number(int(label)), to=exp.DataType.build("BIT"))
            return exp.Boolean(this=label)
        return _int_literal(label)

    def rule_id(self) -> exp.Expression:
        if not self.rules.rules:
            return _int_literal(-1)
        ifs = [
            exp.If(this=self.rule_condition(k), true=_int_literal(k))
            for k in range(len(self.rules.rules))
        ]
        return exp.Case(ifs=ifs, default=_int_literal(-1))

    def label_direct(self) -> exp.Expression:
        if not self.rules.rules:
            return exp.Null()
        ifs = [
            exp.If(this=self.rule_condition(k), true=self.label(r.label))
            for k, r in enumerate(self.rules.rules)
        ]
        return exp.Case(ifs=ifs, default=exp.Null())

    def label_from_rule_id(self, rule_id: exp.Expression) -> exp.Expression:
        """``CASE WHEN rule_id IN (0, 3) THEN 'a' WHEN rule_id IN (1) THEN 'b' ELSE NULL END``."""
        if not self.rules.rules:
            return exp.Null()
        groups: dict[tuple[int, Any], list[int]] = {}
        labels: dict[tuple[int, Any], Label] = {}
        for k, r in enumerate(self.rules.rules):
            key = (_kind_order(r.label), r.label)
            groups.setdefault(key, []).append(k)
            labels[key] = r.label
        ifs = [
            exp.If(
                this=exp.In(this=rule_id.copy(), expressions=[_int_literal(k) for k in ks]),
                true=self.label(labels[key]),
            )
            for key, ks in groups.items()
        ]
        return exp.Case(ifs=ifs, default=exp.Null())

    def render(self, expression: exp.Expression, pretty: bool = False) -> str:
        """SQL text; ``expression`` is consumed (sqlglot's generator may rewrite it in place)."""
        with _gc_paused():
            return _generator(self.dialect, pretty).generate(expression, copy=False)


#: DuckDB's default max_expression_depth and SQLite's hard limit
ENGINE_DEPTH_LIMIT = 1000


def _warn_if_deep(rules: RuleSet) -> None:
    """Warn (at the caller of the public function) when a projection's sum nests past what
    DuckDB and SQLite accept: one level per term of a block, and one per block."""
    proj = rules.projection if isinstance(rules, RuleSet) else None
    if proj is None:
        return
    depth = proj.block_size + len(proj.blocks())
    if depth > ENGINE_DEPTH_LIMIT - 50:  # the comparison, CASE and AND chain sit above it
        warnings.warn(
            f"the projection's sum nests about {depth} levels deep in SQL ({len(proj.inputs)} "
            f"inputs in blocks of {proj.block_size}); DuckDB (unless SET max_expression_depth) "
            f"and SQLite refuse more than {ENGINE_DEPTH_LIMIT}: fit with blocks of about "
            "sqrt(inputs) (Projection.sum_block; RuleLearner uses 256)",
            UserWarning,
            stacklevel=3,
        )


_FLAT_AND = 256  # longer AND chains are written as a balanced tree of parenthesized halves


def _and_all(parts: list[exp.Expression]) -> exp.Expression:
    """``a AND b AND c``: a flat chain, which engines parse left-deep (one level per term);
    past ``_FLAT_AND`` terms, parenthesized halves keep the depth logarithmic (SQLite refuses
    expression trees deeper than 1,000). AND of comparisons is associative in SQL's
    three-valued logic, so the grouping never changes a result."""
    if len(parts) <= _FLAT_AND:
        out = parts[0]
        for p in parts[1:]:
            out = exp.And(this=out, expression=p)
        return out
    mid = len(parts) // 2
    return exp.And(
        this=exp.Paren(this=_and_all(parts[:mid])),
        expression=exp.Paren(this=_and_all(parts[mid:])),
    )


# --- rendering speed ------------------------------------------------------------------------------
# A 10,000-rule set is ~600,000 sqlglot nodes. Two things made rendering it take tens of seconds:
# the cyclic garbage collector, which re-scans the growing tree (all nodes hold parent links)
# again and again while it is built, and sqlglot generators that parse type names on every CAST
# they print (``is_type("date")`` in SQLite's ``cast_sql``; 70 us per cast). So: pause the
# collector while building/rendering, and print each distinct leaf (column cast, threshold)
# once. Leaves are tagged with a key in ``meta``; a generator subclass reuses the first text
# rendered for a key. Leaves are context-free, so this changes the time, never the text (a
# test compares against plain rendering for every dialect).

_MEMO_KEY = "rules_export"


def _tag(node: exp.Expression, key: tuple[Any, ...]) -> exp.Expression:
    node.meta[_MEMO_KEY] = key
    return node


@contextmanager
def _gc_paused() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_GENERATOR_CLASSES: dict[type, type] = {}


def _generator(dialect: Dialect, pretty: bool, memo: bool = True) -> Any:
    opts: dict[str, Any] = {"pretty": pretty, "unsupported_level": ErrorLevel.RAISE}
    base = dialect.generator_class
    if not memo:
        return dialect.generator(**opts)
    cls = _GENERATOR_CLASSES.get(base)
    if cls is None:
        try:

            class _MemoGenerator(base):  # type: ignore[misc, valid-type]
                def sql(self, expression: Any, key: Any = None, comment: bool = True) -> str:
                    meta = getattr(expression, "_meta", None)
                    if key is None and meta and _MEMO_KEY in meta:
                        memo = self.__dict__.setdefault("_rules_export_memo", {})
                        text = memo.get(meta[_MEMO_KEY])
                        if text is None:
                            text = super().sql(expression, key, comment)
                            memo[meta[_MEMO_KEY]] = text
                        return text
                    return super().sql(expression, key, comment)

            cls = _MemoGenerator
        except TypeError:  # a compiled generator class that cannot be subclassed
            cls = base
        _GENERATOR_CLASSES[base] = cls
    return cls(dialect=dialect, **opts)


def _label_kind(label: Label) -> str:
    return "bool" if isinstance(label, bool) else "int" if isinstance(label, int) else "str"


def _kind_order(label: Label) -> int:
    return {"bool": 0, "int": 1, "str": 2}[_label_kind(label)]


def _int_literal(value: int) -> exp.Expression:
    lit = exp.Literal(this=str(abs(int(value))), is_string=False)
    return exp.Neg(this=lit) if value < 0 else lit


def _exact_from_integers(value: float, double_type: Any) -> exp.Expression:
    """``value`` for SQLite, built so that SQLite's decimal parser cannot round it wrongly.

    Only two kinds of literals are used: integers, and whole numbers of at most 2**53 written
    with ``.0`` (their value is exactly representable, so the parser has nothing to round).
    They are combined by one correctly rounded IEEE operation:

    * whole numbers up to 2**53: ``52000.0``;
    * ``s * 10**-k`` with ``|s| <= 2**53`` and ``k <= 18`` (Clinger's fast path): ``37.0 / 10``
      is the float64 nearest to 3.7, exactly the value ``repr`` denotes;
    * larger whole numbers below 2**63: ``CAST(n AS REAL)`` (int64 to double rounds correctly);
    * anything else in binary, ``m * 2**e`` with an odd 53-bit ``m``, by multiplying or dividing
      by powers of two of at most 2**62; every step is exact because every intermediate value
      is a representable double.
    """

    def real(n: int) -> exp.Expression:
        lit = exp.Literal(this=f"{abs(n)}.0", is_string=False)
        return exp.Neg(this=lit) if n < 0 else lit

    value = float(value)
    if value.is_integer() and abs(value) <= 2**53:
        return real(int(value))
    digits, k = _decimal(value)
    if abs(digits) <= 2**53 and -18 <= k < 0:
        return exp.Div(this=real(digits), expression=_int_literal(10**-k), typed=True)
    if k > 0 and abs(digits) * 10**k < 2**63:
        return exp.Cast(this=_int_literal(digits * 10**k), to=double_type())
    m, e = value.as_integer_ratio()  # value == m / e; e is a power of two
    out: exp.Expression
    if e == 1:  # a whole number above 2**63: odd * 2**shift
        shift = (m & -m).bit_length() - 1
        out = real(m >> shift)
        while shift > 0:
            step = min(shift, 62)
            out = exp.Mul(this=out, expression=_int_literal(2**step))
            shift -= step
        return out
    shift = e.bit_length() - 1
    out = real(m)
    while shift > 0:
        step = min(shift, 62)
        out = exp.Div(this=out, expression=_int_literal(2**step), typed=True)
        shift -= step
    return out


def _decimal(value: float) -> tuple[int, int]:
    """``repr(value)`` as ``digits * 10**k`` with integer digits."""
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    k = int(exponent) if exponent else 0
    sign = -1 if mantissa.startswith("-") else 1
    mantissa = mantissa.lstrip("-")
    whole, _, frac = mantissa.partition(".")
    frac = frac.rstrip("0")
    digits = int(whole + frac) if (whole + frac) else 0
    return sign * digits, k - len(frac)


def _resolve(rules: RuleSet, dialect: Any, column_types: Any, nan_guard: Any) -> _Renderer:
    return _Renderer(rules, dialect, column_types, nan_guard)


def rule_id_expression(
    rules: RuleSet,
    dialect: str | Dialect | None = "duckdb",
    column_types: Mapping[str, Any] | None = None,
    *,
    nan_guard: bool | None = None,
) -> exp.Expression:
    """``CASE WHEN <rule 0> THEN 0 ... ELSE -1 END`` over the input columns.

    ``dialect`` decides the engine-specific details (exact literals on SQLite, the NaN guard);
    render the tree with the same dialect. ``column_types`` maps feature names to the SQL types
    the columns already have: casts that would not change the value are left out.
    """
    _warn_if_deep(rules)
    with _gc_paused():
        return _resolve(rules, dialect, column_types, nan_guard).rule_id()


def label_expression(
    rules: RuleSet,
    dialect: str | Dialect | None = "duckdb",
    column_types: Mapping[str, Any] | None = None,
    *,
    rule_id: exp.Expression | str | None = None,
    nan_guard: bool | None = None,
) -> exp.Expression:
    """The label of the first matching rule, ``NULL`` where none matches.

    Without ``rule_id``: ``CASE WHEN <rule 0> THEN 'a' ... ELSE NULL END``. With ``rule_id`` (a
    column name or an expression holding the rule index): ``CASE WHEN rule_id IN (0, 3) THEN 'a'
    ... END``, which does not evaluate the conditions again. Labels of mixed types (say 1 and
    "a") are rendered as strings (``str(label)``); booleans are ``TRUE``/``FALSE`` (``1``/``0`` on
    T-SQL and Oracle).
    """
    _warn_if_deep(rules)
    with _gc_paused():
        r = _resolve(rules, dialect, column_types, nan_guard)
        if rule_id is None:
            return r.label_direct()
        rid = r.column(rule_id) if isinstance(rule_id, str) else rule_id
        return r.label_from_rule_id(rid)


def _table(table: Any) -> exp.Expression:
    if table is None:
        table = DEFAULT_TABLE
    if isinstance(table, str):
        if table == "":
            raise ValueError("table name must not be empty")
        return exp.Table(this=exp.to_identifier(table, quoted=True))
    if isinstance(table, exp.Table):
        return table.copy()
    if isinstance(table, (exp.Select, exp.Union)):
        return exp.Subquery(this=table.copy())
    if isinstance(table, exp.Subquery):
        return table.copy()
    if (
        isinstance(table, Sequence)
        and 1 <= len(table) <= 3
        and all(isinstance(p, str) and p for p in table)
    ):
        parts = [exp.to_identifier(p, quoted=True) for p in table]
        keys = ["this", "db", "catalog"]
        return exp.Table(**{k: v for k, v in zip(keys, reversed(parts), strict=False)})
    raise ValueError(
        "table must be a name (quoted as one identifier), a sequence of up to three name parts "
        f"(catalog, schema, table), a sqlglot Table or a SELECT; got {table!r}"
    )


def _select_expression(
    rules: RuleSet,
    table: Any = None,
    dialect: str | Dialect | None = "duckdb",
    column_types: Mapping[str, Any] | None = None,
    *,
    rule_id_column: str = "rule_id",
    label_column: str = "prediction",
    nan_guard: bool | None = None,
) -> exp.Select:
    """``select_expression`` with the garbage collector already paused."""
    r = _resolve(rules, dialect, column_types, nan_guard)
    # a feature "RULE_ID" and an output "rule_id" would be one column there
    check_output_columns(
        rules.feature_names,
        rule_id_column,
        label_column,
        of="feature",
        because="SQL engines such as DuckDB and SQLite match names regardless of case",
    )
    src = exp.to_identifier(_INPUT_ALIAS, quoted=True)
    out_alias = exp.to_identifier(_OUTPUT_ALIAS, quoted=True)
    rid_ident = exp.to_identifier(rule_id_column, quoted=True)
    inner = exp.Select(
        expressions=[
            exp.Column(this=exp.Star(), table=src.copy()),
            exp.Alias(this=r.rule_id(), alias=rid_ident.copy()),
        ]
    ).from_(exp.Alias(this=_table(table), alias=exp.TableAlias(this=src.copy())), copy=False)
    rid_ref = exp.Column(this=rid_ident.copy(), table=out_alias.copy())
    return exp.Select(
        expressions=[
            exp.Column(this=exp.Star(), table=out_alias.copy()),
            exp.Alias(
                this=r.label_from_rule_id(rid_ref),
                alias=exp.to_identifier(label_column, quoted=True),
            ),
        ]
    ).from_(
        exp.Alias(this=exp.Subquery(this=inner), alias=exp.TableAlias(this=out_alias.copy())),
        copy=False,
    )


def _to_sql(
    rules: RuleSet,
    dialect: str | Dialect | None = "duckdb",
    table: Any = None,
    form: Form = "select",
    column_types: Mapping[str, Any] | None = None,
    *,
    pretty: bool = False,
    rule_id_column: str = "rule_id",
    label_column: str = "prediction",
    nan_guard: bool | None = None,
) -> str:
    """``to_sql`` with the garbage collector already paused."""
    r = _resolve(rules, dialect, column_types, nan_guard)
    if form == "rule_id":
        tree = r.rule_id()
    elif form == "label":
        tree = r.label_direct()
    elif form == "select":
        tree = _select_expression(
            rules,
            table,
            r.dialect,
            column_types,
            rule_id_column=rule_id_column,
            label_column=label_column,
            nan_guard=nan_guard,
        )
    else:
        raise ValueError(f"form must be 'select', 'rule_id' or 'label', got {form!r}")
    try:
        return r.render(tree, pretty=pretty)
    except sqlglot.errors.UnsupportedError as e:
        raise ValueError(f"sqlglot cannot render this rule set for {dialect!r}: {e}") from None


def select_expression(
    rules: RuleSet,
    table: Any = None,
    dialect: str | Dialect | None = "duckdb",
    column_types: Mapping[str, Any] | None = None,
    *,
    rule_id_column: str = "rule_id",
    label_column: str = "prediction",
    nan_guard: bool | None = None,
) -> exp.Select:
    """``SELECT t.*, <rule_id> AS rule_id, <label> AS prediction FROM (...)``.

    The conditions are evaluated once, in an inner query; the outer query maps the rule index
    to the label. The input table must not already have columns with the two output names.
    """
    _warn_if_deep(rules)
    with _gc_paused():
        return _select_expression(
            rules,
            table,
            dialect,
            column_types,
            rule_id_column=rule_id_column,
            label_column=label_column,
            nan_guard=nan_guard,
        )


def to_sql(
    rules: RuleSet,
    dialect: str | Dialect | None = "duckdb",
    table: Any = None,
    form: Form = "select",
    column_types: Mapping[str, Any] | None = None,
    *,
    pretty: bool = False,
    rule_id_column: str = "rule_id",
    label_column: str = "prediction",
    nan_guard: bool | None = None,
) -> str:
    """Render the rule set as SQL text for ``dialect`` (any dialect sqlglot knows).

    ``form``: ``"select"`` (a query over ``table`` adding ``rule_id`` and ``prediction``),
    ``"rule_id"`` (one expression: index of the first matching rule, -1 for none) or ``"label"``
    (one expression: its label, NULL for none). ``table`` is a name, quoted as one identifier
    (default ``"input"``), a (catalog, schema, table) sequence or a sqlglot Table.
    ``column_types`` maps feature names to the SQL types the columns have (casts that change
    nothing are left out); ``nan_guard`` overrides the per-dialect NaN handling (see the module
    docstring).
    """
    _warn_if_deep(rules)
    with _gc_paused():
        return _to_sql(
            rules,
            dialect,
            table,
            form,
            column_types,
            pretty=pretty,
            rule_id_column=rule_id_column,
            label_column=label_column,
            nan_guard=nan_guard,
        )
