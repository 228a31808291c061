"""The messaging SQL files, read from the package, and the check that a result has the promised shape."""

from __future__ import annotations

from importlib import resources

import pyarrow as pa

_SQL = resources.files("almacen.domains.messaging")


def read_sql(name: str) -> str:
    """The text of `name` (e.g. `invoice.sql`) beside this module."""
    return _SQL.joinpath(name).read_text(encoding="utf-8")


def exactly(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    """`table` as `schema`; a different column list or type is a fault of the SQL (`what`), reported as such."""
    if table.schema != schema:
        raise RuntimeError(f"{what} SQL returned {table.schema}, expected {schema}")
    return table
