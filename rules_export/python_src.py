"""Rule set -> a standalone Python module (standard library only).

The generated module holds the rules as data (``RULES``) and a small interpreter for them:

* ``match(row) -> int``: index of the first matching rule, -1 where none matches;
* ``predict(row)``: that rule's label, ``None`` where none matches;
* ``match_columns(columns) -> list[int]`` / ``predict_columns(columns) -> list``: the same for
  a mapping of column name -> sequence of values.

Semantics are those of ``reference.py``: numeric values (numbers, numpy numbers,
``decimal.Decimal``) are converted with ``float()`` and compared in float64 (``None`` and NaN
never match; +/-inf compare as numbers); categorical values match as exact strings, integers as
their decimal text, and ``bytes`` are refused (decode them first); a feature ``<column>_<i>``
absent from the input is element ``i`` of its list column ``<column>`` (embeddings); projection
features are summed in the order ``Projection`` defines. Feature names and values only ever appear in the module as string literals (``repr``), so
no name can inject code; the module passes ``ruff check`` and ``compile()``.
"""

from __future__ import annotations

from .model import InSet, Interval, Label, RuleSet, RuleSetError, required_format_version

_CODE = '''

class InputError(ValueError):
    """A row or column does not fit the rule set; the message names the column (and row)."""


def _describe(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_missing_marker(value):
    # pandas.NA without importing pandas
    return type(value).__name__ == "NAType"


def _to_float(value, name, where):
    if value is None or _is_missing_marker(value):
        return math.nan
    if isinstance(value, (int, float, decimal.Decimal)):
        number = value
    elif getattr(getattr(value, "dtype", None), "kind", "") in ("f", "i", "u", "b"):
        number = value  # a numpy scalar
    else:
        raise InputError(f"column {name!r}{where}: {_describe(value)} is not a number")
    try:
        return float(number)
    except (OverflowError, TypeError, ValueError):
        raise InputError(
            f"column {name!r}{where}: {_describe(value)} is not a float64 number"
        ) from None


def _to_text(value, name, where):
    if value is None or _is_missing_marker(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u"):
        return str(int(value))  # a numpy integer
    raise InputError(
        f"column {name!r}{where}: {_describe(value)} is not a string (categorical feature)"
    )


_KINDS = dict(FEATURES)
_USED = tuple(
    name
    for name, _kind in FEATURES
    if name in {cond[0] for _label, conditions in RULES for cond in conditions}
    or PROJECTION is not None
    and name in PROJECTION["inputs"]
    and any(cond[0] in PROJECTION["outputs"] for _label, conditions in RULES for cond in conditions)
)


def _list_source(name):
    # feature "emb_3" may be element 3 of the list column "emb"
    head, sep, tail = name.rpartition("_")
    if not (sep and head and tail.isascii() and tail.isdecimal()) or str(int(tail)) != tail:
        return None
    return head, int(tail)


_LISTS = {name: _list_source(name) for name in _USED}


def _is_missing(value):
    return (
        value is None
        or _is_missing_marker(value)
        or (isinstance(value, float) and math.isnan(value))
    )


def _is_list(value):
    return not isinstance(value, (str, bytes)) and hasattr(value, "__len__")


def _row_value(row, name):
    try:
        return row[name]
    except KeyError:
        pass
    source = _LISTS[name]
    if source is not None and source[0] in row:
        value = row[source[0]]
        if _is_missing(value):
            return None
        if _is_list(value) and source[1] < len(value):
            return value[source[1]]
    raise InputError(f"missing column {name!r}")


def _column_values(columns, name):
    try:
        return columns[name]
    except KeyError:
        pass
    source = _LISTS[name]
    if source is not None and source[0] in columns and _is_list(columns[source[0]]):
        lists = list(columns[source[0]])
        if all(_is_missing(v) or _is_list(v) for v in lists):
            lengths = {len(v) for v in lists if not _is_missing(v)}
            if len(lengths) > 1:
                raise InputError(f"column {source[0]!r}: embedding lists have different lengths")
            if not lengths or source[1] < min(lengths):
                return [None if _is_missing(v) else v[source[1]] for v in lists]
    raise InputError(f"missing column {name!r}")


def _convert(name, value, where):
    if _KINDS[name] == "numeric":
        return _to_float(value, name, where)
    return _to_text(value, name, where)


def _project(values):
    if PROJECTION is None or not all(name in values for name in PROJECTION["inputs"]):
        return
    inputs, mean, block = PROJECTION["inputs"], PROJECTION["mean"], PROJECTION["sum_block"]
    for j, output in enumerate(PROJECTION["outputs"]):
        weights = PROJECTION["weights"][j]
        acc = 0.0
        for start in range(0, len(inputs), block):
            part = 0.0
            for i in range(start, min(start + block, len(inputs))):
                part = part + (values[inputs[i]] - mean[i]) * weights[i]
            acc = acc + part
        values[output] = acc


def _first_match(values):
    for index, (_label, conditions) in enumerate(RULES):
        for cond in conditions:
            value = values[cond[0]]
            if cond[1] == "in":
                if value is None or value not in cond[2]:
                    break
            else:
                low, high = cond[2], cond[3]
                if low is not None and not value > low:
                    break
                if high is not None and not value <= high:
                    break
        else:
            return index
    return -1


def match(row):
    """Index of the first rule that matches ``row`` (a mapping name -> value); -1 for none."""
    values = {}
    for name in _USED:
        values[name] = _convert(name, _row_value(row, name), "")
    _project(values)
    return _first_match(values)


def predict(row):
    """Label of the first rule that matches ``row``; None where no rule matches."""
    index = match(row)
    return None if index < 0 else RULES[index][0]


def match_columns(columns):
    """``match`` for every row of ``columns`` (a mapping name -> sequence of values)."""
    converted = {}
    n_rows = None
    for name in _USED:
        column = _column_values(columns, name)
        if isinstance(column, (str, bytes)) or not hasattr(column, "__len__"):
            raise InputError(f"column {name!r} must be a sequence of values")
        if n_rows is None:
            n_rows = len(column)
        elif len(column) != n_rows:
            raise InputError(f"column {name!r} has {len(column)} rows, expected {n_rows}")
        converted[name] = [_convert(name, v, f", row {i}") for i, v in enumerate(column)]
    if n_rows is None:
        n_rows = next((len(c) for c in columns.values()), 0)
    out = []
    for i in range(n_rows):
        values = {name: col[i] for name, col in converted.items()}
        _project(values)
        out.append(_first_match(values))
    return out


def predict_columns(columns):
    """``predict`` for every row of ``columns``."""
    return [None if index < 0 else RULES[index][0] for index in match_columns(columns)]
'''


def _header(rules: RuleSet) -> str:
    lines = [
        f'"""Rule set exported by rules_export (format {required_format_version(rules)}); generated, do not edit.',
        "",
        "Standalone (standard library only):",
        "    match(row) -> index of the first matching rule, -1 where none matches",
        "    predict(row) -> its label, None where none matches",
        "    match_columns(columns) / predict_columns(columns) -> the same for whole columns",
        "A row maps column names to values. Numeric values compare as float64 (None and NaN",
        "never match); categorical values compare as exact strings (integers as their decimal;",
        "bytes are refused). A feature <column>_<i> missing from the input is element i of its",
        "list column (embeddings).",
        '"""',
        "",
        "import decimal",
        "import math",
        "",
        f"FORMAT_VERSION = {required_format_version(rules)!r}",
        f"LIBRARY_VERSION = {rules.library_version!r}",
        f"DATA_FINGERPRINT = {rules.data_fingerprint!r}",
        "",
    ]
    return "\n".join(lines)


def _label(label: Label) -> str:
    return repr(label)


def _condition(c: Interval | InSet) -> str:
    if isinstance(c, Interval):
        return f"({c.feature!r}, 'interval', {_float(c.low)}, {_float(c.high)})"
    values = ", ".join(repr(v) for v in c.values)
    return f"({c.feature!r}, 'in', frozenset({{{values}}}))"


def _float(v: float | None) -> str:
    return "None" if v is None else repr(float(v))


def to_python(rules: RuleSet) -> str:
    """Source of a standalone Python module that evaluates ``rules`` (see the module docstring)."""
    if not isinstance(rules, RuleSet):
        raise RuleSetError(f"expected a RuleSet, got {type(rules).__name__}")
    out = [_header(rules)]
    out.append("# (name, kind): kind is 'numeric' (float64) or 'categorical' (exact strings)")
    out.append("FEATURES = (")
    for f in rules.features:
        out.append(f"    ({f.name!r}, {f.kind!r}),")
    out.append(")")
    out.append("")
    out.append("CLASSES = (" + "".join(f"{_label(c)}, " for c in rules.classes).rstrip() + ")")
    out.append("")
    p = rules.projection
    if p is None:
        out.append("PROJECTION = None")
    else:
        out.append(
            "# outputs[j] = sum over i of (inputs[i] - mean[i]) * weights[j][i], in blocks of"
        )
        out.append(
            "# sum_block inputs each summed left to right, then the block sums left to right"
        )
        out.append("PROJECTION = {")
        out.append("    'inputs': (" + "".join(f"{n!r}, " for n in p.inputs).rstrip() + "),")
        out.append("    'outputs': (" + "".join(f"{n!r}, " for n in p.outputs).rstrip() + "),")
        out.append("    'mean': (" + "".join(f"{_float(m)}, " for m in p.mean).rstrip() + "),")
        out.append("    'weights': (")
        for row in p.weights:
            out.append("        (" + "".join(f"{_float(w)}, " for w in row).rstrip() + "),")
        out.append("    ),")
        out.append(f"    'sum_block': {p.block_size},")
        out.append("}")
    out.append("")
    out.append("# (label, conditions); a condition is (feature, 'interval', low, high) meaning")
    out.append("# low < x <= high (None: open side), or (feature, 'in', frozenset of strings).")
    out.append("# The first rule whose conditions all hold answers a row.")
    out.append("RULES = (")
    for k, r in enumerate(rules.rules):
        out.append(f"    # rule {k}")
        out.append(f"    ({_label(r.label)}, (")
        for c in r.conditions:
            out.append(f"        {_condition(c)},")
        out.append("    )),")
    out.append(")")
    return "\n".join(out) + "\n" + _CODE
