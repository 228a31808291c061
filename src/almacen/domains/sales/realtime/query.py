"""Fresh questions over the minute rollups: what are we selling right now, and where."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import floor_minute, utc_now
from almacen.domains.sales.realtime.rollup import GRAIN, LATE, LATE_SCHEMA, MINUTE, MINUTE_SCHEMA
from almacen.errors import UsageError
from almacen.lake import Lake

DIMENSIONS = ("branch_id", "channel", "payment_type", "status")
MEASURES = ("events", "units", "amount")


def sales_minutes(
    lake: Lake,
    last: int = 15,
    by: Sequence[str] = (),
    *,
    until: datetime | None = None,
    per_minute: bool = True,
    status: str | None = None,
) -> pa.Table:
    """Events, units and amount of the last `last` minutes up to `until` (default: now), by minute
    (unless `per_minute` is false) and by any of DIMENSIONS; `status` keeps one status only."""
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise UsageError(f"cannot group by {', '.join(unknown)}: choose among {', '.join(DIMENSIONS)}")
    end = floor_minute(until or utc_now()) + timedelta(minutes=1)
    start = end - timedelta(minutes=last)
    keys = (["minute"] if per_minute else []) + list(by)
    data = lake.dataset(MINUTE)
    ts = MINUTE_SCHEMA.field("minute").type
    if data is None:
        rows = MINUTE_SCHEMA.empty_table()
    else:
        where = (pads.field("minute") >= pa.scalar(start, ts)) & (pads.field("minute") < pa.scalar(end, ts))
        if status:
            where &= pads.field("status") == status
        rows = data.to_table(columns=list(dict.fromkeys(["minute", *by, *MEASURES])), filter=where)
    if not keys:
        return pa.table({m: [pc.sum(rows[m]).as_py() or 0] for m in MEASURES})
    out = rows.group_by(keys).aggregate([(m, "sum") for m in MEASURES])
    out = out.rename_columns([c.removesuffix("_sum") for c in out.column_names])
    return out.select(keys + list(MEASURES)).sort_by([(k, "ascending") for k in keys])


def late_minutes(lake: Lake) -> pa.Table:
    """Events that came later than the allowed lateness (kept in bronze), at gold.sales_minute's grain:
    minute x branch x channel x payment type x status, with events, units and amount."""
    data = lake.read(LATE)
    if data is None:
        return LATE_SCHEMA.empty_table()
    keys = [k for k in GRAIN if k in data.column_names]  # a table of the old grain until the stream upgrades it
    return data.sort_by([(k, "ascending") for k in keys])
