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


class Cli:
    """Runs the rulecascade CLI in-process: ``run`` expects success, ``fails`` a user
    mistake (exit 2, no traceback, one ``Error:`` line on stderr, which it returns)."""

    def run(self, *args, ok=(0,)):
        from click.testing import CliRunner

        from rulecascade.cli import main

        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code in ok, (result.exit_code, result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    def fails(self, *args) -> str:
        result = self.run(*args, ok=(2,))
        assert isinstance(result.exception, SystemExit), result.exception
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert lines and lines[-1].startswith("Error:"), result.stderr
        assert result.stdout == ""
        return lines[-1]


@pytest.fixture(scope="session")
def cli() -> Cli:
    """The CLI runner of ``Cli``."""
    return Cli()
