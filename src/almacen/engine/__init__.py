"""Compute engines behind one contract; DuckDB is the embedded default, Spark the scale-out one."""

from almacen.engine.base import CAPABILITIES, Engine, MalformedInput, QueryError, Unsupported, require_capability
from almacen.engine.duckdb import DuckDBEngine
from almacen.engine.select import open_engine

__all__ = [
    "CAPABILITIES",
    "DuckDBEngine",
    "Engine",
    "MalformedInput",
    "QueryError",
    "Unsupported",
    "open_engine",
    "require_capability",
]
