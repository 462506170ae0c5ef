"""One certificate for a whole cascade of exits: a fixed-sequence binomial test over nested
settings (exit prefixes for rules, thresholds from high to low for a probe) on held-out rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from rulecascade.learn.bounds import binomial_pvalue, error_upper_bound, rows_needed

__all__ = ["CascadeCertificate", "certify_sequence"]

METHOD = "fixed-sequence binomial over nested exit settings, on rows no exit was fitted on"


@dataclass(frozen=True)
class CascadeCertificate:
    """Of the rows any exit answers, at most ``max_error`` disagree with the full model, with
    probability ``confidence`` (when ``certified``); counts are on the certification rows."""

    max_error: float
    confidence: float
    certified: bool
    kept: int  # settings kept: exits (rules) or the index of the threshold (probe) + 1
    rows: int
    answered: int
    disagreements: int
    error_upper_bound: float | None
    rows_needed: int
    method: str = METHOD
    reason: str = ""
    tested: tuple[dict, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["tested"] = [dict(t) for t in self.tested]
        return d


def certify_sequence(
    answered: np.ndarray,
    wrong: np.ndarray,
    max_error: float,
    confidence: float,
    start: int = 0,
    labels: list | None = None,
) -> CascadeCertificate:
    """Walk settings ``start, start+1, ...`` (rows of the boolean ``(settings, rows)`` arrays
    ``answered`` and ``wrong``, nested: each answers a superset of the one before) and keep the
    furthest one before the first whose binomial test of ``error > max_error`` fails."""
    alpha = 1.0 - float(confidence)
    needed = rows_needed(max_error, confidence)
    n_rows = int(answered.shape[1]) if answered.ndim == 2 else 0
    m = answered.sum(axis=1).astype(np.int64)
    e = (answered & wrong).sum(axis=1).astype(np.int64)
    p = binomial_pvalue(e, m, max_error)
    kept, tested, reason = 0, [], ""
    for h in range(start, answered.shape[0]):
        row = {
            "setting": labels[h] if labels is not None else h,
            "answered": int(m[h]),
            "disagreements": int(e[h]),
            "pvalue": float(p[h]),
        }
        tested.append(row)
        if p[h] <= alpha:
            kept = h + 1
            continue
        reason = (
            f"setting {row['setting']!r}: {int(e[h])} of {int(m[h])} answered rows disagree, "
            f"p = {float(p[h]):.3g} > {alpha:.3g}"
        )
        if m[h] < needed:
            reason += f" (fewer than the {needed} answered rows a bound of {max_error} needs)"
        break
    if kept == 0 and not reason:
        reason = "nothing to test"
    if kept:
        mm, ee = int(m[kept - 1]), int(e[kept - 1])
        ub = float(error_upper_bound(ee, mm, confidence))
    else:
        mm, ee, ub = 0, 0, None
    return CascadeCertificate(
        max_error=float(max_error),
        confidence=float(confidence),
        certified=kept > 0,
        kept=kept,
        rows=n_rows,
        answered=mm,
        disagreements=ee,
        error_upper_bound=ub,
        rows_needed=needed,
        reason=reason,
        tested=tuple(tested),
    )
