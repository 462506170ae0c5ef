"""The benchmark's peer adapters run on tiny data and answer with (covered mask, labels)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

peers = pytest.importorskip("peers")


def _data(n_classes: int = 2, n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = np.clip((X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 1) * (n_classes - 2), 0, None)
    return X, y


def _check(peer, X, y):
    peer.fit(X, y)
    covered, labels = peer.answer(X)
    assert covered.dtype == bool and covered.shape == (len(y),)
    assert labels.shape == (len(y),)
    assert np.all(labels[~covered] == -1)
    assert set(np.unique(labels[covered])) <= set(np.unique(y))
    return covered, labels


def test_tree_leaves_and_idk():
    X, y = _data()
    for p in (peers.TreeLeaves(min_samples_leaf=5), peers.ConfidenceCascade(tau=0.9)):
        covered, labels = _check(p, X, y)
        assert covered.mean() > 0.3
        assert (labels[covered] == y[covered]).mean() > 0.9


def test_tree_leaves_multiclass():
    X, y = _data(n_classes=3)
    _check(peers.TreeLeaves(min_samples_leaf=3), X, y)


def test_row_cap_subsamples():
    X, y = _data()
    p = peers.TreeLeaves(min_samples_leaf=5, max_rows=100)
    _check(p, X, y)
    assert p.rows_used == 100


def test_parse_conjunction():
    terms = peers.parse_conjunction("a <= 1.5 and b > -2e-3 and a > 0", {"a": 0, "b": 1})
    assert terms == [(0, "<=", 1.5), (1, ">", -0.002), (0, ">", 0.0)]
    assert peers.n_conditions(terms) == 2
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.5, -1.0]])
    assert peers.conjunction_mask(X, terms).tolist() == [True, False, False]


def test_skope_rules_shim():
    if importlib.util.find_spec("skrules") is None:  # importing it bare fails: it needs the shim
        pytest.skip("skope-rules is not installed")
    X, y = _data()
    for mode in ("pos", "ovr"):
        covered, labels = _check(peers.SkopeRules(precision_min=0.9, mode=mode), X, y)
        assert covered.any()
        assert (labels[covered] == y[covered]).mean() > 0.8


def test_imodels_peers():
    pytest.importorskip("imodels")
    X, y = _data()
    _check(peers.ImodelsSkope(precision_min=0.9, mode="ovr"), X, y)
    covered, _ = _check(peers.GreedyRuleList(purity=0.9), X, y)
    assert covered.any()


def test_ripper():
    pytest.importorskip("wittgenstein")
    X, y = _data(n=150)
    for mode in ("pos", "ovr"):
        covered, labels = _check(peers.Ripper(mode=mode), X, y)
        assert covered.any()


def test_combine_ovr_defers_conflicts():
    m0 = np.array([True, True, False, False])
    m1 = np.array([False, True, True, False])
    covered, labels = peers.combine_ovr({0: m0, 1: m1}, 4)
    assert covered.tolist() == [True, False, True, False]
    assert labels.tolist() == [0, -1, 1, -1]
