"""The engine a configuration asks for (`engine = "duckdb" | "spark"`)."""

from __future__ import annotations

from almacen.config import Settings
from almacen.engine.base import Engine
from almacen.engine.duckdb import DuckDBEngine


def open_engine(settings: Settings) -> Engine:
    """A new engine of the configured kind; Spark's session is shared by every engine of the process."""
    if settings.engine == "spark":
        from almacen.engine.spark import SparkEngine  # PySpark is an optional extra

        return SparkEngine(settings.spark)
    return DuckDBEngine()
