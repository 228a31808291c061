"""Per-minute sales rollups kept current by the stream: `gold.sales_minute` and `gold.sales_minute_late`.

Minutes still open (not older than the watermark minus the allowed lateness) are held in the
engine; each micro-batch adds its events to them and replaces exactly those minutes in gold, so a
minute reaches its final value when it closes. The watermark is per stream, the slowest deciding
(`realtime.watermark`): streams read out of step with each other make no event late. Events later
than that are counted apart, at the same full grain (minute x branch x channel x payment type x
status), so on-time plus late equals bronze row by row. Both tables commit the stream positions they
include (Delta transaction ids, never moving back: `realtime.positions`) and gold.sales_minute also
the watermark and each stream's latest event time: after a crash the open minutes and the watermark
are read back from gold, and whatever bronze holds beyond a table's positions is applied again,
exactly once.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import floor_minute
from almacen.engine import Engine
from almacen.errors import AlmacenError
from almacen.lake import Access, Lake, Table, define
from almacen.lake.predicate import EVERYTHING, at_least, isin
from almacen.realtime.positions import Positions, app_id, past, transactions
from almacen.realtime.watermark import IDLE_AFTER, StreamWatermark, latest_per_stream
from almacen.sql import load_sql

log = logging.getLogger(__name__)
MINUTE = "gold.sales_minute"
LATE = "gold.sales_minute_late"
SALES_EVENTS = "bronze.sales_events"
"""the sale stream's bronze table, named once: here (`stream.SALES` is built with it)"""
WATERMARK_APP = "almacen-stream:watermark"
_TS = pa.timestamp("us", tz="UTC")
GRAIN = ("minute", "branch_id", "channel", "payment_type", "status")
MINUTE_SCHEMA = pa.schema(
    [
        ("minute", _TS),
        ("branch_id", pa.string()),
        ("channel", pa.string()),
        ("payment_type", pa.string()),
        ("status", pa.string()),
        ("events", pa.int64()),
        ("units", pa.decimal128(18, 3)),
        ("amount", pa.decimal128(18, 2)),
    ]
)
LATE_SCHEMA = MINUTE_SCHEMA
"""late events keep every dimension: on-time plus late equals bronze at the full grain"""
MINUTE_TABLE = define(
    Table(
        MINUTE,
        Access.BRANCH,
        MINUTE_SCHEMA,
        keys=GRAIN,
        description="approved and other sales per minute of event time, from the sale-event stream",
    )
)
"""once published, each branch's role reads its own minutes (almacen.lake.access)"""
LATE_TABLE = define(
    Table(
        LATE,
        Access.BRANCH,
        LATE_SCHEMA,
        keys=GRAIN,
        description="events that arrived after their minute closed, at the same grain",
    )
)


class LateTableError(AlmacenError, RuntimeError):
    """gold.sales_minute_late could not be moved to the full grain; the message says how to rebuild it."""


@dataclass
class MinuteRollup:
    """The open minutes of `gold.sales_minute`, and how to fold a batch of events into gold."""

    lake: Lake
    engine: Engine
    lateness: timedelta
    idle_after: timedelta = IDLE_AFTER
    """processing time after which a stream that delivered nothing stops holding the watermark back"""
    tables: tuple[str, ...] = (MINUTE, LATE)
    """rewritten by every batch: compacted between batches, never beside one"""
    clock: StreamWatermark = field(default_factory=StreamWatermark)
    _positions: dict[str, Positions] = field(default_factory=dict)

    @property
    def watermark(self) -> datetime | None:
        """The slowest stream's latest event time (never moving back); None before every stream delivered."""
        return self.clock.value

    def restore(self, streams: Sequence[str] = ()) -> None:
        """Watermark, each of `streams`' latest time and the open minutes as gold.sales_minute last
        committed them; a late table of the old grain (minute x branch) is moved to the full grain."""
        upgrade_late(self.lake, self.engine)
        self.clock = StreamWatermark.restored(self.lake, MINUTE, WATERMARK_APP, streams, self.idle_after)
        self._positions = {t: Positions(self.lake, t) for t in self.tables}
        data = self.lake.dataset(MINUTE)
        if data is None:
            rows = MINUTE_SCHEMA.empty_table()
        elif self.watermark is None:  # no watermark yet: every minute is open
            rows = data.to_table()
        else:
            rows = data.to_table(filter=pads.field("minute") >= pa.scalar(self._open_from(), _TS))
        self.engine.register("open_minutes", rows.select(MINUTE_SCHEMA.names).cast(MINUTE_SCHEMA))

    def _open_from(self) -> datetime:
        """The first minute still open (callers check there is a watermark: before one, every minute is)."""
        watermark = self.watermark
        assert watermark is not None, "no minute is closed before there is a watermark"
        return floor_minute(watermark - self.lateness)

    def is_late(self, event_time: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Events older than the watermark minus the allowed lateness (decided before a batch moves it)."""
        return self.clock.is_late(event_time, self.lateness)

    def unheard(self) -> set[str]:
        """Streams holding the watermark back that delivered nothing yet (the ingestor tells which of them
        the source has nothing for)."""
        return self.clock.unheard()

    def position(self, stream: str) -> int | None:
        """The last position of `stream` gold.sales_minute holds (None: none yet)."""
        return self._positions.setdefault(MINUTE, Positions(self.lake, MINUTE)).of([stream])[stream]

    def release(self, present: Collection[str], drained: Collection[str] = ()) -> None:
        """Before a batch (with `present` streams) is judged: idle streams and the `drained` ones of
        `unheard` stop holding the watermark back; a watermark that moves is committed."""
        clock = self.clock.released_idle(present, drained)
        if clock.value == self.clock.value:
            self.clock = clock
            return
        self.lake.append(MINUTE, MINUTE_SCHEMA.empty_table(), txns=clock.transactions(self.clock, WATERMARK_APP))
        self.clock = clock
        self._keep_open(self.engine.query("SELECT * FROM open_minutes"))

    def apply(self, passed: pa.Table, late: pa.Array, positions: dict[str, int]) -> None:
        """Fold a batch's accepted events into gold: late ones apart, the rest into their minutes."""
        self.apply_late(passed.filter(late), positions)
        self.apply_minutes(passed.filter(pc.invert(late)), positions, latest_per_stream(passed))

    def complete(self, bronze: pads.Dataset, committed: dict[str, int]) -> None:
        """Apply what bronze committed past each gold table's positions (the ingestor stopped between commits)."""
        for table in self.tables:
            behind = self._positions[table].of(committed)
            missing = [s for s, p in behind.items() if p is None or p < committed[s]]
            if not missing:
                continue
            positions = {s: committed[s] for s in missing}
            if table == MINUTE:
                rows = bronze.to_table(filter=past(behind, missing))
                log.info("completing %s from bronze: %d events past its positions", table, rows.num_rows)
                self.apply_minutes(rows.filter(pc.invert(rows["_late"])), positions, latest_per_stream(rows))
            else:
                self.apply_late(
                    bronze.to_table(filter=past(behind, missing) & pads.field("_late")), positions, record_empty=True
                )

    def apply_minutes(self, on_time: pa.Table, positions: dict[str, int], latest: dict[str, datetime]) -> None:
        """Fold accepted, on-time events into their minutes and replace the open minutes in gold, committing
        `positions` (stream -> last position), the watermark and the streams' latest times (`latest`) with them."""
        held = self._positions.setdefault(MINUTE, Positions(self.lake, MINUTE))
        on_time = held.beyond(on_time, positions)
        ends = held.after(positions)
        clock = self.clock.advanced(latest)
        txns = transactions(ends) + clock.transactions(self.clock, WATERMARK_APP)
        if on_time.num_rows == 0:  # no minute changes: only positions, watermark, latest times to record
            if held.behind(positions) or len(txns) > len(ends):
                self.lake.append(MINUTE, MINUTE_SCHEMA.empty_table(), txns=txns)
            held.committed(ends)
            moved, self.clock = clock.value != self.clock.value, clock
            if moved:
                self._keep_open(self.engine.query("SELECT * FROM open_minutes"))
            return
        self.engine.register("new_events", on_time)
        try:
            merged = self.engine.query(load_sql("almacen.domains.sales.realtime", "minute_partials.sql"))
        finally:
            self.engine.forget("new_events")
        merged = merged.cast(MINUTE_SCHEMA)
        predicate = EVERYTHING if self.watermark is None else at_least("minute", self._open_from())
        self.lake.replace(MINUTE, merged, predicate, txns=txns)
        held.committed(ends)
        self.clock = clock
        self._keep_open(merged)

    def _keep_open(self, minutes: pa.Table) -> None:
        """Hold the minutes of `minutes` still open under the watermark (all of them before there is one)."""
        still_open = (
            minutes
            if self.watermark is None
            else minutes.filter(pc.greater_equal(minutes["minute"], pa.scalar(self._open_from(), _TS)))
        )
        self.engine.register("open_minutes", still_open.cast(MINUTE_SCHEMA))

    def apply_late(self, late: pa.Table, positions: dict[str, int], *, record_empty: bool = False) -> None:
        """Add late events to gold.sales_minute_late (full grain), with `positions` (also when there are
        none, if `record_empty`: then a restart need not look for them again)."""
        held = self._positions.setdefault(LATE, Positions(self.lake, LATE))
        late = held.beyond(late, positions)
        ends = held.after(positions)
        if late.num_rows == 0:
            if record_empty and held.behind(positions):
                self.lake.append(LATE, LATE_SCHEMA.empty_table(), txns=transactions(ends))
                held.committed(ends)
            return
        rows = fold_late(self.lake, self.engine, late)
        self.lake.replace(LATE, rows, isin("minute", rows["minute"].unique().to_pylist()), txns=transactions(ends))
        held.committed(ends)


def fold_late(lake: Lake, engine: Engine, late: pa.Table, known: pa.Table | None = None) -> pa.Table:
    """The late table's rows of the minutes `late` events fall in, with those events added (`known`:
    what the table holds for them, read from it when not given)."""
    if known is None:
        minutes = pc.unique(pc.floor_temporal(late["event_time"], unit="minute"))
        table = lake.dataset(LATE)
        known = (
            table.to_table(filter=pads.field("minute").isin(minutes.cast(_TS)))
            if table is not None
            else LATE_SCHEMA.empty_table()
        )
    engine.register("late_known", known.select(LATE_SCHEMA.names).cast(LATE_SCHEMA))
    engine.register("late_events", late)
    try:
        return engine.query(load_sql("almacen.domains.sales.realtime", "late_partials.sql")).cast(LATE_SCHEMA)
    finally:
        engine.forget("late_known")
        engine.forget("late_events")


def upgrade_late(lake: Lake, engine: Engine) -> bool:
    """Move a gold.sales_minute_late of the old grain (minute x branch: events, amount) to the full grain.

    The table held the late bronze rows up to its positions; they are counted again from bronze at the
    full grain, checked against the old counts (events and amount per minute and branch), and the table
    is rewritten in one commit (its positions stay). Returns whether it was upgraded.

    Raises:
        LateTableError: bronze does not give back the old counts; the message says how to rebuild the table.
    """
    table = lake.table(LATE)
    if table is None or set(LATE_SCHEMA.names) <= set(pa.schema(table.schema()).names):
        return False
    old = lake.read(LATE)
    assert old is not None  # the table was opened just above
    bronze = lake.dataset(SALES_EVENTS)
    late = bronze.to_table(filter=pads.field("_late")) if bronze is not None else None
    rows = LATE_SCHEMA.empty_table()
    if late is not None and late.num_rows:
        held = {
            s: p
            for s in pc.unique(late["_stream"]).to_pylist()
            if (p := table.transaction_version(app_id(s))) is not None
        }
        included = [(pads.field("_stream") == s) & (pads.field("_position") <= p) for s, p in held.items()]
        late = late.filter(functools.reduce(operator.or_, included)) if included else late.slice(0, 0)
        rows = fold_late(lake, engine, late, LATE_SCHEMA.empty_table()) if late.num_rows else rows
    if _per_branch(rows) != _per_branch(old):
        raise LateTableError(
            f"{LATE} ({lake.path(LATE)}) has the old grain (minute x branch) and {SALES_EVENTS} does not give back "
            f"its counts ({old.num_rows} rows); rebuild it from bronze: move the folder aside and run "
            "`almacen stream --until-idle` (the late events in bronze are counted again)"
        )
    lake.overwrite(LATE, rows)
    log.info(
        "%s moved to the full grain (minute x branch x channel x payment type x status): %d rows from %s",
        LATE,
        rows.num_rows,
        SALES_EVENTS,
    )
    return True


def _per_branch(rows: pa.Table) -> list[tuple]:
    """Events and amount per minute and branch, sorted: what the old late table held."""
    if rows.num_rows == 0:
        return []
    sums = rows.group_by(["minute", "branch_id"]).aggregate([("events", "sum"), ("amount", "sum")])
    return sorted(zip(*(sums[c].to_pylist() for c in ("minute", "branch_id", "events_sum", "amount_sum"))))
