"""Compute engines behind one contract; DuckDB is the embedded default."""

from almacen.engine.base import Engine
from almacen.engine.duckdb import DuckDBEngine

__all__ = ["DuckDBEngine", "Engine"]
