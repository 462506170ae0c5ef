"""Fixtures shared by test modules."""

from __future__ import annotations

import shutil

import pytest

try:
    import _pg_server
except ImportError:  # tests/ imported as a package
    from tests import _pg_server  # type: ignore[no-redef]


@pytest.fixture(scope="session")
def spark():
    """A local Spark session (2 cores), one per test process."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (pyspark needs a JVM)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("rulecascade-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg():
    """A connection to a PostgreSQL server started for the test process (autocommit)."""
    psycopg = pytest.importorskip("psycopg")
    bindir = _pg_server.find_binaries()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    server = _pg_server.start_server(bindir)
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            yield conn
    finally:
        server.stop()
