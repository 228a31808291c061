"""The stream job: events from a landing folder or Kafka into bronze, quarantine and gold, exactly once.

One ingestor serves each kind of event stream (`ingest.kinds`: sale events, message events); the
kind says how events parse, which rules judge them and which gold tables they keep current.
Each micro-batch: poll (up to `max_batch_events`, at most `trigger_seconds`), then the step every
stream runs (`ingest.step`, as Spark's foreachBatch does): parse and judge the events, then commit in
this order, each with the positions it includes as Delta transaction ids (`DeltaAppends`):
quarantine -> bronze -> gold. The ingestor resumes from bronze's
positions; a table that got less than bronze (a crash between commits) is completed from bronze
(gold) or keeps only rows past its own positions (quarantine). Every table commits the higher of the
positions it holds and the batch's (`realtime.positions`): the batch read again after a restart may be
cut smaller than the one a table committed before the crash, and a position never moves back. So a
SIGKILL at any moment loses nothing and duplicates nothing, and no state lives anywhere but the lake.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import utc_now
from almacen.config import Settings, StreamSettings
from almacen.engine import DuckDBEngine
from almacen.ingest.kinds import StreamGold, StreamKind
from almacen.ingest.maintenance import Maintenance, release_memory
from almacen.ingest.step import MicroBatch, Totals, parse_batch
from almacen.lake import Lake
from almacen.monitor import RunRecord, record_runs
from almacen.realtime.positions import Positions, transactions
from almacen.sources.stream import EventSource, StreamBatch

log = logging.getLogger(__name__)
_TS = pa.timestamp("us", tz="UTC")


def open_source(cfg: StreamSettings) -> EventSource:
    """The configured event source (landing folder by default)."""
    if cfg.source == "kafka":
        from almacen.sources.kafka import KafkaSource

        return KafkaSource(cfg.kafka)
    from almacen.sources.landing import LandingSource

    return LandingSource(cfg.landing)


class StreamIngestor:
    """One ingestor per source and lake (two running on the same source is not supported)."""

    def __init__(self, settings: Settings, source: EventSource | None = None, *, kind: StreamKind) -> None:
        self.settings = settings
        self.kind = kind
        self.cfg = kind.settings(settings)
        self.lake = Lake(settings.lake)
        self.source = source or open_source(self.cfg)
        self._spill = tempfile.TemporaryDirectory(prefix=f"almacen-{kind.name}-stream-")
        self.engine = DuckDBEngine(memory_limit=self.cfg.memory_limit, temp_directory=self._spill.name)
        self.lateness = timedelta(minutes=self.cfg.allowed_lateness_minutes)
        self.gold = kind.gold(settings, self.lake, self.engine, self.lateness)
        self.totals = Totals()
        self._period = Totals()
        self.appends = DeltaAppends(self.lake)
        self.seen = HeldIds(self.engine, self.lake, kind.bronze, self.gold, self.lateness)
        self._step: MicroBatch | None = None
        self._maintenance = Maintenance(
            self.lake,
            self.cfg.compact_every_seconds,
            self.cfg.vacuum_retention_hours,
            append_only=(kind.bronze, kind.quarantine),
            rewritten=self.gold.tables,
        )

    # -- start: everything from the lake -------------------------------------------------------
    def start(self) -> None:
        """Open the source where bronze ends, restore gold's state (watermark of the source's streams)
        from the lake, give the rules their inputs, complete gold, then restore duplicate detection."""
        self.source.open(self._committed)
        self.gold.restore(self.source.streams())
        self._step = MicroBatch(
            self.kind, self.settings, self.lake, self.engine, self.engine, self.gold, self.seen, self.appends
        )
        self._complete_gold()
        self.seen.restore()
        release_memory()
        self._maintenance.start()

    def _committed(self, stream: str) -> int | None:
        """The last position of `stream` bronze holds (where the source resumes)."""
        return self.appends.held(self.kind.bronze, [stream])[stream]

    def _complete_gold(self) -> None:
        """Apply to gold what bronze committed but gold did not (the ingestor stopped between commits)."""
        data = self.lake.dataset(self.kind.bronze)
        if data is None:
            return
        committed = {
            s: p for s, p in self.appends.held(self.kind.bronze, self.source.streams()).items() if p is not None
        }
        if committed:
            self.gold.complete(data, committed)

    # -- the loop ------------------------------------------------------------------------------
    def run(
        self,
        stop: Callable[[], bool] | threading.Event | None = None,
        *,
        until_idle: bool = False,
        on_batch: Callable[[Totals], None] | None = None,
    ) -> Totals:
        """Consume until `stop` (or, with `until_idle`, until a poll brings nothing and nothing waits)."""
        should_stop = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
        last_report = time.monotonic()
        try:
            while not should_stop():
                n = self.run_once()
                if on_batch:
                    on_batch(self.totals)
                if time.monotonic() - last_report >= self.cfg.report_every_seconds:
                    self.report()
                    last_report = time.monotonic()
                if until_idle and n == 0 and self.totals.lag == 0:
                    break
        finally:
            self.report()
        return self.totals

    def run_once(self) -> int:
        """One micro-batch; returns how many events it read."""
        batch = self.source.poll(self.cfg.max_batch_events, self.cfg.trigger_seconds)
        started = time.perf_counter()
        self.gold.release(batch.ends.keys(), self._drained(batch))
        if len(batch):
            self._process(batch)
            self.source.acknowledge(batch.ends)
            release_memory()
        self._maintenance.tick(self.engine, self.gold.watermark, self.lateness)
        lag = self.source.lag()
        for t in (self.totals, self._period):
            t.lag = lag
            t.last_batch_s = time.perf_counter() - started
        return len(batch)

    def _drained(self, batch: StreamBatch) -> set[str]:
        """Streams that never delivered and are absent from `batch` while the source has nothing waiting
        beyond it (an empty partition): they stop holding gold's watermark back."""
        absent = self.gold.unheard() - batch.ends.keys()
        return absent if absent and self.source.lag() == 0 else set()

    def _process(self, batch: StreamBatch) -> None:
        """The step (`ingest.step`) over a polled batch."""
        if self._step is None:
            raise RuntimeError("StreamIngestor.start() was not called before the first batch")
        now = utc_now()
        parsed = parse_batch(self.kind, self.settings, self.engine, batch.table(), self.cfg.max_payload_bytes)
        counts = self._step.run(parsed, batch.ends, source=batch.source, now=now)
        for t in (self.totals, self._period):
            t.add(counts)

    def report(self) -> None:
        """A run record of the events since the last one, with the lag behind the source."""
        p, now = self._period, utc_now()
        if p.batches == 0 and p.read == 0:
            return
        record = RunRecord(
            self.kind.job,
            None,
            p.since,
            now,
            p.since,
            now,
            p.read,
            p.written,
            p.quarantined,
            lag=p.lag,
            rows_late=p.late,
        )
        record_runs(self.lake, [record])
        self._period = Totals(lag=p.lag)

    def close(self) -> None:
        self._maintenance.stop()
        if self._step is not None:
            self._step.close()
        self.source.close()
        self.engine.close()
        self._spill.cleanup()


class DeltaAppends:
    """The embedded loop's appends (`ingest.step.Appends`): delta-rs, each commit carrying the last position
    of each stream it includes as a Delta transaction id, never lower than the table holds."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._positions: dict[str, Positions] = {}

    def held(self, table: str, streams: Iterable[str]) -> dict[str, int | None]:
        return self._of(table).of(streams)

    def append(self, table: str, rows: pa.Table, ends: dict[str, int], partition_by: list[str] | None = None) -> None:
        """One commit of `rows` with the higher of the table's positions and `ends` (also with no rows: the
        positions move)."""
        positions = self._of(table)
        after = positions.after(ends)
        self.lake.append(table, rows, txns=transactions(after), partition_by=partition_by)
        positions.committed(after)

    def _of(self, table: str) -> Positions:
        if table not in self._positions:
            self._positions[table] = Positions(self.lake, table)
        return self._positions[table]


class HeldIds:
    """The embedded loop's ids already loaded (`ingest.step.SeenIds`): the 64-bit hashes of the events
    within the lateness of the watermark, held in DuckDB (`seen_events`, spilling beyond the memory
    limit); ids of events older than that are looked up in bronze (rare, so it can cost a scan)."""

    def __init__(self, engine: DuckDBEngine, lake: Lake, bronze: str, gold: StreamGold, lateness: timedelta) -> None:
        self.engine, self.lake, self.bronze, self.gold, self.lateness = engine, lake, bronze, gold, lateness

    def restore(self) -> None:
        """Ids of the events still open to duplicates (event time within the lateness of the watermark;
        every id while there is no watermark yet: then no event is late, so none is looked up in bronze)."""
        self.engine.execute("CREATE OR REPLACE TABLE seen_events (h UBIGINT, t TIMESTAMPTZ)")
        data = self.lake.dataset(self.bronze)
        if data is None:
            return
        if self.gold.watermark is None:
            self.remember(data.to_table(columns=["event_id", "event_time"]))
            return
        since = self.gold.watermark - self.lateness
        recent = data.to_table(
            columns=["event_id", "event_time"],
            filter=(pads.field("event_date") >= pa.scalar(since.date()))
            & (pads.field("event_time") >= pa.scalar(since, _TS)),
        )
        self.remember(recent)

    def loaded(self, parsed: pa.Table) -> pa.Table:
        """Hashes of this batch's ids already loaded: the recent ones held, the late ones from bronze."""
        self.engine.register("parsed_ids", parsed.select(["event_id", "event_time"]))
        sql = "SELECT h FROM seen_events WHERE h IN (SELECT hash(event_id) FROM parsed_ids WHERE event_id IS NOT NULL)"
        looked_up = False
        try:
            old = parsed.filter(self.gold.is_late(parsed["event_time"])) if self.gold.watermark else None
            data = self.lake.dataset(self.bronze) if old is not None and old.num_rows else None
            if data is not None and old is not None:
                ids = pc.drop_null(old["event_id"])
                dates = pc.unique(pc.drop_null(pc.cast(old["event_time"], pa.date32())))
                loaded = data.to_table(
                    columns=["event_id", "event_time"],
                    filter=pads.field("event_date").isin(dates) & pads.field("event_id").isin(ids),
                )
                self.engine.register("late_loaded", loaded)
                looked_up = True
                sql += " UNION ALL SELECT hash(event_id) AS h FROM late_loaded"
            return self.engine.query(sql)
        finally:
            self.engine.forget("parsed_ids")
            if looked_up:
                self.engine.forget("late_loaded")

    def remember(self, events: pa.Table) -> None:
        """Hold the ids of `events` (bronze rows committed)."""
        self.engine.register("remembered", events.select(["event_id", "event_time"]))
        try:
            self.engine.execute("INSERT INTO seen_events SELECT hash(event_id), event_time FROM remembered")
        finally:
            self.engine.forget("remembered")
