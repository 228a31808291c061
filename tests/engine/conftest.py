"""Each test of the engine contract runs on both engines: DuckDB, and Spark (the shared session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from almacen.engine import DuckDBEngine, Engine


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request) -> Iterator[Engine]:
    """A fresh DuckDBEngine, or a fresh SparkEngine on the shared session (its views dropped after)."""
    if request.param == "spark":
        from almacen.engine.spark import SparkEngine

        with SparkEngine(session=request.getfixturevalue("spark_engine").spark) as spark:
            yield spark
    else:
        with DuckDBEngine() as duck:
            yield duck
