"""A large, fraud-like synthetic table with known pure regions.

Legitimate rows fill most of feature space; fraud is concentrated in a few
axis-aligned boxes over a handful of features, plus a share of "camouflaged"
fraud that looks legitimate. Everything is generated column by column with
vectorised numpy calls, so 10^7 x 50 takes a few seconds and ~2.5 GB.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ._base import Dataset

__all__ = ["make_fraud", "TARGET"]

TARGET = "is_fraud"

#: Share of fraud rows left looking legitimate (no box), i.e. irreducible noise.
CAMOUFLAGED = 0.10
#: Share of the remaining fraud rows in box 0, 1, 2.
PATTERN_SHARES = (0.5, 0.3, 0.2)


def _category_labels(k: int, n_levels: int) -> list[str]:
    return [f"c{k}_{chr(ord('a') + v)}" for v in range(n_levels)]


def make_fraud(
    n_rows: int,
    n_features: int = 50,
    fraud_rate: float = 0.005,
    n_categorical: int = 2,
    missing_rate: float = 0.01,
    random_state: int = 0,
) -> Dataset:
    """Generate a fraud-detection-like table.

    Parameters
    ----------
    n_rows:
        Number of rows.
    n_features:
        Total number of feature columns, categorical ones included:
        ``n_features - n_categorical`` float32 columns ``x00, x01, ...`` and
        ``n_categorical`` polars ``Categorical`` columns ``cat0, cat1, ...``.
    fraud_rate:
        Share of rows with ``is_fraud == 1``; exactly ``round(n_rows * fraud_rate)``
        rows are fraud.
    n_categorical:
        Number of categorical columns (3 to 6 levels each, skewed frequencies).
    missing_rate:
        Approximate share of NaN per numeric column (positions drawn with
        replacement, so the realised share is slightly lower). Categorical columns
        and the target have no missing values.
    random_state:
        Seed; the output is a deterministic function of all arguments.

    Structure
    ---------
    Legitimate numeric columns are standard normal, except every 5th column
    (``x04, x09, ...``) which is log-normal (amount-like). Fraud rows are split:
    10% camouflaged (drawn like legitimate rows), the rest into three boxes
    (shares 0.5 / 0.3 / 0.2) over normal columns ``a..f`` (the first six
    non-log-normal columns, ``x00 x01 x02 x03 x05 x06`` for the default sizes):

    * box 0: ``a in [3, 4.5]`` and ``b in [-4.5, -3]``
    * box 1: ``c in [2.5, 4]`` and ``cat0`` is its rarest level
      (``c in [3, 4.5]`` if there are no categorical columns)
    * box 2: ``d in [1.5, 3]``, ``e in [1.5, 3]``, ``f in [-3, -1.5]``

    Legitimate rows also fall into the boxes by chance, so at the default
    ``fraud_rate=0.005`` the share of fraud inside box 0 / 1 / 2 is about
    99.9% / 60% / 77%; outside the boxes the table is ~99.95% legitimate.

    Missing values are injected after the boxes, so some fraud rows lose the
    value that would have revealed them. The exact definition is also written
    into the returned ``Dataset.description``.
    """
    n_rows = int(n_rows)
    if n_rows < 1:
        raise ValueError("n_rows must be >= 1")
    if not 0 <= n_categorical < n_features:
        raise ValueError("need 0 <= n_categorical < n_features (at least one numeric column)")
    if not 0.0 <= fraud_rate <= 1.0:
        raise ValueError("fraud_rate must be in [0, 1]")
    if not 0.0 <= missing_rate < 1.0:
        raise ValueError("missing_rate must be in [0, 1)")

    rng = np.random.default_rng(random_state)
    n_num = n_features - n_categorical
    width = max(2, len(str(n_num - 1)))
    num_names = [f"x{j:0{width}d}" for j in range(n_num)]
    cat_names = [f"cat{k}" for k in range(n_categorical)]

    # --- target: an exact number of fraud rows at random positions
    n_fraud = round(n_rows * fraud_rate)
    y = np.zeros(n_rows, dtype=np.int8)
    fraud_idx = (
        rng.choice(n_rows, size=n_fraud, replace=False) if n_fraud else np.empty(0, np.int64)
    )
    y[fraud_idx] = 1

    # --- legitimate background, one contiguous float32 column at a time
    lognormal = [j % 5 == 4 for j in range(n_num)]
    num_cols: list[np.ndarray] = []
    for j in range(n_num):
        col = rng.standard_normal(n_rows, dtype=np.float32)
        if lognormal[j]:
            col *= np.float32(0.75)
            np.exp(col, out=col)
        num_cols.append(col)

    cat_codes: list[np.ndarray] = []
    cat_levels: list[list[str]] = []
    for k in range(n_categorical):
        n_levels = 3 + k % 4
        p = 0.5 ** np.arange(n_levels)
        p /= p.sum()
        codes = rng.choice(n_levels, size=n_rows, p=p).astype(np.uint32)
        cat_codes.append(codes)
        cat_levels.append(_category_labels(k, n_levels))

    # --- fraud boxes
    normal = [j for j in range(n_num) if not lognormal[j]] or list(range(n_num))
    a, b, c, d, e, f = (normal[i % len(normal)] for i in range(6))
    shuffled = rng.permutation(fraud_idx)
    n_camo = round(n_fraud * CAMOUFLAGED)
    boxed = shuffled[n_camo:]
    cuts = np.round(np.cumsum(PATTERN_SHARES)[:-1] * len(boxed)).astype(int)
    box0, box1, box2 = np.split(boxed, cuts)

    def fill(rows: np.ndarray, j: int, lo: float, hi: float) -> None:
        num_cols[j][rows] = rng.uniform(lo, hi, size=len(rows)).astype(np.float32)

    fill(box0, a, 3.0, 4.5)
    fill(box0, b, -4.5, -3.0)
    if n_categorical:
        fill(box1, c, 2.5, 4.0)
        cat_codes[0][box1] = len(cat_levels[0]) - 1
        box1_rule = f"{num_names[c]} in [2.5, 4] and cat0 == {cat_levels[0][-1]!r}"
    else:
        fill(box1, c, 3.0, 4.5)
        box1_rule = f"{num_names[c]} in [3, 4.5]"
    fill(box2, d, 1.5, 3.0)
    fill(box2, e, 1.5, 3.0)
    fill(box2, f, -3.0, -1.5)

    # --- missing values (after the boxes: they can hide a fraud signal)
    if missing_rate > 0:
        for col in num_cols:
            k = rng.binomial(n_rows, missing_rate)
            col[rng.integers(0, n_rows, size=k)] = np.nan

    columns: dict[str, pl.Series] = {
        name: pl.Series(name, col) for name, col in zip(num_names, num_cols, strict=True)
    }
    for name, codes, levels in zip(cat_names, cat_codes, cat_levels, strict=True):
        mapping = dict(enumerate(levels))
        columns[name] = pl.Series(name, codes).replace_strict(mapping, return_dtype=pl.Categorical)
    columns[TARGET] = pl.Series(TARGET, y)
    frame = pl.DataFrame(columns)

    description = (
        f"Synthetic fraud table: {n_rows} rows, {n_num} float32 numeric + {n_categorical} "
        f"categorical features, target {TARGET!r} (int8), {n_fraud} fraud rows "
        f"(rate {fraud_rate}), ~{missing_rate:.2%} NaN per numeric column, "
        f"random_state={random_state}. Numeric columns are N(0,1) except every 5th "
        f"(log-normal). Fraud: {CAMOUFLAGED:.0%} camouflaged; the rest in boxes "
        f"[{PATTERN_SHARES[0]}] {num_names[a]} in [3, 4.5] and {num_names[b]} in [-4.5, -3]; "
        f"[{PATTERN_SHARES[1]}] {box1_rule}; "
        f"[{PATTERN_SHARES[2]}] {num_names[d]} in [1.5, 3] and {num_names[e]} in [1.5, 3] and "
        f"{num_names[f]} in [-3, -1.5]."
    )
    return Dataset(
        name="fraud_synthetic",
        frame=frame,
        target=TARGET,
        categorical=tuple(cat_names),
        description=description,
        source="generated by datasets.synthetic.make_fraud (numpy PCG64)",
        licence="MIT (generated; part of rulecascade)",
    )
