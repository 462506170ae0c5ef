"""Tests for the ``datasets`` package (bundled real data + synthetic generator)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from rulecascade import datasets
from rulecascade.datasets import real
from rulecascade.datasets.synthetic import make_fraud

# name -> (rows, feature columns, target, {class: count})
EXPECTED = {
    "breast_cancer": (569, 30, "benign", {0: 212, 1: 357}),
    "digits": (
        1797,
        64,
        "digit",
        {0: 178, 1: 182, 2: 177, 3: 183, 4: 181, 5: 182, 6: 181, 7: 179, 8: 174, 9: 180},
    ),
    "phishing": (1250, 9, "is_phishing", {0: 702, 1: 548}),
    "shuttle": (49097, 9, "anomaly", {0: 45586, 1: 3511}),
    "image_segments": (
        2310,
        18,
        "category",
        dict.fromkeys(["brickface", "cement", "foliage", "grass", "path", "sky", "window"], 330),
    ),
    "credit_default": (10000, 3, "default", {0: 9667, 1: 333}),
    "flights": (327346, 10, "delayed", {0: 249716, 1: 77630}),
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("rulecascade-data")


@pytest.fixture
def cache_env(data_dir, monkeypatch):
    monkeypatch.setenv("RULECASCADE_DATA_DIR", str(data_dir))
    return data_dir


def test_registry():
    assert datasets.names() == list(EXPECTED)
    assert set(datasets.DATASETS) == set(EXPECTED)
    with pytest.raises(KeyError, match="unknown dataset"):
        datasets.load("no_such_dataset")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_loader_shape_target_classes(name, cache_env):
    rows, n_features, target, counts = EXPECTED[name]
    ds = datasets.DATASETS[name]()
    assert isinstance(ds, datasets.Dataset)
    assert ds.name == name
    assert ds.target == target
    assert ds.frame.height == rows
    assert ds.shape == (rows, n_features)
    assert ds.X.shape == (rows, n_features)
    assert target not in ds.X.columns
    assert ds.features == tuple(ds.X.columns)
    y = ds.y
    assert isinstance(y, np.ndarray) and y.shape == (rows,)
    classes, n = np.unique(y, return_counts=True)
    assert dict(zip(classes.tolist(), n.tolist(), strict=True)) == counts
    assert ds.frame.null_count().sum_horizontal().item() == 0
    for col in ds.categorical:
        assert ds.frame.schema[col] == pl.Categorical
    for col in ds.numeric:
        assert ds.frame.schema[col].is_numeric(), col
    assert ds.description and ds.source and ds.licence
    assert (cache_env / f"{name}.v1.parquet").is_file()


def test_load_is_same_as_loader(cache_env):
    assert datasets.load("phishing").frame.equals(datasets.load_phishing().frame)


def test_cache_created_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("RULECASCADE_DATA_DIR", str(tmp_path / "cache"))
    assert datasets.cache_dir() == tmp_path / "cache"
    first = datasets.load("credit_default")
    path = tmp_path / "cache" / "credit_default.v1.parquet"
    assert path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]

    def boom():
        raise AssertionError("builder must not run when the cache exists")

    spec = real._SPECS["credit_default"]
    monkeypatch.setitem(
        real._SPECS, "credit_default", real._Spec(**{**spec.__dict__, "build": boom})
    )
    second = datasets.load("credit_default")
    assert second.frame.equals(first.frame)
    assert second.frame.schema["student"] == pl.Categorical
    with pytest.raises(AssertionError, match="must not run"):
        datasets.load("credit_default", cache=False)


def test_corrupt_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("RULECASCADE_DATA_DIR", str(tmp_path))
    path = tmp_path / "phishing.v1.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        ds = datasets.load("phishing")
    assert ds.frame.height == 1250
    assert pl.read_parquet(path).equals(ds.frame)


def test_default_cache_dir_outside_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("RULECASCADE_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.cache_dir() == tmp_path / ".cache" / "rulecascade" / "datasets"


def test_flights_has_no_leakage(cache_env):
    ds = datasets.load("flights")
    cols = set(ds.X.columns)
    assert cols == set(real.FLIGHTS_FEATURES)
    forbidden = {"arr_delay", "arr_time", "air_time", "dep_time", "tailnum", "flight", "time_hour"}
    assert not cols & forbidden
    assert set(ds.categorical) == {"carrier", "origin", "dest"}
    assert ds.frame.schema["delayed"].is_integer()
    assert ds.frame["origin"].cast(pl.String).unique().sort().to_list() == ["EWR", "JFK", "LGA"]
    assert ds.frame["carrier"].n_unique() == 16


def test_credit_default_columns(cache_env):
    ds = datasets.load("credit_default")
    assert ds.frame.columns == ["student", "balance", "income", "default"]
    assert ds.categorical == ("student",)
    assert ds.frame["student"].cast(pl.String).value_counts().sort("student").rows() == [
        ("No", 7056),
        ("Yes", 2944),
    ]


def test_dataset_validates_columns():
    frame = pl.DataFrame({"a": [1.0], "t": [0]})
    with pytest.raises(ValueError, match="target"):
        datasets.Dataset(name="x", frame=frame, target="missing")
    with pytest.raises(ValueError, match="categorical"):
        datasets.Dataset(name="x", frame=frame, target="t", categorical=("zzz",))


# --------------------------------------------------------------------------- synthetic


def test_fraud_deterministic():
    a = make_fraud(20_000, random_state=7)
    b = make_fraud(20_000, random_state=7)
    c = make_fraud(20_000, random_state=8)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(c.frame)


def test_fraud_shape_types_rate_missing():
    n = 200_000
    ds = make_fraud(n, n_features=20, fraud_rate=0.01, n_categorical=3, missing_rate=0.02)
    f = ds.frame
    assert ds.shape == (n, 20)
    assert ds.target == "is_fraud"
    assert ds.categorical == ("cat0", "cat1", "cat2")
    assert len(ds.numeric) == 17
    for col in ds.numeric:
        assert f.schema[col] == pl.Float32
    for col in ds.categorical:
        assert f.schema[col] == pl.Categorical
        assert 3 <= f[col].n_unique() <= 6
        assert f[col].null_count() == 0
    assert ds.y.sum() == round(n * 0.01)
    assert set(np.unique(ds.y).tolist()) == {0, 1}
    nan_share = f.select(pl.col(ds.numeric).is_nan().mean()).row(0)
    assert all(0.015 < s < 0.025 for s in nan_share)


@pytest.mark.parametrize("rate", [0.001, 0.005, 0.05])
def test_fraud_rate(rate):
    ds = make_fraud(100_000, n_features=10, fraud_rate=rate)
    assert ds.y.mean() == pytest.approx(rate, rel=0.01)


def test_fraud_boxes_are_nearly_pure():
    ds = make_fraud(500_000, n_features=10, missing_rate=0.0)
    f = ds.frame
    box0 = f.filter(pl.col("x00").is_between(3, 4.5) & pl.col("x01").is_between(-4.5, -3))
    assert box0.height > 0.4 * ds.y.sum()
    assert box0["is_fraud"].mean() > 0.98
    outside = f.filter(~(pl.col("x00") > 2.5) & ~(pl.col("x02") > 2.5) & ~(pl.col("x03") > 1.5))
    assert outside["is_fraud"].mean() < 0.001


def test_fraud_edge_cases():
    ds = make_fraud(50, n_features=3, n_categorical=0, fraud_rate=0.2, missing_rate=0.0)
    assert ds.categorical == () and ds.shape == (50, 3) and ds.y.sum() == 10
    assert make_fraud(10, fraud_rate=0.0).y.sum() == 0
    with pytest.raises(ValueError):
        make_fraud(10, n_features=2, n_categorical=2)
    with pytest.raises(ValueError):
        make_fraud(0)
