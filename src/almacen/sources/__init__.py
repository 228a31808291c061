"""Connectors: branch point-of-sale databases (and, later, streams and file exports)."""

from almacen.sources.branch import SourceError, connect, probe, read_sql, read_window, render_query, safe_source

__all__ = ["SourceError", "connect", "probe", "read_sql", "read_window", "render_query", "safe_source"]
