"""The compute contract the models run through: register tables, run SQL, get Arrow back.

Models are DuckDB-dialect SQL files; an engine for another dialect transpiles them (sqlglot)
and the models stay untouched. Engines differ only in the class that implements this.
"""

from __future__ import annotations

from typing import Protocol

import pyarrow as pa
import pyarrow.dataset as pads

from almacen.lake import Lake


class Engine(Protocol):
    """A SQL engine over Arrow data.

    Guarantees: `query` returns the whole result as Arrow and leaves no open result behind;
    a failing statement raises with the engine's message and changes nothing registered.
    Table names are `layer.name`, as in the lake (see DATA-MODEL.md).
    """

    DIALECT: str

    def register(self, name: str, data: pa.Table | pads.Dataset | pa.RecordBatchReader) -> None:
        """Make `data` queryable as `name` (`layer.name` or a bare name) until replaced."""

    def register_table(self, name: str, lake: Lake, table: str | None = None) -> None:
        """Make the lake's Delta table `table` (default `name`) queryable as `name`; LookupError if absent."""

    def materialize(self, sql: str, params: dict[str, object] | None, lake: Lake, table: str) -> int:
        """Replace the whole lake table `table` with a SELECT's rows (one commit), make it queryable
        as `table`, and return how many rows it holds. Each engine writes Delta with its own writer."""

    def forget(self, name: str) -> None:
        """Drop what `register` made queryable as `name`, releasing the engine's hold on its data."""

    def query(self, sql: str, params: dict[str, object] | None = None) -> pa.Table:
        """Run one SELECT (named `$params`) and return its rows."""

    def execute(self, sql: str, params: dict[str, object] | None = None) -> None:
        """Run one statement that returns nothing (CREATE, INSERT, DELETE) on the engine's own tables."""

    def stream(self, sql: str, params: dict[str, object] | None = None) -> pa.RecordBatchReader:
        """Run one SELECT and return its rows as a stream of batches, for results too big to hold."""

    def close(self) -> None:
        """Release the engine's resources."""
