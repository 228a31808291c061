"""Connectors: branch point-of-sale databases (and, later, streams and file exports).

`read_window_spark` (almacen.sources.spark_jdbc) is the Spark JDBC twin of `read_window`; it imports
PySpark only through the session it is given.
"""

from almacen.sources.branch import (
    SourceError,
    connect,
    latest_cursor,
    probe,
    query_source,
    read_window,
    render_query,
    render_window,
    safe_source,
)
from almacen.sources.spark_jdbc import jdbc_options, read_window_spark

__all__ = [
    "SourceError",
    "connect",
    "jdbc_options",
    "latest_cursor",
    "probe",
    "query_source",
    "read_window",
    "read_window_spark",
    "render_query",
    "render_window",
    "safe_source",
]
