"""The settings of one run of the learning pipeline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    max_error: float = 0.005
    confidence: float = 0.95
    class_caps: tuple[tuple[int, float], ...] = ()  # (class index, cap)
    max_rules: int = 100
    n_trees: int = 20
    max_features: int | None = None
    min_support: int | None = None  # growth rows; None: derived from the target
    max_bins: int = 255
    n_widen: int = 256
    certify: bool = True
    rule_slack: float = 10.0  # a rule qualifies when its precision bound >= 1 - slack * eps
    # (at most 0.5) and its validation error rate <= eps: a loose gate, since the union is what
    # certification tests; a tight one (3 eps) shut out the rules of rare classes and of data
    # sets with many classes, whose validation rows are too few for a tight bound of their own
    union_z: float = 3.0  # selection keeps the union's validation error bound, at z * the
    # normal quantile of the confidence, below max_error (room for certification noise)
    subsample: float = 0.6
    backoff: float = 0.25  # widening gives back this share of a side stopped by other classes
    order: str = "greedy"  # rule order: "greedy" (selection order) or "bound"
    # selection targets (x max_error), one rule list each; certification walks them strictest
    # first and keeps the widest that holds (later levels cost no confidence)
    levels: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0, 3.0)
    marginal_prior: float = 1.0  # a pick's new rows need (errors + prior) <= eps * rows
    tail_prior: float | None = 0.0  # then each list goes on with this prior (None: it
    # stops): clean small regions of rare classes join as a tail, tested after every list and
    # only with the level a passing run carries to it (so it costs the other steps nothing)
    tail_slack: float = 3.0  # ... among rules whose own bound >= 1 - tail_slack * eps
    purity_share: float = 0.25  # candidates keep growth errors <= share * eps of their rows
    loose_share: float | None = 0.75  # a second set of trees stops at this share of eps
    # (None: no second set) ...
    loose_min_rows: int = 10_000  # ... when there are at least this many growth rows (with
    # fewer, growth counts cannot tell a slightly impure region from a bad one)
    loose_level: float = 2.0  # candidates past the purity budget join selection from this level
    interval_shares: tuple[float, ...] = (0.25, 0.5, 0.75)  # one-condition candidates: the
    # widest interval per feature and class with growth errors <= share * eps of its rows
    max_growth_rows: int = 300_000
    max_validation_rows: int = 1_000_000  # past this, validation rows buy little (bounds and
    # selection are already tight) and cost time and memory in every count: the rest go to
    # certification, whose test gains power from them at a linear cost
    max_depth: int = 40
    small_rows: int = 0  # fewer rows left after certification: no validation split (0: never)
    start_share: float = 0.5  # share of the certification level put on the start points
    cert_shares: tuple[float, float] = (0.4, 0.5)  # certification share of the rows: bounds
    # (40% at least: the test's power decides what can be kept; more growth rows buy less)
    growth_share: float = 2.0 / 3.0  # growth share of the rows left after certification
    wide_shares: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0)  # one-condition intervals at these
    # error rates (x max_error) may close a list when the union stays within the target (with
    # the second round on: the rules then read as a list, not each clean on its own)
    device: str = "cpu"  # where the row passes of binning, validation, selection and
    # certification run: "cpu" or "cuda" (the numba.cuda twins; same counts, same rules), or
    # "auto-cuda" (the twins, falling back to the CPU kernel when a GPU call fails)
    residual_rounds: int = 1  # rounds of candidates grown and validated on the rows each
    # list leaves (sequential covering), extending the lists; the extended lists are tested
    # after the others, like the tails
