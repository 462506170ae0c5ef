"""Compiling the serving kernels ahead of the first request (``rulecascade.warmup()``).

The rule kernels are compiled once per machine code signature and kept in numba's on-disk cache
(``rulecascade.kernels.jit.cache_dir``). Each kernel is compiled for float32 and float64
matrices of any memory layout (C-ordered, Fortran-ordered or strided: one machine code serves
them all), so the set is small and fixed: every evaluation reuses it. ``warmup()`` compiles it
(or loads it from the cache) with a visible progress message; without it, the first call that
needs a kernel does the same work, and says so once (a warning on the ``rulecascade`` logger)
when the cache is empty.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np

from rules_export.model import Feature, InSet, Interval, Rule, RuleSet

from ..kernels import match_cpu, projection
from ..kernels.jit import cache_dir, compiled_for
from .compile import compile_rules

__all__ = ["kernel_signatures", "warmup"]


def _sample_rules() -> RuleSet:
    """A small rule set with a numeric and a categorical feature (every kernel applies)."""
    feats = (Feature("a"), Feature("c", kind="categorical", categories=("p", "q")))
    rules = (
        Rule((Interval("a", 0.5, 2.0), InSet("c", ("p",))), 1),
        Rule((Interval("a", None, 0.0),), 0),
    )
    return RuleSet(feats, (0, 1), rules)


def kernel_signatures() -> list[
    tuple[str, Callable[..., object], tuple[object, ...], tuple[int, ...]]
]:
    """(name, kernel, sample arguments, generic positions) for every serving kernel and
    matrix dtype: what ``warmup`` compiles."""
    cr = compile_rules(_sample_rules())
    assert cr.buckets is not None
    out = np.empty(4, dtype=np.int64)
    sigs = []
    for dtype in (np.float32, np.float64):
        M = np.zeros((4, 2), dtype=dtype, order="F")
        for name, par, ser, args in (
            ("rules", match_cpu.match_parallel, match_cpu.match_serial, cr.kernel_arrays()),
            (
                "cells",
                match_cpu.match_cells_parallel,
                match_cpu.match_cells_serial,
                cr.cell_arrays(),
            ),
            (
                "buckets",
                match_cpu.match_buckets_parallel,
                match_cpu.match_buckets_serial,
                (cr.f_col, *cr.buckets),
            ),
        ):
            full = (M, *args, out)
            sigs.append((f"{name} {np.dtype(dtype).name} serial", ser, full, (0,)))
            sigs.append((f"{name} {np.dtype(dtype).name} parallel", par, full, (0,)))
        P = np.zeros((4, 1), dtype=np.float64, order="F")
        proj = (
            M,
            np.zeros(2, dtype=np.int64),
            np.zeros(2),
            np.zeros((1, 2)),
            2,
            P,
            0,
        )
        sigs.append(
            (f"projection {np.dtype(dtype).name} serial", projection.project_serial, proj, (0, 5))
        )
        sigs.append(
            (
                f"projection {np.dtype(dtype).name} parallel",
                projection.project_parallel,
                proj,
                (0, 5),
            )
        )
    return sigs


def warmup(quiet: bool = False) -> float:
    """Compile (or load from the on-disk cache) every serving kernel; returns the seconds spent.

    Prints one progress line per kernel on stderr unless ``quiet``. Call it at service start
    (or run ``rulecascade warmup`` once after install) so that no request pays the compilation.
    """
    t0 = time.perf_counter()
    sigs = kernel_signatures()
    if not quiet:
        print(
            f"rulecascade: preparing {len(sigs)} serving kernels (cache: {cache_dir()})",
            file=sys.stderr,
            flush=True,
        )
    for k, (name, kernel, args, generic) in enumerate(sigs, 1):
        t = time.perf_counter()
        compiled_for(kernel, args, generic, announce=False)
        if not quiet:
            print(
                f"  [{k}/{len(sigs)}] {name}: {time.perf_counter() - t:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return time.perf_counter() - t0
