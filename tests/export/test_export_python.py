"""The exported Python module: standalone, lint-clean, names only as string literals, same
answers and same input errors as the reference."""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

import rules_export as rx

try:
    from test_export_cases import SUPPRESSED, Case, cases, python_module
except ImportError:  # tests/ imported as a package
    from tests.export.test_export_cases import (  # type: ignore[no-redef]
        SUPPRESSED,
        Case,
        cases,
        python_module,
    )

EVIL = [
    'x"; import os; os._exit(3) #',
    "'''; os._exit(4); '''",
    '"""',
    "\\",
    "a\nb = 1",
    "match",
    "RULES",
    "__import__('os').system('false')",
    "naïve 日本 🎲",
    "\u2028line sep",
]


def evil_rule_set() -> rx.RuleSet:
    names = [*EVIL, "cat", "e1", "e2"]
    feats = rx.make_features(names, ["cat"], {"cat": ["a", "'''", "it's"]})
    proj = rx.Projection(("e1", "e2"), ('z"',), (0.5, -1.0), ((2.0, -0.25),))
    rules = tuple(
        rx.Rule((rx.Interval(n, -1.5 + i, None if i % 2 else 2.0 + i),), label)
        for i, (n, label) in enumerate(zip(EVIL, ["p", "q'", '"r'] * 4, strict=False))
    ) + (rx.Rule((rx.InSet("cat", ("'''", "a")), rx.Interval('z"', None, 0.0)), "p"),)
    return rx.RuleSet(feats, ("p", "q'", '"r'), rules, projection=proj)


def ruff() -> str:
    exe = shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed")
    return exe


def test_generated_module_passes_ruff_and_compiles(tmp_path: Path) -> None:
    exe = ruff()
    sources = {"evil.py": rx.to_python(evil_rule_set())}
    sources["empty.py"] = rx.to_python(rx.RuleSet(rx.make_features(["a"]), (True, False)))
    for name, src in sources.items():
        compile(src, name, "exec")
        (tmp_path / name).write_text(src, encoding="utf-8")
    for args in (
        [],  # ruff's defaults
        ["--select", "E,F,W,I,B,UP,NPY,C4,SIM,PL", "--ignore", "E501,PLR2004,PLR0912"],
    ):
        r = subprocess.run(
            [exe, "check", "--isolated", "--no-cache", *args, str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, r.stdout + r.stderr


@settings(max_examples=15, deadline=None, suppress_health_check=SUPPRESSED)
@given(cases(max_rows=2))
def test_random_rule_sets_give_lint_clean_modules(tmp_path_factory, case: Case) -> None:
    exe = ruff()
    path = tmp_path_factory.mktemp("gen") / "rules_module.py"
    path.write_text(rx.to_python(case.rules), encoding="utf-8")
    r = subprocess.run(
        [
            exe,
            "check",
            "--isolated",
            "--no-cache",
            "--select",
            "E,F,W,B,UP",
            "--ignore",
            "E501",
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout


def _code_names(src: str) -> set[str]:
    return {
        t.string
        for t in tokenize.generate_tokens(io.StringIO(src).readline)
        if t.type == tokenize.NAME
    }


def test_feature_names_appear_only_as_string_literals() -> None:
    plain = rx.RuleSet(
        rx.make_features(["a", "c", "e1", "e2"], ["c"]),
        ("p",),
        (rx.Rule((rx.Interval("a", 0, 1), rx.InSet("c", ("x",)), rx.Interval("z", 0, 1)), "p"),),
        projection=rx.Projection(("e1", "e2"), ("z",), (0, 0), ((1, 1),)),
    )
    # the identifiers of the module do not depend on the names in the rule set
    assert _code_names(rx.to_python(evil_rule_set())) == _code_names(rx.to_python(plain))


def test_executing_the_module_runs_no_injected_code() -> None:
    mod = python_module(evil_rule_set())  # would exit the process if a name became code
    assert mod["FEATURES"][0] == (EVIL[0], "numeric")
    assert mod["match"]({n: 0.0 for n in [*EVIL, "e1", "e2"]} | {"cat": "a"}) == 0


def test_module_runs_standalone_without_numpy(tmp_path: Path) -> None:
    (tmp_path / "exported_rules.py").write_text(rx.to_python(evil_rule_set()), encoding="utf-8")
    code = (
        "import sys; sys.modules['numpy'] = None; sys.path.insert(0, '.')\n"
        "import exported_rules as m\n"
        "row = {n: 0.5 for n, _ in m.FEATURES}; row['cat'] = 'a'\n"
        "print(m.match(row), m.predict(row))\n"
        "loaded = [k for k, v in sys.modules.items() if v is not None]\n"
        "print(sorted(set(loaded) & {'numpy', 'rules_export', 'sqlglot'}))\n"
    )
    r = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    ids, loaded = r.stdout.splitlines()
    row = {n: [0.5] for n in evil_rule_set().feature_names} | {"cat": ["a"]}
    want = int(rx.match(evil_rule_set(), row)[0])
    assert ids.split()[0] == str(want)
    assert loaded == "[]"


def test_match_predict_and_columns_agree_with_reference() -> None:
    rs = evil_rule_set()
    mod = python_module(rs)
    rng = np.random.default_rng(0)
    n = 200
    cols: dict[str, list] = {}
    for f in rs.features:
        if f.kind == "numeric":
            v = rng.normal(size=n) * 3
            v[rng.random(n) < 0.1] = np.nan
            v[rng.random(n) < 0.05] = np.inf
            vals: list = v.tolist()
            vals[3] = None
            cols[f.name] = vals
        else:
            cols[f.name] = list(rng.choice(["a", "'''", "it's", "zz"], size=n))
            cols[f.name][4] = None
    ref_in = {
        k: (
            np.array([np.nan if x is None else x for x in v])
            if k != "cat"
            else np.array(v, dtype=object)
        )
        for k, v in cols.items()
    }
    want = rx.match(rs, ref_in).tolist()
    assert mod["match_columns"](cols) == want
    assert mod["predict_columns"](cols) == list(rx.predict(rs, ref_in))
    rows = [{k: v[i] for k, v in cols.items()} for i in range(n)]
    assert [mod["match"](r) for r in rows] == want
    assert [mod["predict"](r) for r in rows] == list(rx.predict(rs, ref_in))
    assert mod["CLASSES"] == rs.classes
    # numpy scalars, bools and ints are numbers; ints in a categorical column are their decimal
    np_rows = [{k: (np.float32(1.0) if k != "cat" else np.int64(3)) for k in cols}]
    assert mod["match_columns"]({k: [v] for k, v in np_rows[0].items()}) == [
        mod["match"](np_rows[0])
    ]


def test_input_errors_name_the_column_and_row() -> None:
    rs = evil_rule_set()
    mod = python_module(rs)
    error = mod["InputError"]
    assert issubclass(error, ValueError)
    good = {n: [1.0, 2.0] for n in rs.feature_names} | {"cat": ["a", None]}
    with pytest.raises(error, match="missing column 'cat'"):
        mod["match_columns"]({k: v for k, v in good.items() if k != "cat"})
    with pytest.raises(error, match="missing column 'e1'"):
        mod["match"]({k: v[0] for k, v in good.items() if k != "e1"})
    bad = dict(good, e2=[1.0, "abc"])
    with pytest.raises(error, match=r"column 'e2', row 1: 'abc' is not a number"):
        mod["match_columns"](bad)
    with pytest.raises(error, match=r"column 'cat', row 0: 1.5 is not a string"):
        mod["match_columns"](dict(good, cat=[1.5, "a"]))
    with pytest.raises(error, match="has 3 rows, expected 2"):
        mod["match_columns"](dict(good, e1=[1.0, 2.0, 3.0]))
    with pytest.raises(error, match="must be a sequence"):
        mod["match_columns"](dict(good, e1="12"))
    with pytest.raises(error, match="is not a float64 number"):
        mod["match"]({k: v[0] for k, v in good.items()} | {"e1": 10**400})


def test_python_module_nan_none_inf_semantics() -> None:
    rs = rx.RuleSet(
        rx.make_features(["x", "c"], ["c"]),
        ("a", "b"),
        (rx.Rule((rx.Interval("x", 0.5, None),), "a"), rx.Rule((rx.InSet("c", ("3",)),), "b")),
    )
    mod = python_module(rs)
    rows = [
        ({"x": math.nan, "c": None}, -1),
        ({"x": None, "c": 3}, 1),
        ({"x": math.inf, "c": "x"}, 0),
        ({"x": -math.inf, "c": "3"}, 1),
        ({"x": 0.5, "c": math.nan}, -1),
        ({"x": True, "c": None}, 0),
    ]
    for row, want in rows:
        assert mod["match"](row) == want, row
        assert rx.match(rs, {k: [v] for k, v in row.items()})[0] == want, row


def test_numpy_and_enum_values_are_stored_as_plain_python() -> None:
    import enum

    class Colour(enum.IntEnum):
        RED = 1
        BLUE = 2

    rs = rx.RuleSet(
        rx.make_features([np.str_("a"), "c"], ["c"]),
        (Colour.RED, np.int64(2)),
        (
            rx.Rule(
                (rx.Interval(np.str_("a"), np.float32(0.5), None), rx.InSet("c", (np.str_("q"),))),
                Colour.RED,
            ),
        ),
    )
    assert type(rs.classes[0]) is int and type(rs.rules[0].conditions[1].values[0]) is str
    mod = python_module(rs)  # repr(np.str_("q")) would be "np.str_('q')": not valid here
    assert mod["predict"]({"a": 1.0, "c": "q"}) == 1
