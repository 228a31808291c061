"""Run records in `_system.runs`: one row per job and slice, with counts in, out and quarantined.

An extraction slice read with no rows in an hour its branch normally sells in, before the source
was `settle_hours` past it, is recorded `ok` but `unsettled`: catch-up reads it again until it is
settled (ingest/catchup.py states the rule). Records written before these columns existed read as
settled, with no source position.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.dataset as pads

from almacen.lake import Lake

RUNS = "_system.runs"
_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("job", pa.string()),
        ("branch_id", pa.string()),
        ("window_start", _TS),
        ("window_end", _TS),
        ("rows_read", pa.int64()),
        ("rows_written", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("started_at", _TS),
        ("finished_at", _TS),
        ("status", pa.string()),
        ("error", pa.string()),
        ("lag", pa.int64()),
        ("rows_late", pa.int64()),
        ("unsettled", pa.bool_()),
        ("source_latest", _TS),
    ]
)


@dataclass
class RunRecord:
    """What one job did to one slice; `status` is ok or failed, `error` says why it failed."""

    job: str
    branch_id: str | None
    window_start: datetime
    window_end: datetime
    started_at: datetime
    finished_at: datetime | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    status: str = "ok"
    error: str | None = None
    lag: int | None = None
    """(streams) events waiting in the source when the record was written"""
    rows_late: int | None = None
    """(streams) events later than the allowed lateness, kept in bronze and counted apart"""
    unsettled: bool | None = None
    """(extract) True: no rows in an hour the branch normally sells in, and the source not yet settle_hours
    past it; catch-up reads the slice again. None or False: final"""
    source_latest: datetime | None = None
    """(extract) the source's latest cursor (UTC) when an empty slice was read; None when not measured"""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def duration_s(self) -> float:
        return ((self.finished_at or self.started_at) - self.started_at).total_seconds()


def record_runs(lake: Lake, records: list[RunRecord]) -> None:
    """Append run records in one commit (after the data they describe is committed)."""
    if records:
        lake.append(RUNS, pa.Table.from_pylist([asdict(r) for r in records], schema=SCHEMA))


def read_runs(lake: Lake, where: pads.Expression | None = None) -> pa.Table:
    """All run records, or those matching `where` (an empty table when nothing ran yet), with every
    column of `SCHEMA` (null where a record was written before the column existed)."""
    data = lake.dataset(RUNS)
    if data is None:
        return SCHEMA.empty_table()
    runs = data.to_table(filter=where)
    for f in SCHEMA:
        if f.name not in runs.column_names:
            runs = runs.append_column(f, pa.nulls(runs.num_rows, f.type))
    return runs
