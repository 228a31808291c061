"""Per-minute sales rollups kept current by the stream: `gold.sales_minute` and `gold.sales_minute_late`.

Minutes still open (not older than the watermark minus the allowed lateness) are held in the
engine; each micro-batch adds its events to them and replaces exactly those minutes in gold, so a
minute reaches its final value when it closes. Events later than that are counted apart, per
minute and branch. Both tables commit the stream positions they include (Delta transaction ids)
and gold.sales_minute also the watermark: after a crash the open minutes are read back from gold
and whatever bronze holds beyond gold's positions is applied again, exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import resources

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.engine import Engine
from almacen.lake import Access, Lake, declare

MINUTE = "gold.sales_minute"
LATE = "gold.sales_minute_late"
WATERMARK_APP = "almacen-stream:watermark"
_TS = pa.timestamp("us", tz="UTC")
MINUTE_SCHEMA = pa.schema([
    ("minute", _TS), ("branch_id", pa.string()), ("channel", pa.string()), ("payment_type", pa.string()),
    ("status", pa.string()), ("events", pa.int64()), ("units", pa.decimal128(18, 3)), ("amount", pa.decimal128(18, 2)),
])
LATE_SCHEMA = pa.schema([("minute", _TS), ("branch_id", pa.string()), ("events", pa.int64()),
                         ("amount", pa.decimal128(18, 2))])
declare(MINUTE, Access.BRANCH)  # once published, each branch's role reads its own minutes (almacen.lake.access)
declare(LATE, Access.BRANCH)
_SQL = resources.files("almacen.realtime")


def app_id(stream: str) -> str:
    """The Delta transaction app id under which a stream's last position is committed."""
    return f"almacen-stream:{stream}"


def past(behind: dict[str, int | None], streams: list[str]) -> pads.Expression:
    """Bronze rows of `streams` past the positions a gold table holds (`behind`, None: nothing yet)."""
    cond = None
    for s in streams:
        c = (pads.field("_stream") == s) & (pads.field("_position") > (behind[s] if behind[s] is not None else -1))
        cond = c if cond is None else cond | c
    return cond


def late_mask(event_time: pa.ChunkedArray | pa.Array, watermark: datetime | None, lateness: timedelta) -> pa.Array:
    """True for events older than `watermark - lateness` (none before there is a watermark)."""
    if watermark is None:
        return pa.array([False] * len(event_time))
    return pc.fill_null(pc.less(event_time, pa.scalar(watermark - lateness, _TS)), False)


def floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class MinuteRollup:
    """The open minutes of `gold.sales_minute`, and how to fold a batch of events into gold."""

    lake: Lake
    engine: Engine
    lateness: timedelta
    watermark: datetime | None = None
    tables: tuple[str, ...] = (MINUTE, LATE)
    """rewritten by every batch: compacted between batches, never beside one"""

    def restore(self) -> None:
        """Watermark and open minutes as gold.sales_minute last committed them."""
        ms = self.lake.transaction_version(MINUTE, WATERMARK_APP)
        self.watermark = None if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc)
        rows = MINUTE_SCHEMA.empty_table()
        data = self.lake.dataset(MINUTE)
        if data is not None and self.watermark is not None:
            rows = data.to_table(filter=pads.field("minute") >= pa.scalar(self._open_from(), _TS))
        self.engine.register("open_minutes", rows.cast(MINUTE_SCHEMA))

    def _open_from(self) -> datetime:
        """The first minute still open."""
        return floor_minute(self.watermark - self.lateness)

    def is_late(self, event_time: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Events older than the watermark minus the allowed lateness (decided before a batch moves it)."""
        return late_mask(event_time, self.watermark, self.lateness)

    def apply(self, passed: pa.Table, late: pa.Array, positions: dict[str, int]) -> None:
        """Fold a batch's accepted events into gold: late ones apart, the rest into their minutes."""
        batch_max = pc.max(passed["event_time"]).as_py() if passed.num_rows else None
        self.apply_late(passed.filter(late), positions)
        self.apply_minutes(passed.filter(pc.invert(late)), positions, batch_max)

    def complete(self, bronze: pads.Dataset, committed: dict[str, int]) -> None:
        """Apply what bronze committed past each gold table's positions (the ingestor stopped between commits)."""
        for table in (MINUTE, LATE):
            behind = {s: self.lake.transaction_version(table, app_id(s)) for s in committed}
            missing = [s for s, p in behind.items() if p is None or p < committed[s]]
            if not missing:
                continue
            rows = bronze.to_table(filter=past(behind, missing) & (pads.field("_late") if table == LATE
                                                                    else ~pads.field("_late")))
            positions = {s: committed[s] for s in missing}
            if table == MINUTE:
                batch_max = pc.max(rows["event_time"]).as_py() if rows.num_rows else None
                self.apply_minutes(rows, positions, batch_max)
            else:
                self.apply_late(rows, positions, record_empty=True)

    def apply_minutes(self, on_time: pa.Table, positions: dict[str, int], batch_max: datetime | None) -> None:
        """Fold accepted, on-time events into their minutes and replace the open minutes in gold,
        committing `positions` (stream -> last position) and the new watermark with them."""
        txns = [(app_id(s), p) for s, p in positions.items()]
        watermark = max(t for t in (self.watermark, batch_max) if t is not None) if (self.watermark or batch_max) else None
        if on_time.num_rows == 0 and watermark == self.watermark:
            if txns:  # nothing changed but the positions: record them
                self.lake.append(MINUTE, MINUTE_SCHEMA.empty_table(), txns=txns)
            return
        self.engine.register("new_events", on_time)
        try:
            merged = self.engine.query(_SQL.joinpath("minute_partials.sql").read_text(encoding="utf-8"))
        finally:
            self.engine.forget("new_events")
        merged = merged.cast(MINUTE_SCHEMA)
        txns.append((WATERMARK_APP, int(watermark.timestamp() * 1000)))
        if self.watermark is None:  # the first events ever: nothing open in gold yet
            self.lake.append(MINUTE, merged, txns=txns)
        else:
            self.lake.replace(MINUTE, merged, f"minute >= '{_iso(self._open_from())}'", txns=txns)
        self.watermark = watermark
        still_open = merged.filter(pc.greater_equal(merged["minute"], pa.scalar(self._open_from(), _TS)))
        self.engine.register("open_minutes", still_open)

    def apply_late(self, late: pa.Table, positions: dict[str, int], *, record_empty: bool = False) -> None:
        """Add late events to gold.sales_minute_late (minute x branch), with `positions` (also when
        there are none, if `record_empty`: then a restart need not look for them again)."""
        txns = [(app_id(s), p) for s, p in positions.items()]
        if late.num_rows == 0:
            if record_empty and txns:
                self.lake.append(LATE, LATE_SCHEMA.empty_table(), txns=txns)
            return
        minutes = pc.unique(pc.floor_temporal(late["event_time"], unit="minute"))
        known = self.lake.dataset(LATE)
        held = (known.to_table(filter=pads.field("minute").isin(minutes.cast(_TS)))
                if known is not None else LATE_SCHEMA.empty_table())
        self.engine.register("late_known", held.cast(LATE_SCHEMA))
        self.engine.register("late_events", late)
        try:
            rows = self.engine.query(_SQL.joinpath("late_partials.sql").read_text(encoding="utf-8")).cast(LATE_SCHEMA)
        finally:
            self.engine.forget("late_known")
            self.engine.forget("late_events")
        listed = ", ".join(f"'{_iso(m)}'" for m in rows["minute"].unique().to_pylist())
        self.lake.replace(LATE, rows, f"minute IN ({listed})", txns=txns)
