"""Any tabular input -> one float64 matrix the kernels can read (``FeatureMatrix``).

The one place inputs and labels are read and normalised. Accepted: 2-D numpy arrays, pandas /
polars data frames, pyarrow tables and record batches, mappings of column name to values, lists
of dicts, and paths to parquet, CSV, Arrow IPC or ``.npy`` files. Categorical (string) columns
become integer codes into a sorted category list; missing values become NaN; categories not seen
at fit time become ``-1`` (they match no rule). Fixed-size-list columns (embeddings) expand into
``name_0 .. name_{d-1}``.
"""

from .encode import FeatureMatrix, as_matrix, encode, fingerprint, infer_kinds
from .labels import as_labels, check_labels_present, is_missing
from .tables import (
    CATEGORICAL,
    NUMERIC,
    UNSEEN,
    TableLike,
    column_series,
    count_rows,
    expand_lists,
    has_lists,
    is_arrow,
    is_pandas,
    list_feature_index,
    read_table,
    to_polars,
)

__all__ = [
    "CATEGORICAL",
    "NUMERIC",
    "UNSEEN",
    "FeatureMatrix",
    "TableLike",
    "as_labels",
    "as_matrix",
    "check_labels_present",
    "column_series",
    "count_rows",
    "encode",
    "expand_lists",
    "fingerprint",
    "has_lists",
    "infer_kinds",
    "is_arrow",
    "is_missing",
    "is_pandas",
    "list_feature_index",
    "read_table",
    "to_polars",
]
