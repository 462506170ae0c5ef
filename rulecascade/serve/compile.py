"""A ``RuleSet`` compiled to the flat arrays the evaluation kernels read (``CompiledRules``)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rules_export.model import InSet, Interval, RuleSet, RuleSetError

from ..kernels.match_cpu import (
    KIND_RANGE,
    KIND_SET,
    KIND_UPPER,
)


@dataclass(frozen=True, eq=False)
class CompiledRules:
    """A rule set as the flat arrays the kernels read (see ``kernels/match_cpu.py``).

    The evaluation matrix has the columns ``columns``: the input features that conditions name
    directly (``direct``, schema order), then the projection outputs that conditions name.
    ``cond_col`` indexes that matrix; ``cond_col_schema`` indexes a raw numpy input (schema column
    order) and is set when no projection output is used.
    """

    rules: RuleSet
    feature_names: tuple[str, ...]
    kinds: Mapping[str, str]
    used: tuple[str, ...]
    direct: tuple[str, ...]
    columns: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]]
    projection_outputs: tuple[int, ...]
    rule_start: np.ndarray
    cond_col: np.ndarray
    cond_kind: np.ndarray
    cond_low: np.ndarray
    cond_high: np.ndarray
    cat_start: np.ndarray
    cat_len: np.ndarray
    cat_codes: np.ndarray
    cond_col_schema: np.ndarray | None
    f_col: np.ndarray
    f_kind: np.ndarray
    f_thr_start: np.ndarray
    f_thr_len: np.ndarray
    f_tab_start: np.ndarray
    thr: np.ndarray
    tab: np.ndarray
    n_words: int
    f_bucket: np.ndarray  # per feature: start of its bucket table in b_cell/b_thr, -1: none
    f_blo: np.ndarray
    f_bscale: np.ndarray
    f_btop: np.ndarray
    b_cell: np.ndarray
    b_thr: np.ndarray
    f_col_schema: np.ndarray | None
    kernel: str
    buckets: tuple[np.ndarray, ...] | None = None  # bucket kernel arrays (after f_col), if any
    _device_cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rules(self) -> int:
        return int(self.rule_start.shape[0] - 1)

    @property
    def n_conditions(self) -> int:
        return int(self.cond_col.shape[0])

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def kernel_arrays(self, cond_col: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """The rule arrays in kernel argument order (after the matrix, before ``out``)."""
        return (
            self.rule_start,
            self.cond_col if cond_col is None else cond_col,
            self.cond_kind,
            self.cond_low,
            self.cond_high,
            self.cat_start,
            self.cat_len,
            self.cat_codes,
        )

    def cell_arrays(self, f_col: np.ndarray | None = None) -> tuple[Any, ...]:
        """The cell/bitset arrays in kernel argument order (after the matrix, before ``out``)."""
        return (
            self.f_col if f_col is None else f_col,
            self.f_kind,
            self.f_thr_start,
            self.f_thr_len,
            self.f_tab_start,
            self.thr,
            self.tab,
            self.n_words,
            self.f_bucket,
            self.f_blo,
            self.f_bscale,
            self.f_btop,
            self.b_cell,
            self.b_thr,
        )

    def __repr__(self) -> str:
        return (
            f"CompiledRules({self.n_rules} rules, {self.n_conditions} conditions, "
            f"columns={list(self.columns)!r}, kernel={self.kernel!r})"
        )


def compile_rules(rules: RuleSet) -> CompiledRules:
    """Flatten a rule set for the kernels (pure function of the rule set)."""
    if isinstance(rules, CompiledRules):
        return rules
    if not isinstance(rules, RuleSet):
        raise RuleSetError(f"expected a RuleSet, got {type(rules).__name__}")
    kinds = {f.name: f.kind for f in rules.features}
    proj = rules.projection
    named = {c.feature for r in rules.rules for c in r.conditions}
    direct = tuple(n for n in rules.feature_names if n in named)
    projection_outputs = (
        tuple(j for j, n in enumerate(proj.outputs) if n in named) if proj is not None else ()
    )
    columns = direct + tuple(proj.outputs[j] for j in projection_outputs)
    col_of = {n: k for k, n in enumerate(columns)}

    categories: dict[str, tuple[str, ...]] = {}
    for f in rules.features:
        if f.kind == "categorical" and f.name in named:
            vals = set(f.categories)
            for r in rules.rules:
                for c in r.conditions:
                    if isinstance(c, InSet) and c.feature == f.name:
                        vals.update(c.values)
            categories[f.name] = tuple(sorted(vals))

    rule_start = [0]
    cond_col: list[int] = []
    cond_kind: list[int] = []
    cond_low: list[float] = []
    cond_high: list[float] = []
    cat_start: list[int] = []
    cat_len: list[int] = []
    cat_codes: list[float] = []
    for r in rules.rules:
        for c in r.conditions:
            cond_col.append(col_of[c.feature])
            if isinstance(c, Interval):
                cond_kind.append(KIND_UPPER if c.low is None else KIND_RANGE)
                cond_low.append(-np.inf if c.low is None else float(c.low))
                cond_high.append(np.inf if c.high is None else float(c.high))
                cat_start.append(0)
                cat_len.append(0)
            else:
                code = {v: i for i, v in enumerate(categories[c.feature])}
                cond_kind.append(KIND_SET)
                cond_low.append(np.nan)
                cond_high.append(np.nan)
                cat_start.append(len(cat_codes))
                cat_len.append(len(c.values))
                cat_codes.extend(float(code[v]) for v in c.values)
        rule_start.append(len(cond_col))

    cond_col_arr = np.asarray(cond_col, dtype=np.int64)
    schema_pos = {n: i for i, n in enumerate(rules.feature_names)}
    col_schema = (
        np.asarray([schema_pos[n] for n in columns], dtype=np.int64)
        if not projection_outputs
        else None
    )
    cells = _cell_tables(rules, columns, categories)
    f_col = cells["f_col"]
    buckets = _bucket_tables(cells)
    # the bucket kernel whenever it has tables (the fastest of the three; see docs/concepts)
    kernel = "buckets" if buckets is not None else _choose_kernel(len(rules.rules), cells)
    return CompiledRules(
        rules=rules,
        feature_names=rules.feature_names,
        kinds=kinds,
        used=rules.used_features,
        direct=direct,
        columns=columns,
        categories=categories,
        projection_outputs=projection_outputs,
        rule_start=np.asarray(rule_start, dtype=np.int64),
        cond_col=cond_col_arr,
        cond_kind=np.asarray(cond_kind, dtype=np.int64),
        cond_low=np.asarray(cond_low, dtype=np.float64),
        cond_high=np.asarray(cond_high, dtype=np.float64),
        cat_start=np.asarray(cat_start, dtype=np.int64),
        cat_len=np.asarray(cat_len, dtype=np.int64),
        cat_codes=np.asarray(cat_codes, dtype=np.float64),
        cond_col_schema=None if col_schema is None else col_schema[cond_col_arr],
        f_col_schema=None if col_schema is None else col_schema[f_col],
        kernel=kernel,
        buckets=buckets,
        **cells,
    )


# above this size of bitset tables, the per-rule kernel is used instead (memory, cache misses)
MAX_CELL_TABLE_BYTES = 64 << 20


def _choose_kernel(n_rules: int, cells: Mapping[str, Any]) -> str:
    """Cheaper CPU kernel by a rough per-row cost model (ns, measured on x86-64 with AVX2/512).

    cells: per used feature a block read, a bitset AND per 64 rules and a bucket lookup (or,
    without a bucket table, a vectorized threshold count); rules: a few branchy compares per
    rule (all of them when no rule fires).
    """
    if cells["tab"].nbytes > MAX_CELL_TABLE_BYTES:
        return "rules"
    n_features = len(cells["f_col"])
    searched = (cells["f_kind"] == 0) & (cells["f_bucket"] < 0)  # numeric, no bucket table
    cost_cells = (
        n_features * (4.0 + 1.0 * cells["n_words"])
        + 1.0 * float(np.sum((cells["f_kind"] == 0) & ~searched))
        + 0.1 * float(np.sum(cells["f_thr_len"][searched]))
    )
    cost_rules = 2.0 * n_rules
    return "cells" if cost_cells <= cost_rules else "rules"


def _cell_tables(
    rules: RuleSet, columns: tuple[str, ...], categories: Mapping[str, tuple[str, ...]]
) -> dict[str, Any]:
    """Per-feature sorted thresholds and per-cell rule bitsets (see ``match_cpu._cells_row``)."""
    n_rules = len(rules.rules)
    n_words = max(1, (n_rules + 63) // 64)
    everyone = np.zeros(n_words, dtype=np.uint64)
    for r in range(n_rules):
        everyone[r // 64] |= np.uint64(1 << (r % 64))
    on: dict[str, list[tuple[int, Any]]] = {n: [] for n in columns}
    for r, rule in enumerate(rules.rules):
        for c in rule.conditions:
            on[c.feature].append((r, c))
    # features that constrain many rules first: the bitset empties sooner
    order = sorted(range(len(columns)), key=lambda k: -len(on[columns[k]]))
    f_kind, f_thr_start, f_thr_len, f_tab_start = [], [], [], []
    thr: list[float] = []
    tabs: list[np.ndarray] = []
    n_tab = 0
    f_bucket, f_blo, f_bscale, f_btop = [], [], [], []
    b_cells: list[np.ndarray] = []
    b_thrs: list[np.ndarray] = []
    n_b = 0
    for k in order:
        name = columns[k]
        if name in categories:
            cats = categories[name]
            code = {v: i for i, v in enumerate(cats)}
            n_thr = len(cats)
            f_kind.append(1)
        else:
            cuts = sorted({v for _, c in on[name] for v in (c.low, c.high) if v is not None})
            pos = {v: i for i, v in enumerate(cuts)}
            n_thr = len(cuts)
            f_kind.append(0)
        table = np.tile(everyone, (n_thr + 2, 1))
        for r, c in on[name]:
            w, bit = r // 64, np.uint64(1 << (r % 64))
            table[:, w] &= ~bit
            if isinstance(c, InSet):
                table[[code[v] for v in c.values], w] |= bit
            else:
                a = -1 if c.low is None else pos[c.low]
                b = n_thr if c.high is None else pos[c.high]
                table[a + 1 : b + 1, w] |= bit
        f_thr_start.append(len(thr))
        f_thr_len.append(n_thr)
        fitted = None if name in categories else _buckets(cuts)
        if fitted is None:
            f_bucket.append(-1)
            f_blo.append(0.0)
            f_bscale.append(0.0)
            f_btop.append(0.0)
        else:
            lo, scale, top, b_cell, b_t = fitted
            f_bucket.append(n_b)
            f_blo.append(lo)
            f_bscale.append(scale)
            f_btop.append(top)
            b_cells.append(b_cell)
            b_thrs.append(b_t)
            n_b += b_cell.shape[0]
        if name not in categories:
            thr.extend(cuts)
        f_tab_start.append(n_tab)
        n_tab += table.size
        tabs.append(table.ravel())
    return {
        "f_col": np.asarray(order, dtype=np.int64),
        "f_kind": np.asarray(f_kind, dtype=np.int64),
        "f_thr_start": np.asarray(f_thr_start, dtype=np.int64),
        "f_thr_len": np.asarray(f_thr_len, dtype=np.int64),
        "f_tab_start": np.asarray(f_tab_start, dtype=np.int64),
        "thr": np.asarray(thr, dtype=np.float64),
        "tab": np.concatenate(tabs) if tabs else np.zeros(0, dtype=np.uint64),
        "n_words": n_words,
        "f_bucket": np.asarray(f_bucket, dtype=np.int64),
        "f_blo": np.asarray(f_blo, dtype=np.float64),
        "f_bscale": np.asarray(f_bscale, dtype=np.float64),
        "f_btop": np.asarray(f_btop, dtype=np.float64),
        "b_cell": np.concatenate(b_cells) if b_cells else np.zeros(0, dtype=np.int64),
        "b_thr": np.concatenate(b_thrs) if b_thrs else np.zeros(0, dtype=np.float64),
    }


MAX_BUCKETS = 4096  # per feature; beyond, the rule set keeps the cell kernel


def _buckets(cuts: Sequence[float]) -> tuple[float, float, float, np.ndarray, np.ndarray] | None:
    """Bucket table of one numeric feature's sorted thresholds, or None if none fits.

    ``bucket(x) = int(clip((x - lo) * scale, 0, top))``, computed with the same float64
    operations here and in the kernel, never decreases as ``x`` grows (each step rounds
    monotonically). So a threshold in a lower bucket than ``x`` is below ``x``, one in a higher
    bucket is not, and only a threshold in ``x``'s own bucket needs a comparison: with at most one
    threshold per bucket the cell of ``x`` (the count of thresholds below it) is
    ``b_cell[bucket] + (b_thr[bucket] < x)``, where ``b_cell`` counts the thresholds in lower
    buckets and ``b_thr`` is the bucket's threshold (+inf if none). Returns
    ``(lo, scale, top, b_cell, b_thr)``; the bucket count doubles from ``2 * len(cuts)`` until
    every bucket holds at most one threshold (None past ``MAX_BUCKETS``: thresholds too close,
    or a span that overflows).
    """
    t = np.asarray(cuts, dtype=np.float64)
    k = t.shape[0]
    if k == 0 or not np.all(np.isfinite(t)):
        return None
    lo = float(t[0])
    with np.errstate(over="ignore"):
        span = float(t[-1] - t[0])
    if not np.isfinite(span):
        return None
    nb = 2
    while nb < 2 * k:
        nb *= 2
    while nb <= MAX_BUCKETS:
        scale = nb / span if span > 0 else 0.0
        if np.isfinite(scale):
            top = float(nb - 1)
            v = (t - lo) * scale
            v = np.where(v > 0.0, v, 0.0)
            v = np.where(v < top, v, top)
            b = v.astype(np.int64)
            if k == 1 or bool(np.all(np.diff(b) > 0)):
                b_cell = np.searchsorted(b, np.arange(nb), side="left").astype(np.int64)
                b_thr = np.full(nb, np.inf)
                b_thr[b] = t
                return lo, scale, top, b_cell, b_thr
        nb *= 2
    return None


def _bucket_tables(cells: Mapping[str, Any]) -> tuple[np.ndarray, ...] | None:
    """Arrays of the bucket kernel (``f_lo, f_scale, f_top, f_start, f_nan, b_thr, b_pair``),
    or None unless there is one bitset word and every numeric feature has a bucket table.

    Numeric features use the cell tables' buckets (``_cell_tables``); ``b_pair`` holds each
    bucket's two candidate bitsets (cell ``b_cell`` and the next) so the kernel skips the cell
    index. A categorical feature with ``K`` categories is its own table: ``bucket = clip(code +
    1, 0, K + 1)`` puts unseen codes (-1, or >= K) in buckets 0 and ``K + 1`` and code ``c`` in
    ``c + 1``; no bucket has a threshold (``b_thr`` = +inf)."""
    f_bucket, f_kind = cells["f_bucket"], cells["f_kind"]
    if cells["n_words"] != 1 or len(f_bucket) == 0:
        return None
    if np.any((f_kind == 0) & (f_bucket < 0)):
        return None
    tab, b_cell = cells["tab"], cells["b_cell"]
    lo, scale, top, start, nan, b_thr, b_pair = [], [], [], [], [], [], []
    n_b = 0
    for f in range(len(f_bucket)):
        k, t0 = int(cells["f_thr_len"][f]), int(cells["f_tab_start"][f])
        cell_bits = tab[t0 : t0 + k + 2]  # cells 0..K, then NaN
        if f_kind[f] == 0:
            s0, s1 = int(f_bucket[f]), int(f_bucket[f] + cells["f_btop"][f]) + 1  # top + 1 buckets
            bc = b_cell[s0:s1]
            pair = np.stack([cell_bits[bc], cell_bits[np.minimum(bc + 1, k)]], 1).ravel()
            lo.append(cells["f_blo"][f])
            scale.append(cells["f_bscale"][f])
            top.append(cells["f_btop"][f])
            thr = cells["b_thr"][s0:s1]
        else:  # K categories: buckets unseen, codes 0..K-1, unseen
            per = cell_bits[np.r_[k, np.arange(k), k]]
            pair = np.stack([per, per], 1).ravel()
            lo.append(-1.0)
            scale.append(1.0)
            top.append(float(k + 1))
            thr = np.full(k + 2, np.inf)
        start.append(n_b)
        nan.append(cell_bits[k + 1])
        b_thr.append(thr)
        b_pair.append(pair)
        n_b += thr.shape[0]
    return (
        np.asarray(lo, dtype=np.float64),
        np.asarray(scale, dtype=np.float64),
        np.asarray(top, dtype=np.float64),
        np.asarray(start, dtype=np.int64),
        np.asarray(nan, dtype=np.uint64),
        np.concatenate(b_thr).astype(np.float64),
        np.concatenate(b_pair).astype(np.uint64),
    )


_cache_lock = threading.Lock()
_cache: dict[int, tuple[weakref.ref, CompiledRules]] = {}


def compiled(rules: RuleSet | CompiledRules) -> CompiledRules:
    """``compile_rules`` memoized per live RuleSet object."""
    if isinstance(rules, CompiledRules):
        return rules
    key = id(rules)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is rules:
            return hit[1]
    cr = compile_rules(rules)
    with _cache_lock:
        if len(_cache) > 64:
            for k in [k for k, (ref, _) in _cache.items() if ref() is None]:
                del _cache[k]
            if len(_cache) > 64:
                _cache.clear()
        _cache[key] = (weakref.ref(rules), cr)
    return cr
