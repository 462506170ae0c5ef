"""The :class:`Dataset` container and the on-disk parquet cache."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["Dataset", "cache_dir", "cached_frame", "snake_case"]

ENV_VAR = "RULECASCADE_DATA_DIR"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A tabular classification data set.

    Attributes
    ----------
    name:
        Registry name (``datasets.load(name)``).
    frame:
        Polars DataFrame holding the features *and* the target column.
    target:
        Name of the target column in ``frame``.
    categorical:
        Names of the categorical feature columns (polars ``Categorical`` dtype).
        Every other feature column is numeric.
    description, source, licence:
        Free text: what the rows are, where the data comes from, under which terms.
    """

    name: str
    frame: pl.DataFrame = field(repr=False)
    target: str
    categorical: tuple[str, ...] = ()
    description: str = field(default="", repr=False)
    source: str = field(default="", repr=False)
    licence: str = ""

    def __post_init__(self) -> None:
        if self.target not in self.frame.columns:
            raise ValueError(f"target column {self.target!r} not in frame")
        missing = [c for c in self.categorical if c not in self.frame.columns]
        if missing:
            raise ValueError(f"categorical columns not in frame: {missing}")
        if self.target in self.categorical:
            raise ValueError("the target cannot be listed as a categorical feature")

    @property
    def features(self) -> tuple[str, ...]:
        """Feature column names (every column except the target), in frame order."""
        return tuple(c for c in self.frame.columns if c != self.target)

    @property
    def numeric(self) -> tuple[str, ...]:
        """Numeric feature column names."""
        cats = set(self.categorical)
        return tuple(c for c in self.features if c not in cats)

    @property
    def X(self) -> pl.DataFrame:  # noqa: N802 - conventional name
        """The features: ``frame`` without the target column."""
        return self.frame.drop(self.target)

    @property
    def y(self) -> np.ndarray:
        """The target as a numpy array (integers, or strings for string labels)."""
        return self.frame.get_column(self.target).to_numpy()

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, feature columns)``, the target not counted."""
        return self.frame.height, self.frame.width - 1

    def __len__(self) -> int:
        return self.frame.height


def cache_dir() -> Path:
    """Directory holding the parquet cache.

    ``$RULECASCADE_DATA_DIR`` if set, else ``~/.cache/rulecascade/datasets``.
    It is not created here; it is created on the first write.
    """
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "rulecascade" / "datasets"


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` so that readers never see a partial file.

    The frame is written to a unique temporary file in the same directory and
    then moved into place with :func:`os.replace`, which is atomic on POSIX and
    Windows. Two processes racing on the same file both succeed; the last one
    to finish wins, and both wrote identical content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        frame.write_parquet(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def cached_frame(
    key: str, build: Callable[[], pl.DataFrame], *, cache: bool = True
) -> pl.DataFrame:
    """Return the frame cached under ``key``, building and caching it if needed.

    An unreadable cache file (truncated, foreign) is ignored and rebuilt. If the
    cache directory cannot be written, a warning is emitted and the freshly
    built frame is returned anyway.
    """
    if not cache:
        return build()
    path = cache_dir() / f"{key}.parquet"
    if path.is_file():
        try:
            return pl.read_parquet(path)
        except Exception as exc:  # corrupt or foreign file: rebuild it
            warnings.warn(f"ignoring unreadable cache file {path}: {exc}", stacklevel=3)
    frame = build()
    try:
        _write_atomic(frame, path)
    except OSError as exc:
        warnings.warn(f"could not write dataset cache {path}: {exc}", stacklevel=3)
    return frame


def snake_case(name: str) -> str:
    """``'mean radius'`` -> ``'mean_radius'``; ``'region-centroid-col'`` -> ``'region_centroid_col'``."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
