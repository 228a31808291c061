"""Compute engines behind one contract; DuckDB is the embedded default, Spark the scale-out one."""

from almacen.engine.base import Engine
from almacen.engine.duckdb import DuckDBEngine
from almacen.engine.select import open_engine

__all__ = ["DuckDBEngine", "Engine", "open_engine"]
