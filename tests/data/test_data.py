"""rulecascade.data: every input type to the same FeatureMatrix, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from rulecascade.data import (
    CATEGORICAL,
    NUMERIC,
    as_labels,
    as_matrix,
    encode,
    fingerprint,
    read_table,
    to_polars,
)
from rules_export import InputError

ROWS = {
    "amount": [1.5, None, -np.inf, 7.0],
    "country": ["FR", None, "DE", "FR"],
    "n": [1, 2, 3, 4],
}


def _inputs():
    pdf = pd.DataFrame(ROWS)
    return {
        "polars": pl.DataFrame(ROWS),
        "pandas": pdf,
        "arrow": pa.table(ROWS),
        "mapping": ROWS,
        "records": [
            dict(zip(ROWS, vals, strict=True)) for vals in zip(*ROWS.values(), strict=True)
        ],
    }


@pytest.mark.parametrize("kind", ["polars", "pandas", "arrow", "mapping", "records"])
def test_every_input_type_gives_the_same_matrix(kind):
    fm = as_matrix(_inputs()[kind])
    assert fm.names == ("amount", "country", "n")
    assert fm.kinds == (NUMERIC, CATEGORICAL, NUMERIC)
    assert fm.categories == {"country": ("DE", "FR")}
    expected = np.array(
        [[1.5, 1.0, 1.0], [np.nan, np.nan, 2.0], [-np.inf, 0.0, 3.0], [7.0, 1.0, 4.0]]
    )
    np.testing.assert_array_equal(fm.values, expected)
    assert fm.values.flags.f_contiguous


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".arrow"])
def test_files_round_trip(tmp_path, suffix):
    df = pl.DataFrame(ROWS)
    path = tmp_path / f"data{suffix}"
    {".parquet": df.write_parquet, ".csv": df.write_csv, ".arrow": df.write_ipc}[suffix](path)
    fm = as_matrix(path)
    np.testing.assert_array_equal(fm.values, as_matrix(df).values)


def test_npy_file_is_an_embedding_matrix(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "emb.npy", arr)
    fm = as_matrix(str(tmp_path / "emb.npy"))
    assert fm.names == ("x0", "x1", "x2")
    np.testing.assert_array_equal(fm.values, arr.astype(np.float64))


def test_fixed_size_list_column_expands():
    emb = pa.array([[1.0, 2.0], [3.0, 4.0]], type=pa.list_(pa.float32(), 2))
    fm = as_matrix(pa.table({"emb": emb, "y": [0, 1]}))
    assert fm.names == ("emb_0", "emb_1", "y")
    np.testing.assert_array_equal(fm.values[:, :2], [[1, 2], [3, 4]])


def test_ragged_embedding_lists_are_refused():
    with pytest.raises(InputError, match="'emb'.*different lengths"):
        to_polars(pl.DataFrame({"emb": [[1.0, 2.0], [3.0]]}))


def test_unseen_category_is_minus_one_and_missing_is_nan():
    fit = as_matrix(pl.DataFrame({"c": ["a", "b"]}))
    new = encode(pl.DataFrame({"c": ["b", "zzz", None]}), ["c"], {"c": CATEGORICAL}, fit.categories)
    np.testing.assert_array_equal(new.values[:, 0], [1.0, -1.0, np.nan])


def test_integer_categories_are_strings():
    fm = as_matrix(pl.DataFrame({"mcc": [5411, 5999, 5411]}), categorical=["mcc"])
    assert fm.categories == {"mcc": ("5411", "5999")}


def test_missing_column_is_named():
    with pytest.raises(InputError, match="missing column 'b'"):
        encode(pl.DataFrame({"a": [1.0]}), ["a", "b"], {"a": NUMERIC, "b": NUMERIC})


def test_wrong_type_is_named():
    with pytest.raises(InputError, match="'when'.*neither numeric nor string"):
        as_matrix(pl.DataFrame({"when": pl.Series([1, 2]).cast(pl.Datetime)}))
    with pytest.raises(InputError, match="'s' is String but is used as a numeric"):
        encode(pl.DataFrame({"s": ["x"]}), ["s"], {"s": NUMERIC})


def test_array_shape_errors():
    with pytest.raises(InputError, match="2-D"):
        as_matrix(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="3 columns but 2 names"):
        as_matrix(np.zeros((2, 3)), feature_names=["a", "b"])


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nope.parquet: no such file"):
        read_table(tmp_path / "nope.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="bad.parquet: cannot read as parquet"):
        read_table(bad)
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"x")
    with pytest.raises(InputError, match="unknown file type .xlsx"):
        read_table(odd)
    with pytest.raises(InputError, match="is a directory"):
        read_table(tmp_path)


def test_empty_data_has_zero_rows():
    fm = as_matrix(pl.DataFrame({"a": pl.Series([], dtype=pl.Float64)}))
    assert fm.values.shape == (0, 1)


def test_labels_errors():
    with pytest.raises(InputError, match="missing at row 1"):
        as_labels(pl.Series([1, None]))
    with pytest.raises(InputError, match="missing or not finite at row 2"):
        as_labels(np.array([0.0, 1.0, np.nan]))
    with pytest.raises(InputError, match="missing or not finite at row 0: None"):
        as_labels(np.array([None, "a"], dtype=object))
    with pytest.raises(InputError, match="missing or not finite at row 1: inf"):
        as_labels(np.array(["a", float("inf")], dtype=object))  # as the audit refuses it
    with pytest.raises(InputError, match="missing or not finite at row 1: <NA>"):
        as_labels(pd.Series(["a", None], dtype="string"))
    with pytest.raises(InputError, match="missing or not finite at row 0: np.float32.nan"):
        as_labels(np.array([np.float32("nan"), "a"], dtype=object))
    with pytest.raises(InputError, match="got 2 labels for 3 rows"):
        as_labels([0, 1], n_rows=3)
    with pytest.raises(InputError, match="one-dimensional"):
        as_labels(np.zeros((2, 2)))
    np.testing.assert_array_equal(as_labels(pa.array(["a", "b"])), ["a", "b"])


def test_fingerprint_is_stable_and_content_sensitive():
    fm = as_matrix(pl.DataFrame(ROWS))
    y = np.array([0, 1, 0, 1])
    assert fingerprint(fm, y) == fingerprint(as_matrix(pd.DataFrame(ROWS)), y.copy())
    assert fingerprint(fm, y) != fingerprint(fm, y[::-1].copy())


def test_fingerprint_hashes_the_row_major_bytes_across_blocks():
    # rule files record this hash: reading the values in blocks must not change it
    import hashlib

    rng = np.random.default_rng(0)
    fm = as_matrix(np.asfortranarray(rng.normal(size=(70_000, 3))))  # more than one block
    y = rng.integers(0, 2, 70_000)
    h = hashlib.sha256()
    h.update(repr((fm.names, fm.kinds, sorted(fm.categories.items()))).encode())
    h.update(np.ascontiguousarray(fm.values).tobytes())
    h.update(repr(y.dtype).encode())
    h.update(y.tobytes())
    assert fingerprint(fm, y) == "sha256:" + h.hexdigest()


def test_pandas_columns_polars_cannot_hold_are_named():
    base = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    with pytest.raises(InputError, match=r"column 'z' \(pandas dtype complex128\) cannot be read"):
        as_matrix(base.assign(z=np.ones(3) * 1j))
    with pytest.raises(InputError, match=r"column 'm' \(pandas dtype object\) cannot be read"):
        as_matrix(base.assign(m=[1, "x", 2]))
    with pytest.raises(InputError, match="duplicate column name.*'a'"):
        as_matrix(pd.concat([base, base], axis=1))
    with pytest.raises(InputError, match="duplicate column name.*'a'"):
        as_matrix(pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["a", "a"]))


def test_csv_header_with_quotes_reads_as_written(tmp_path):
    # polars keeps a quoted header's doubled quotes; the names must be those written
    names = ['amt "q"; DROP TABLE t;--', "plain", 'a,b "c"']
    for suffix, sep in ((".csv", ","), (".tsv", "\t")):
        path = tmp_path / f"quoted{suffix}"
        pl.DataFrame({n: [1.0, 2.0] for n in names}).write_csv(path, separator=sep)
        assert '""' in path.read_text().splitlines()[0]  # the header really is escaped
        df = read_table(path)
        assert df.columns == names
        assert df.get_column(names[0]).to_list() == [1.0, 2.0]


def test_csv_header_not_utf8_is_refused_by_name(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("caf\xe9,b\n1,2\n".encode("latin-1"))
    with pytest.raises(InputError, match="latin1.csv: not UTF-8 text"):
        read_table(path)


def test_compact_encoding_is_float32_only_when_every_value_is_exact_there():
    big = 1 << 24
    f32 = pl.DataFrame(
        {
            "a": pl.Series([1.5, None, float("inf"), 2.0], dtype=pl.Float32),
            "b": [True, False, None, True],
            "c": pl.Series([-3, 7, None, big], dtype=pl.Int64),  # within +-2^24
            "d": ["x", None, "y", "x"],
        }
    )
    fm = as_matrix(f32, compact=True)
    assert fm.values.dtype == np.float32 and fm.values.flags.f_contiguous
    wide = as_matrix(f32)  # not compact: float64, the same numbers
    assert wide.values.dtype == np.float64
    np.testing.assert_array_equal(fm.values.astype(np.float64), wide.values)
    assert fingerprint(fm, np.arange(4)) == fingerprint(wide, np.arange(4))
    # one column that float32 cannot hold exactly keeps the whole matrix in float64
    for col in (
        pl.Series("e", [0.1, 0.2, 0.3, 0.4]),  # float64
        pl.Series("e", [0, 1, 2, big + 1], dtype=pl.Int64),
        pl.Series("e", [-big - 1, 0, 0, 0], dtype=pl.Int32),
    ):
        fm = as_matrix(f32.with_columns(col), compact=True)
        assert fm.values.dtype == np.float64, col.dtype
        assert fm.values[3, -1] == float(col[3]) and fm.values[0, -1] == float(col[0])
    # 128-bit integers (numpy has none) and float16 columns
    odd = pl.DataFrame(
        {
            "i": pl.Series([1, None, -(2**20)], dtype=pl.Int128),
            "h": pl.Series([0.5, None, 2.0], dtype=pl.Float16),
        }
    )
    fm = as_matrix(odd, compact=True)
    assert fm.values.dtype == np.float32
    np.testing.assert_array_equal(fm.values, [[1.0, 0.5], [np.nan, np.nan], [-(2.0**20), 2.0]])
    # numpy arrays
    assert as_matrix(np.ones((3, 2), np.float32), compact=True).values.dtype == np.float32
    assert as_matrix(np.ones((3, 2), np.int16), compact=True).values.dtype == np.float32
    assert as_matrix(np.array([[big], [2]]), compact=True).values.dtype == np.float32
    assert as_matrix(np.array([[big + 1], [2]]), compact=True).values.dtype == np.float64
    assert as_matrix(np.ones((3, 2)), compact=True).values.dtype == np.float64
    assert as_matrix(np.ones((3, 2), np.float32)).values.dtype == np.float64
