"""JSON Schema check of rule-set documents, without a third-party validator.

``ruleset.schema.json`` (shipped next to this module) is the published description of the
format. rules_export depends only on the stdlib, numpy and sqlglot, so this module implements
exactly the subset of JSON Schema (draft 2020-12) that the file uses: ``type``, ``properties``,
``required``, ``additionalProperties: false``, ``items``, ``enum``, ``const``, ``minimum``,
``maximum``, ``minItems``, ``minLength``, ``pattern``, ``anyOf``, ``oneOf`` and local ``$ref``
into ``$defs``. A schema that uses any other keyword is refused when it is loaded, so the file
and the validator cannot drift apart silently. Tests check that the verdicts agree with the
``jsonschema`` package.

Errors are one line naming the JSON path: ``rules.json: $.rules[3].conditions[0].low: expected
number or null, got "abc"``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .model import RuleSetError

SCHEMA_FILE = "ruleset.schema.json"

_ANNOTATIONS = {"$schema", "$id", "title", "description", "$comment", "$defs"}
_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minItems",
    "minLength",
    "pattern",
    "anyOf",
    "oneOf",
    "$ref",
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The shipped JSON Schema (parsed once; treat as read-only)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    doc = json.loads(text)
    _check_supported(doc, "#")
    return doc


def _check_supported(node: Any, where: str) -> None:
    if isinstance(node, bool):
        return
    if not isinstance(node, dict):
        raise RuntimeError(f"{SCHEMA_FILE}: {where} is not a schema")
    unknown = set(node) - _KEYWORDS - _ANNOTATIONS
    if unknown:
        raise RuntimeError(
            f"{SCHEMA_FILE}: {where} uses keywords {sorted(unknown)} that rules_export.schema "
            "does not implement"
        )
    if node.get("additionalProperties", False) is not False:
        raise RuntimeError(f"{SCHEMA_FILE}: {where}: only additionalProperties: false is supported")
    ref = node.get("$ref")
    if ref is not None and not (isinstance(ref, str) and ref.startswith("#/$defs/")):
        raise RuntimeError(f"{SCHEMA_FILE}: {where}: only local #/$defs/ references are supported")
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            _check_supported(sub, f"{where}/{key}/{name}")
    if "items" in node:
        _check_supported(node["items"], f"{where}/items")
    for key in ("anyOf", "oneOf"):
        for i, sub in enumerate(node.get(key, ())):
            _check_supported(sub, f"{where}/{key}/{i}")


# --- errors ------------------------------------------------------------------------------------


@dataclass
class _Error:
    path: tuple[str | int, ...]
    message: str
    expected: tuple[str, ...] = ()  # set for type errors: they merge across anyOf branches
    value: Any = None

    def text(self) -> str:
        if self.expected:
            return f"expected {' or '.join(self.expected)}, got {describe(self.value)}"
        return self.message


def json_path(path: tuple[str | int, ...]) -> str:
    """``$.rules[3].conditions[0].low``; keys that are not identifiers are quoted."""
    out = ["$"]
    for p in path:
        if isinstance(p, int):
            out.append(f"[{p}]")
        elif _IDENT.match(p):
            out.append(f".{p}")
        else:
            out.append(f"[{_clip(json.dumps(p))}]")
    return "".join(out)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """A short, one-line description of a JSON value for error messages."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, tuple):
        return "a tuple (plain JSON data has lists)"
    try:
        return _clip(json.dumps(value, allow_nan=True))
    except (TypeError, ValueError):
        return f"a {type(value).__name__}"


# --- validation --------------------------------------------------------------------------------

_TYPE_NAMES = ("null", "boolean", "integer", "number", "string", "array", "object")


def _has_type(value: Any, name: str) -> bool:
    # the JSON data model, as jsonschema sees it: bool is not a number; 1.0 is an integer
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or isinstance(value, float) and value.is_integer()
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    raise RuntimeError(f"{SCHEMA_FILE}: unknown type {name!r}")


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return a == b


def _first_error(
    value: Any, node: Any, root: dict[str, Any], path: tuple[str | int, ...]
) -> _Error | None:
    if node is True:
        return None
    if node is False:
        return _Error(path, "no value is allowed here")
    if "$ref" in node:
        err = _first_error(value, _resolve(node, root), root, path)
        if err is not None:
            return err
    if "type" in node:
        names = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_has_type(value, n) for n in names):
            return _Error(path, "", tuple(names), value)
    if "const" in node and not _json_equal(value, node["const"]):
        return _Error(path, f"expected {describe(node['const'])}, got {describe(value)}")
    if "enum" in node and not any(_json_equal(value, v) for v in node["enum"]):
        allowed = ", ".join(describe(v) for v in node["enum"])
        return _Error(path, f"expected one of {allowed}, got {describe(value)}")
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if is_number and "minimum" in node and value < node["minimum"]:
        return _Error(path, f"must be at least {node['minimum']}, got {describe(value)}")
    if is_number and "maximum" in node and value > node["maximum"]:
        return _Error(path, f"must be at most {node['maximum']}, got {describe(value)}")
    if isinstance(value, str):
        if "minLength" in node and len(value) < node["minLength"]:
            what = "must not be empty" if node["minLength"] == 1 else "is too short"
            return _Error(path, f"{what}, got {describe(value)}")
        if "pattern" in node and re.search(node["pattern"], value) is None:
            return _Error(path, f"does not match {node['pattern']}: {describe(value)}")
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            what = "must not be empty" if node["minItems"] == 1 else "has too few items"
            return _Error(path, f"{what} (at least {node['minItems']} items)")
        if "items" in node:
            for i, item in enumerate(value):
                err = _first_error(item, node["items"], root, (*path, i))
                if err is not None:
                    return err
    if isinstance(value, dict):
        for key in node.get("required", ()):
            if key not in value:
                return _Error(path, f"missing required field {_clip(json.dumps(key))}")
        props = node.get("properties", {})
        if node.get("additionalProperties", True) is False:
            for key in value:
                if key not in props:
                    return _Error(
                        (*path, key), f"unknown field {_clip(json.dumps(key))} is not allowed here"
                    )
        for key, sub in props.items():
            if key in value:
                err = _first_error(value[key], sub, root, (*path, key))
                if err is not None:
                    return err
    for keyword in ("anyOf", "oneOf"):
        if keyword not in node:
            continue
        branches = node[keyword]
        errors = [_first_error(value, b, root, path) for b in branches]
        n_ok = sum(e is None for e in errors)
        if keyword == "anyOf" and n_ok == 0 or keyword == "oneOf" and n_ok == 0:
            return _best(errors, branches, root, path, value)
        if keyword == "oneOf" and n_ok > 1:
            return _Error(path, f"matches {n_ok} alternatives where exactly one must match")
    return None


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = root
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def _type_names(types: Any) -> str:
    return types if isinstance(types, str) else "/".join(str(x) for x in types)


def _best(
    errors: list[_Error | None],
    branches: list[Any],
    root: dict[str, Any],
    path: tuple[str | int, ...],
    value: Any,
) -> _Error:
    """The most useful error when no alternative matched.

    Prefer the alternative the author evidently meant: the one whose error lies deepest in the
    value, that is not merely an unknown field, and that knows most of the object's fields. Type
    errors at the same spot merge into "expected A or B"; if still undecided, name the
    alternatives.
    """
    targets = [_resolve(b, root) for b in branches]

    def known_fields(target: Any) -> int:
        if not isinstance(value, dict) or not isinstance(target, dict):
            return 0
        return sum(k in target.get("properties", {}) for k in value)

    ranked = [
        ((len(e.path), not e.message.startswith("unknown field"), known_fields(t)), e)
        for e, t in zip(errors, targets, strict=True)
        if e is not None
    ]
    best_rank = max(r for r, _ in ranked)
    deepest = [e for r, e in ranked if r == best_rank]
    if len(deepest) == 1 and (best_rank[0] > len(path) or best_rank[2] > 0):
        return deepest[0]
    errs = [e for _, e in ranked]
    # the value has the type of one alternative only and breaks it otherwise (a number out of
    # range, where the others want null): that alternative's error is the one to say
    typed = [e for e in errs if not (e.expected and e.path == path)]
    if len(typed) == 1 and len(errs) > 1:
        return typed[0]
    if all(e.expected and e.path == path for e in errs):
        expected: list[str] = []
        for e in errs:
            expected += [t for t in e.expected if t not in expected]
        return _Error(path, "", tuple(expected), value)
    titles = [
        t.get("title") or _type_names(t.get("type", "?")) if isinstance(t, dict) else "?"
        for t in targets
    ]
    first = deepest[0]
    where = json_path(first.path)[len(json_path(path)) :]
    detail = f"{where.lstrip('.')}: {first.text()}" if where else first.text()
    return _Error(path, f"expected {' or '.join(titles)}; {detail}")


def first_error(doc: Any) -> str | None:
    """The first schema violation as ``"$.path: message"``, or ``None`` when ``doc`` is valid."""
    root = schema()
    err = _first_error(doc, root, root, ())
    return None if err is None else f"{json_path(err.path)}: {err.text()}"


def validate(doc: Any, source: str = "<dict>") -> None:
    """Check ``doc`` against the shipped JSON Schema; :class:`RuleSetError` names the path."""
    msg = first_error(doc)
    if msg is not None:
        raise RuleSetError(f"{source}: {msg}")


# --- near misses of known field names ------------------------------------------------------------


def _edits(a: str, b: str) -> int:
    """Characters inserted, deleted or replaced to turn ``a`` into ``b`` (difflib's opcodes)."""
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def near_miss(key: str, known: Any) -> str | None:
    """The known field that ``key`` (not itself known) is evidently a misspelling of: equal
    regardless of case, or one edit away (two for names of five or more characters)."""
    for k in known:
        if key.casefold() == k.casefold():
            return k
    for k in known:
        limit = 2 if len(k) >= 5 else 1 if len(k) >= 3 else 0
        if limit and abs(len(key) - len(k)) <= limit and _edits(key, k) <= limit:
            return k
    return None


def _open_objects(doc: Any) -> list[tuple[tuple[str | int, ...], Any, str]]:
    """The objects of a document whose schema allows fields it does not name (kept for
    forward compatibility): ``(path, object, schema $defs name or "")``."""
    out: list[tuple[tuple[str | int, ...], Any, str]] = [((), doc, "")]
    for i, rule in enumerate(doc.get("rules") or ()):
        out.append((("rules", i), rule, "rule"))
        if isinstance(rule, dict) and "stats" in rule:
            out.append((("rules", i, "stats"), rule["stats"], "stats"))
    if doc.get("guarantee") is not None:
        out.append((("guarantee",), doc["guarantee"], "guarantee"))
    return out


def check_field_names(doc: Any, source: str = "<dict>") -> None:
    """Refuse a field that is not in the schema but is a near miss of one that is (``"Mode"``
    for ``"mode"``): it would be ignored and the default silently used. Other unknown fields
    are allowed (a newer minor version may add them)."""
    root = schema()
    if not isinstance(doc, dict):
        return
    for path, obj, name in _open_objects(doc):
        if not isinstance(obj, dict):
            continue
        node = root["$defs"][name] if name else root
        known = node.get("properties", {})
        for key in obj:
            if key in known:
                continue
            meant = near_miss(key, known)
            if meant is not None:
                raise RuleSetError(
                    f"{source}: {json_path((*path, key))}: unknown field {_clip(json.dumps(key))} "
                    f"looks like {json.dumps(meant)} (it would be ignored); fix or remove it"
                )
