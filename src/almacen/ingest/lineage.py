"""Lineage columns and the canonical bronze types every reader's output is brought to.

Readers disagree on types (ConnectorX gives NUMERIC as decimal(38,10), SQLite gives REAL floats):
bronze stores one flavour per kind so branches on different databases share a table. Timestamps too:
a source that writes wall-clock times of a zone (`timezone`) has them converted to UTC here, so
bronze means UTC for every branch that shares a table, as `_cutoff` and `_batch_id` do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import UTC, to_utc

BRONZE_DECIMAL = pa.decimal128(38, 10)
LINEAGE = ("branch_id", "_cutoff", "_batch_id", "_source", "_ingested_at")


def batch_id(branch_id: str, hour: datetime) -> str:
    """`branch:<id>:<hour>`, e.g. `branch:palermo:2026-11-23T14` (the hour the cut starts, UTC)."""
    return f"branch:{branch_id}:{hour:%Y-%m-%dT%H}"


def normalise(table: pa.Table, zone: ZoneInfo = UTC) -> pa.Table:
    """Integers to int64, decimals and floats to decimal(38,10) (floats via their shortest text, exact),
    timestamps to microseconds, text to plain strings.

    Naive timestamps are wall-clock times of `zone` (the source's, `config.source_zone`): they become
    naive UTC (`clock.to_utc`: its DST policy), as a UTC source writes them; timestamps with a zone are
    instants and keep it."""
    columns = []
    for col, field in zip(table.columns, table.schema):
        t = field.type
        if pa.types.is_integer(t):
            col = pc.cast(col, pa.int64())
        elif pa.types.is_floating(t):
            col = pc.cast(pc.cast(col, pa.string()), BRONZE_DECIMAL)
        elif pa.types.is_decimal(t):
            col = pc.cast(col, BRONZE_DECIMAL)
        elif pa.types.is_timestamp(t) and t.tz is None:
            col = pc.cast(to_utc(col, zone), pa.timestamp("us"))
        elif pa.types.is_timestamp(t):
            col = pc.cast(col, pa.timestamp("us", tz=t.tz))
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
            col = pc.cast(col, pa.string())
        elif pa.types.is_null(t):
            col = pc.cast(col, pa.string())
        columns.append(col)
    return pa.table(columns, names=table.column_names)


def add_lineage(table: pa.Table, branch_id: str, hour: datetime, source: str, ingested_at: datetime) -> pa.Table:
    """Tag a (branch, hour) slice with where it came from and which cut it belongs to."""
    n = table.num_rows
    ts = pa.timestamp("us", tz="UTC")
    for name, value, typ in (
        ("branch_id", branch_id, pa.string()),
        ("_cutoff", hour + timedelta(hours=1), ts),
        ("_batch_id", batch_id(branch_id, hour), pa.string()),
        ("_source", source, pa.string()),
        ("_ingested_at", ingested_at, ts),
    ):
        table = table.append_column(name, pa.repeat(pa.scalar(value, typ), n))
    return table
