"""Versioned JSON for rule sets: the source of truth.

Bytes are deterministic (sorted keys, fixed separators, shortest float repr); loading validates
against the shipped JSON Schema, then the data model, and never executes anything from the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .files import UnsafeFileError, open_regular, write_atomic
from .model import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Feature,
    FeatureSummary,
    Guarantee,
    InSet,
    Interval,
    Projection,
    Rule,
    RuleSet,
    RuleSetError,
    RuleStats,
    required_format_version,
)

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64


def to_dict(rules: RuleSet) -> dict[str, Any]:
    """Plain JSON data for a rule set."""
    doc: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": required_format_version(rules),
        "library_version": rules.library_version,
        "features": [
            {
                "name": f.name,
                "kind": f.kind,
                **({"categories": list(f.categories)} if f.kind == "categorical" else {}),
            }
            for f in rules.features
        ],
        "classes": list(rules.classes),
        "rules": [_rule_to_dict(r) for r in rules.rules],
        "fit_params": rules.fit_params,
        "data_fingerprint": rules.data_fingerprint,
        "metadata": rules.metadata,
    }
    if rules.projection is not None:
        p = rules.projection
        doc["projection"] = {
            "inputs": list(p.inputs),
            "outputs": list(p.outputs),
            "mean": list(p.mean),
            "weights": [list(w) for w in p.weights],
        }
        if p.sum_block is not None:
            doc["projection"]["sum_block"] = p.sum_block
    if rules.guarantee is not None:
        g = rules.guarantee
        doc["guarantee"] = {
            "max_error": g.max_error,
            "confidence": g.confidence,
            "mode": g.mode,
            "per_class_max_error": [
                {"label": lab, "max_error": cap} for lab, cap in g.per_class_max_error
            ],
            "certified": g.certified,
            "error_upper_bound": g.error_upper_bound,
            "certification_rows": g.certification_rows,
            "certification_covered": g.certification_covered,
            "certification_errors": g.certification_errors,
            "method": g.method,
        }
    if rules.feature_summaries:
        doc["feature_summaries"] = [_summary_to_dict(s) for s in rules.feature_summaries]
    return doc


def _summary_to_dict(s: FeatureSummary) -> dict[str, Any]:
    out: dict[str, Any] = {"feature": s.feature, "rows": s.rows, "missing": s.missing}
    if s.categories:
        out.update(categories=list(s.categories), counts=list(s.counts), other=s.other)
    else:
        out.update(edges=list(s.edges), counts=list(s.counts))
    return out


def _rule_to_dict(r: Rule) -> dict[str, Any]:
    conds = []
    for c in r.conditions:
        if isinstance(c, Interval):
            conds.append({"feature": c.feature, "low": c.low, "high": c.high})
        else:
            conds.append({"feature": c.feature, "in": list(c.values)})
    return {
        "conditions": conds,
        "label": r.label,
        "provenance": r.provenance,
        "stats": {
            "growth_counts": list(r.stats.growth_counts),
            "validation_counts": list(r.stats.validation_counts),
            "support": r.stats.support,
            "precision_lower_bound": r.stats.precision_lower_bound,
        },
    }


def dumps(rules: RuleSet) -> str:
    """Deterministic JSON text (same rule set -> same bytes), ending in a newline."""
    return (
        json.dumps(to_dict(rules), sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def save(rules: RuleSet, path: str | os.PathLike[str]) -> None:
    """Write the rule set to ``path`` atomically (see :func:`rules_export.files.write_atomic`:
    a link, device, FIFO or directory at ``path`` is refused)."""
    write_atomic(path, dumps(rules))


MAX_STRING_CHARS = 1024 * 1024
MAX_INT_DIGITS = 400


def _reject_constant(token: str) -> Any:
    raise RuleSetError(f"invalid number {token} (NaN and Infinity are not allowed)")


def _parse_float(token: str) -> float:
    value = float(token)
    if value in (float("inf"), float("-inf")):
        raise RuleSetError(f"number {_clip(token)} is outside the float64 range")
    return value


def _parse_int(token: str) -> int:
    if len(token) > MAX_INT_DIGITS:
        raise RuleSetError(f"integer with {len(token)} digits is too large")
    return int(token)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise RuleSetError(f"duplicate key {_clip(json.dumps(k))} in an object")
            seen.add(k)
    return out


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_limits(doc: Any, source: str = "<dict>") -> None:
    """Refuse JSON data nested deeper than MAX_DEPTH, strings over MAX_STRING_CHARS, and
    strings that are not valid Unicode (lone surrogates); iterative, so any depth is safe."""
    from .schema import json_path

    stack: list[tuple[Any, tuple[str | int, ...]]] = [(doc, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise RuleSetError(
                f"{source}: {json_path(path[:8])}...: nested deeper than {MAX_DEPTH} levels"
            )
        if isinstance(value, str):
            _check_string(value, path, source)
        elif isinstance(value, dict):
            for k, v in value.items():
                _check_string(k, path, source)
                stack.append((v, (*path, k)))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))


def _check_string(text: str, path: tuple[str | int, ...], source: str) -> None:
    from .schema import json_path

    if len(text) > MAX_STRING_CHARS:
        raise RuleSetError(
            f"{source}: {json_path(path)}: string of {len(text)} characters is longer than "
            f"{MAX_STRING_CHARS}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RuleSetError(
            f"{source}: {json_path(path)}: string holds an unpaired surrogate (\\ud800-\\udfff)"
        ) from None


def loads(text: str | bytes, source: str = "<string>") -> RuleSet:
    """Parse and validate rule-set JSON; a :class:`RuleSetError` names what is wrong and where.

    Parsing is plain JSON (nothing is executed); the file is refused, with one line naming the
    problem, when it is too large, not UTF-8, not JSON, truncated, holds NaN/Infinity, numbers
    outside float64, duplicate keys, overly deep nesting or huge strings, fails the schema or
    the data model, or has a newer major format_version.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text)
        if len(text) > MAX_FILE_BYTES:
            raise RuleSetError(f"{source}: file is larger than {MAX_FILE_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RuleSetError(f"{source}: not UTF-8 text (byte {e.start})") from None
    if not isinstance(text, str):
        raise RuleSetError(f"{source}: expected JSON text, got {type(text).__name__}")
    if len(text) > MAX_FILE_BYTES:
        raise RuleSetError(f"{source}: file is larger than {MAX_FILE_BYTES} bytes")
    try:
        doc = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
            object_pairs_hook=_no_duplicate_keys,
        )
    except RuleSetError as e:
        raise RuleSetError(f"{source}: {e}") from None
    except json.JSONDecodeError as e:
        raise RuleSetError(
            f"{source}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except RecursionError:
        raise RuleSetError(f"{source}: JSON nested too deeply") from None
    except (ValueError, OverflowError, MemoryError) as e:
        raise RuleSetError(f"{source}: not valid JSON: {_clip(str(e), 100)}") from None
    check_limits(doc, source)
    return from_dict(doc, source=source)


def load(path: str | os.PathLike[str]) -> RuleSet:
    """Read and validate a rule-set file (a regular file of at most ``MAX_FILE_BYTES``)."""
    p = Path(path)
    try:
        fh, st = open_regular(p)
    except FileNotFoundError:
        raise RuleSetError(f"{p}: no such file") from None
    except UnsafeFileError as e:
        raise RuleSetError(f"{p}: {e.strerror.replace('a regular file', 'a rule file')}") from None
    except OSError as e:
        raise RuleSetError(f"{p}: cannot read: {e.strerror}") from None
    with fh:
        if st.st_size > MAX_FILE_BYTES:
            raise RuleSetError(f"{p}: file is larger than {MAX_FILE_BYTES} bytes")
        try:
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as e:
            raise RuleSetError(f"{p}: cannot read: {e.strerror}") from None
    return loads(data, source=str(p))


def _version_check(doc: Any, source: str) -> None:
    if not isinstance(doc, dict):
        raise RuleSetError(
            f"{source}: expected a JSON object at the top level, got {type(doc).__name__}"
        )
    if doc.get("format") != FORMAT_NAME:
        raise RuleSetError(
            f'{source}: not a rulecascade rule set ("format" is {doc.get("format")!r})'
        )
    ver = doc.get("format_version")
    if not isinstance(ver, str) or not ver.replace(".", "").isdigit() or ver.count(".") != 1:
        raise RuleSetError(f'{source}: format_version must be a string like "1.0", got {ver!r}')
    major = int(ver.split(".")[0])
    ours = int(FORMAT_VERSION.split(".")[0])
    if major > ours:
        raise RuleSetError(
            f"{source}: format_version {ver} is newer than this library reads ({FORMAT_VERSION}); "
            "upgrade rulecascade"
        )
    if major < 1:
        raise RuleSetError(f"{source}: unsupported format_version {ver}")


def from_dict(doc: Any, source: str = "<dict>") -> RuleSet:
    """Validate plain JSON data (schema, then model) and build the rule set."""
    _version_check(doc, source)
    from .schema import check_field_names, validate

    validate(doc, source)
    check_field_names(doc, source)
    _check_counts(doc, source)
    try:
        rules = _build(doc, source)
    except RuleSetError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as e:
        # the schema should have caught it; still one line, never a traceback
        raise RuleSetError(f"{source}: invalid rule set ({type(e).__name__}: {e})") from None
    _check_version_holds(doc["format_version"], rules, source)
    return rules


def _check_counts(doc: dict[str, Any], source: str) -> None:
    """Counts that cannot be (more rows covered than certified, ...), named by JSON path."""
    g = doc.get("guarantee")
    if not isinstance(g, dict):
        return
    pairs = [
        ("certification_covered", "certification_rows"),
        ("certification_errors", "certification_covered"),
    ]
    for part, whole in pairs:
        a, b = g.get(part, 0), g.get(whole, 0)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > b:
            raise RuleSetError(
                f"{source}: $.guarantee.{part}: {_whole(a)} is more than "
                f"$.guarantee.{whole} ({_whole(b)})"
            )


def _check_version_holds(version: str, rules: RuleSet, source: str) -> None:
    """A file of format 1.0 cannot hold what 1.1 added (a reader of 1.0 would refuse it)."""
    need = required_format_version(rules)
    major, minor = (int(p) for p in version.split("."))
    need_major, need_minor = (int(p) for p in need.split("."))
    if major == need_major and minor < need_minor:
        raise RuleSetError(
            f'{source}: $.format_version: "{version}" cannot hold $.projection.sum_block '
            f'(added in format {need}); write "{need}"'
        )


def _whole(value: Any) -> Any:
    """A JSON integer written as ``256.0`` (JSON has one number type) read as an int."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _build(doc: dict[str, Any], source: str) -> RuleSet:
    try:
        features = tuple(
            Feature(f["name"], f["kind"], tuple(f.get("categories", ()))) for f in doc["features"]
        )
        proj = doc.get("projection")
        projection = (
            Projection(
                tuple(proj["inputs"]),
                tuple(proj["outputs"]),
                tuple(proj["mean"]),
                tuple(tuple(w) for w in proj["weights"]),
                _whole(proj.get("sum_block")),
            )
            if proj is not None
            else None
        )
        rules = []
        for i, r in enumerate(doc["rules"]):
            try:
                rules.append(_rule_from_dict(r))
            except RuleSetError as e:
                raise RuleSetError(f"rule {i}: {e}") from None
        g = doc.get("guarantee")
        guarantee = None
        if g is not None:
            guarantee = Guarantee(
                max_error=g["max_error"],
                confidence=g["confidence"],
                mode=g.get("mode", "truth"),
                per_class_max_error=tuple(
                    (c["label"], c["max_error"]) for c in g.get("per_class_max_error", ())
                ),
                certified=g.get("certified", False),
                error_upper_bound=g.get("error_upper_bound"),
                certification_rows=g.get("certification_rows", 0),
                certification_covered=g.get("certification_covered", 0),
                certification_errors=g.get("certification_errors", 0),
                method=g.get("method", ""),
            )
        return RuleSet(
            features=features,
            classes=tuple(doc["classes"]),
            rules=tuple(rules),
            projection=projection,
            guarantee=guarantee,
            fit_params=doc.get("fit_params", {}),
            data_fingerprint=doc.get("data_fingerprint", ""),
            library_version=doc.get("library_version", ""),
            metadata=doc.get("metadata", {}),
            feature_summaries=tuple(
                FeatureSummary(
                    feature=s["feature"],
                    rows=_whole(s["rows"]),
                    missing=_whole(s.get("missing", 0)),
                    edges=tuple(s.get("edges", ())),
                    counts=tuple(_whole(c) for c in s["counts"]),
                    categories=tuple(s.get("categories", ())),
                    other=_whole(s.get("other", 0)),
                )
                for s in doc.get("feature_summaries", ())
            ),
        )
    except RuleSetError as e:
        raise RuleSetError(f"{source}: {e}") from None


def _rule_from_dict(r: dict[str, Any]) -> Rule:
    conds = []
    for c in r["conditions"]:
        if "in" in c:
            conds.append(InSet(c["feature"], tuple(c["in"])))
        else:
            conds.append(Interval(c["feature"], c.get("low"), c.get("high")))
    st = r.get("stats", {})
    stats = RuleStats(
        growth_counts=tuple(st.get("growth_counts", ())),
        validation_counts=tuple(st.get("validation_counts", ())),
        precision_lower_bound=st.get("precision_lower_bound"),
    )
    rule = Rule(tuple(conds), r["label"], stats, r.get("provenance", ""))
    if "support" in st and st["support"] != stats.support:
        raise RuleSetError(
            f"support {st['support']} disagrees with the validation counts (sum {stats.support})"
        )
    return rule
