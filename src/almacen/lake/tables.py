"""Delta tables of the lake: where each lives, and the few ways almacen writes them.

Writes go through delta-rs by path (cheaper than reusing a DeltaTable, see FINDINGS.md).
Every write either commits whole or leaves the table as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import TableNotFoundError

from almacen.errors import AlmacenError

LAYERS = ("bronze", "silver", "gold", "quarantine", "_system")
TABLE_DEFAULTS = {"delta.checkpointInterval": "10"}
"""set on every new table: hourly and streaming writers commit often, and a checkpoint every ten
commits keeps opening a table (log replay) cheap (FINDINGS.md)"""


def private_files(umask: str = "077") -> None:
    """Make every file and folder this process creates from now on follow `umask` (default owner-only).

    The lake holds raw personal data in bronze and quarantine, password and token hashes and the audit
    journal: nobody but the service account should read them. delta-rs, pyarrow and DuckDB create files
    with the process umask, so setting it once covers every writer.
    """
    os.umask(int(umask, 8))


class SchemaChangeError(AlmacenError, ValueError):
    """A batch's column changed type against its table: refused rather than cast."""


@dataclass(frozen=True)
class Lake:
    """A lake root (local folder or object-store URI) holding one Delta table per `layer/name`."""

    root: str
    storage_options: dict[str, str] | None = field(default=None, hash=False)

    def path(self, table: str) -> str:
        """`silver.sales` -> `<root>/silver/sales`."""
        layer, _, name = table.partition(".")
        if layer not in LAYERS or not name:
            raise ValueError(f"table {table!r} is not layer.name with a layer among {LAYERS}")
        if "://" in self.root:
            return f"{self.root.rstrip('/')}/{layer}/{name}"
        return str(Path(self.root).resolve() / layer / name)

    def table(self, table: str) -> DeltaTable | None:
        """The Delta table, or None when nothing was ever written to it."""
        try:
            return DeltaTable(self.path(table), storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def exists(self, table: str) -> bool:
        return self.table(table) is not None

    def dataset(self, table: str) -> pads.Dataset | None:
        """A lazily read Arrow dataset of the table's current version (None if absent).

        Local tables are read through pyarrow's own filesystem: deltalake 1.6's Python filesystem
        handler leaves threads behind that abort the interpreter at exit ("terminate called…").
        """
        dt = self.table(table)
        if dt is None:
            return None
        if "://" in self.root:
            return dt.to_pyarrow_dataset()
        return dt.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(self.path(table), pafs.LocalFileSystem()))

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table | None:
        """The whole table (or some columns) in memory, through `dataset`."""
        data = self.dataset(table)
        return None if data is None else data.to_table(columns=columns)

    def transaction_version(self, table: str, app_id: str) -> int | None:
        """The last source position committed with `app_id`, as the lake records it."""
        dt = self.table(table)
        return None if dt is None else dt.transaction_version(app_id)

    def append(
        self,
        table: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        txns: Sequence[tuple[str, int]] = (),
        partition_by: list[str] | None = None,
        configuration: dict[str, str] | None = None,
    ) -> None:
        """Add rows in one commit, recording `txns` (app id, version) in the same commit."""
        self._write(table, data, mode="append", txns=txns, partition_by=partition_by, configuration=configuration)

    def replace(
        self,
        table: str,
        data: pa.Table | pa.RecordBatchReader,
        predicate: str,
        *,
        txns: Sequence[tuple[str, int]] = (),
        partition_by: list[str] | None = None,
    ) -> None:
        """Replace exactly the rows matching `predicate` with `data`, in one commit.

        `predicate` is SQL over the table's columns, written with `almacen.lake.predicate` (which quotes
        every value). delta-rs refuses data outside the predicate, which guards against replacing the
        wrong slice.
        """
        self._write(table, data, mode="overwrite", predicate=predicate, txns=txns, partition_by=partition_by)

    def overwrite(
        self, table: str, data: pa.Table | pa.RecordBatchReader, *, partition_by: list[str] | None = None
    ) -> None:
        """Replace the whole table (a new version; time travel keeps the old one until vacuum)."""
        self._write(table, data, mode="overwrite", partition_by=partition_by, schema_mode="overwrite")

    def compact(
        self,
        table: str,
        *,
        partition_filters: list[tuple[str, str, object]] | None = None,
        retention_hours: int | None = None,
    ) -> int:
        """Merge small files into large ones (then delete replaced files older than `retention_hours`,
        when given); returns how many files were removed. Readers of older versions keep working
        until the vacuum; concurrent appends are not blocked."""
        dt = self.table(table)
        if dt is None:
            return 0
        metrics = dt.optimize.compact(partition_filters=partition_filters, target_size=128 * 2**20)
        if retention_hours is not None:
            dt = self.table(table)
            assert dt is not None  # compacted just above, so it exists
            dt.vacuum(retention_hours=retention_hours, enforce_retention_duration=False, dry_run=False)
            dt.cleanup_metadata()
        return int(metrics.get("numFilesRemoved", 0))

    def _write(
        self,
        table: str,
        data: pa.Table | pa.RecordBatchReader,
        *,
        mode: Literal["append", "overwrite"],
        txns: Sequence[tuple[str, int]] = (),
        predicate: str | None = None,
        partition_by: list[str] | None = None,
        configuration: dict[str, str] | None = None,
        schema_mode: Literal["merge", "overwrite"] | None = None,
    ) -> None:
        """One commit; the table's log is read once (opening a table replays it, the costly part)."""
        existing = self.table(table)
        if existing is None:
            mode, predicate = ("append" if mode == "overwrite" and predicate else mode), None
            configuration = {**TABLE_DEFAULTS, **(configuration or {})}
        elif schema_mode is None:
            data, schema_mode = _conform_to(table, existing, data)
        props = CommitProperties(app_transactions=[Transaction(*t) for t in txns]) if txns else None
        target = existing if existing is not None else self.path(table)
        partition_by = partition_by if existing is None else None
        # delta-rs takes a predicate only with mode="overwrite" (and here it is None whenever mode is "append")
        if mode == "overwrite":
            write_deltalake(
                target,
                data,
                mode="overwrite",
                predicate=predicate,
                partition_by=partition_by,
                configuration=configuration,
                schema_mode=schema_mode,
                commit_properties=props,
                storage_options=self.storage_options,
            )
        else:
            write_deltalake(
                target,
                data,
                mode="append",
                partition_by=partition_by,
                configuration=configuration,
                schema_mode=schema_mode,
                commit_properties=props,
                storage_options=self.storage_options,
            )


def _conform_to(
    table: str, existing: DeltaTable, data: pa.Table | pa.RecordBatchReader
) -> tuple[pa.Table | pa.RecordBatchReader, Literal["merge"] | None]:
    """Check a batch against the table: new columns are added (explicitly), changed types refused."""
    current = pa.schema(existing.schema())
    if isinstance(data, pa.Table) and any(pa.types.is_null(f.type) for f in data.schema):
        # an all-null (often empty) column carries no type of its own: it takes the table's
        data = data.cast(
            pa.schema(
                [
                    current.field(f.name) if pa.types.is_null(f.type) and f.name in current.names else f
                    for f in data.schema
                ]
            )
        )
    incoming = data.schema
    changed = [
        f"{f.name} ({current.field(f.name).type} -> {f.type})"
        for f in incoming
        if f.name in current.names and not same_type(current.field(f.name).type, f.type)
    ]
    if changed:
        raise SchemaChangeError(f"{table}: column type changed at the source: {', '.join(changed)}; batch refused")
    added = [f.name for f in incoming if f.name not in current.names]
    missing = [f for f in current if f.name not in incoming.names]
    if missing and isinstance(data, pa.Table):
        for f in missing:
            data = data.append_column(f, pa.nulls(data.num_rows, f.type))
        data = data.select(current.names + added)
    return data, ("merge" if added else None)


def same_type(a: pa.DataType, b: pa.DataType) -> bool:
    """Delta stores strings and timestamps in one flavour; compare what survives a round trip."""

    def norm(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", tz="UTC" if t.tz else None)
        return t

    return norm(a) == norm(b)


def concat(tables: Iterable[pa.Table]) -> pa.Table:
    """Concatenate tables that may differ only in column order or missing columns."""
    return pa.concat_tables(list(tables), promote_options="default")
