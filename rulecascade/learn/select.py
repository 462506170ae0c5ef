"""Greedy selection of rules for new validated coverage (lazy greedy on coverage bitsets)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..kernels.boxes import box_bitsets
from ..kernels.dispatch import twin

__all__ = ["bitsets", "class_bitsets", "popcount", "select_greedy"]

if hasattr(np, "bitwise_count"):

    def popcount(a: np.ndarray) -> int:
        return int(np.bitwise_count(a).sum())

else:  # numpy < 2

    def popcount(a: np.ndarray) -> int:
        return int(np.unpackbits(np.ascontiguousarray(a).view(np.uint8)).sum())


def bitsets(
    codes: np.ndarray, rows: np.ndarray, masks: np.ndarray, shares=None, device: str = "cpu"
) -> np.ndarray:
    """(K, ceil(len(rows)/64)) uint64: which of ``rows`` each box covers (``device``: "cpu"
    or "cuda")."""
    words = (rows.shape[0] + 63) // 64
    out = np.zeros((masks.shape[0], max(words, 1)), np.uint64)
    if masks.shape[0] and rows.size:
        if shares is None:
            shares = np.full((codes.shape[1], 256), 1.0 / 256)
        twin(box_bitsets, device)(codes, rows, np.ascontiguousarray(masks), shares, out)
    return out


def class_bitsets(y_rows: np.ndarray, n_classes: int, words: int) -> np.ndarray:
    """(n_classes, words) uint64: which of the rows hold each class (``bitsets``' layout)."""
    out = np.zeros((n_classes, words * 64), bool)
    out[y_rows, np.arange(y_rows.shape[0])] = True
    return np.packbits(out, axis=1, bitorder="little").view(np.uint64).reshape(n_classes, words)


def select_greedy(
    bits: np.ndarray,
    labels: np.ndarray,
    priority: np.ndarray,
    y_rows: np.ndarray,
    n_classes: int,
    *,
    max_rules: int,
    union_ok: Callable[[int, int, int, int], bool],
    marginal_ok: Callable[[int, int], bool] = lambda e, m: True,
    class_error_budget: Mapping[int, float],
    min_new: int = 1,
    start: Sequence[int] = (),
    allowed: np.ndarray | None = None,
) -> tuple[list[int], str, dict]:
    """Pick rules one at a time by most validation rows not yet covered.

    A pick's new rows must satisfy ``marginal_ok(errors, rows)`` and it must keep
    ``union_ok(errors, covered, errors_before, covered_before)`` true for the selected union
    (the union before the pick given too; rows answered
    with a wrong label, each row counted once, by the first pick covering it) and, for each class
    ``c`` in ``class_error_budget``, the number of class-c rows answered with another label at
    most ``class_error_budget[c]``; a candidate that would break a budget is discarded. Ties go
    to the higher ``priority`` (the precision bound), then to the lower index. Returns the picks
    in order, why selection stopped, and the union's validation counts. ``start``: picks taken
    first as they are (no check), which the returned picks begin with; ``allowed`` (bool per
    candidate): the only candidates selection may add after them.
    """
    n_cand, words = bits.shape
    cls_bits = class_bitsets(y_rows, n_classes, words)
    covered = np.zeros(words, np.uint64)
    x_c = np.zeros(n_classes, np.int64)
    cov = 0
    err = 0
    picks: list[int] = []

    def adds(q: int, new: np.ndarray) -> tuple[int, np.ndarray]:
        """Rows of ``new`` (pick ``q``'s rows not yet covered) it would answer wrongly: the
        total and per class."""
        wrong = np.array([popcount(new & cls_bits[c]) for c in range(n_classes)])
        wrong[int(labels[q])] = 0
        return int(wrong.sum()), wrong

    def take(q: int, n_new: int, n_err: int, wrong: np.ndarray) -> None:
        nonlocal cov, err
        picks.append(int(q))
        covered[:] |= bits[q]
        cov += n_new
        err += n_err
        x_c[:] += wrong

    for q in start:
        new = bits[q] & ~covered
        take(q, popcount(new), *adds(q, new))
    skip = set(picks)
    if allowed is not None:
        skip |= {int(q) for q in np.flatnonzero(~np.asarray(allowed, bool))}
    heap = [(-popcount(bits[q]), -float(priority[q]), q) for q in range(n_cand) if q not in skip]
    heapq.heapify(heap)
    reason = "no candidate rule qualified" if n_cand == 0 else ""
    rejected = 0
    while heap:
        if len(picks) >= max_rules:
            reason = f"max_rules={max_rules} reached"
            break
        neg, negp, q = heapq.heappop(heap)
        new = bits[q] & ~covered
        n_new = popcount(new)
        if n_new < -neg:
            heapq.heappush(heap, (-n_new, negp, q))
            continue
        if n_new < min_new:
            reason = "no qualified rule adds new validation coverage"
            break
        n_err, wrong = adds(q, new)
        if not marginal_ok(n_err, n_new) or (
            n_err and not union_ok(err + n_err, cov + n_new, err, cov)
        ):
            rejected += 1
            continue
        if any(x_c[c] + wrong[c] > b for c, b in class_error_budget.items()):
            rejected += 1
            continue
        take(q, n_new, n_err, wrong)
    if not reason:
        reason = "every qualified rule was picked or broke an error budget"
    info = {
        "validation_covered": int(cov),
        "validation_errors": int(err),
        "rejected_for_budget": int(rejected),
    }
    return picks, reason, info
