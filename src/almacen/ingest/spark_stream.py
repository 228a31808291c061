"""The stream job on Spark Structured Streaming (`engine = "spark"`): Kafka into bronze, quarantine and gold.

Spark reads the topic (`readStream.format("kafka")`) and hands each micro-batch to `foreachBatch`,
which runs the step every stream runs (`ingest.step.MicroBatch`, the embedded ingestor's own), for
any stream kind: the kind's parse SQL on the driver in DuckDB (the batch is collected as Arrow
anyway, and one JSON reader means the two ingestors cannot read a payload differently), the kind's
rules through the quality gate on the SparkEngine, then quarantine -> bronze -> gold. Nothing of a
domain is written again in PySpark; the few DuckDB functions its SQL uses are rewritten to Spark's
by `engine.spark.to_spark`.

The kind's gold computes on the SparkEngine when Spark has every capability it needs
(`StreamKind.gold_needs`: the sales minutes need none); otherwise on the driver's DuckDBEngine, where
foreachBatch runs and its state lives between batches, as parsing does (the messaging usage keeps
its messages in tables of its own, `STATE_TABLES`, which Spark has not). Either way the gold is the
same code, with the same results, as under the embedded ingestor.

Exactly once: Spark's checkpoint (`<lake>/_system/spark_checkpoints/<job>` by default) replays an
epoch that did not finish. Quarantine and bronze are appended by delta-spark with `txnAppId` (the
query id) / `txnVersion` (the epoch), so Delta skips a replayed epoch (`EpochAppends`); gold tables
commit the Kafka positions they include (as under the embedded ingestor, never lower than they hold)
and keep only the rows past them, so a replay adds nothing to a table that already holds it. The
watermark is per partition, as in the embedded ingestor: a partition that never delivered stops
holding it back once Kafka shows it has nothing for it. Duplicate ids are looked up exactly in bronze
(excluding the replayed batch's own rows: `BronzeLookup`). A new checkpoint on a lake that already
holds events starts after gold's positions, never from the beginning.

Batches are collected to the driver as Arrow between steps: the quality gate and the gold take
Arrow. That bounds a batch by `max_batch_events`, as in the embedded ingestor.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import utc_now
from almacen.config import ConfigError, Settings
from almacen.engine import CAPABILITIES, DuckDBEngine, Engine
from almacen.engine.spark import SparkEngine
from almacen.errors import Unavailable
from almacen.ingest.kinds import StreamKind
from almacen.ingest.step import MicroBatch, Totals, parse_batch
from almacen.lake import Lake
from almacen.monitor import RunRecord, record_runs
from almacen.realtime.positions import app_id
from almacen.sources.kafka import client_config, java_client_config

if TYPE_CHECKING:
    from confluent_kafka import Consumer

log = logging.getLogger(__name__)


def checkpoint_dir(settings: Settings, job: str) -> str:
    """Where Spark keeps a job's offsets and commits: `spark.checkpoints` or `<lake>/_system/spark_checkpoints`,
    then the job's name (`StreamKind.job`)."""
    root = settings.spark.checkpoints or f"{Lake(settings.lake).path('_system.spark_checkpoints')}"
    return f"{root.rstrip('/')}/{job}"


class EpochAppends:
    """Spark's appends (`ingest.step.Appends`): delta-spark, idempotent per (query, epoch); no positions kept.

    `epoch` is set by foreachBatch before each step."""

    def __init__(self, spark, lake: Lake) -> None:
        self.spark, self.lake = spark, lake
        self.query_id: str | None = None
        self.epoch = 0

    def held(self, table: str, streams: Iterable[str]) -> dict[str, int | None]:
        """None for every stream: a replayed epoch is skipped whole by Delta, not row by row."""
        return dict.fromkeys(streams)

    def append(self, table: str, rows: pa.Table, ends: dict[str, int], partition_by: list[str] | None = None) -> None:
        """One idempotent delta-spark append (none without rows): Delta skips it when this query already
        committed the epoch."""
        if rows.num_rows == 0:
            return
        path = self.lake.path(table)
        existing = self.lake.table(table)
        if existing is not None:  # the table's column order (delta-rs or an earlier run may have made it)
            names = [f.name for f in pa.schema(existing.schema())]
            rows = rows.select(
                [n for n in names if n in rows.column_names] + [n for n in rows.column_names if n not in names]
            )
        writer = (
            self.spark.createDataFrame(rows)
            .write.format("delta")
            .mode("append")
            .option("txnAppId", f"almacen-stream:spark:{self.query_id}")
            .option("txnVersion", self.epoch)
        )
        if existing is None and partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(path)


class BronzeLookup:
    """Spark's ids already loaded (`ingest.step.SeenIds`): looked up exactly in bronze for the batch's dates
    (ids, not hashes, so Spark's 32-bit `hash` only has to tell apart the few ids found), leaving out the
    batch's own rows (a replayed epoch does not find itself)."""

    def __init__(self, engine: SparkEngine, lake: Lake, bronze: str) -> None:
        self.engine, self.lake, self.bronze = engine, lake, bronze

    def loaded(self, parsed: pa.Table) -> pa.Table:
        ids = parsed.select(["event_id", "event_time"]).filter(pc.is_valid(parsed["event_id"]))
        dates = sorted({d.isoformat() for d in pc.cast(ids["event_time"], pa.date32()).to_pylist() if d})
        if not dates or not self.lake.exists(self.bronze):
            return pa.table({"h": pa.array([], pa.int32())})
        batches = pc.unique(parsed["_batch_id"]).to_pylist()
        self.engine.register("batch_ids", ids)
        self.engine.register_table(self.bronze, self.lake)
        listed_dates = ", ".join(f"DATE '{d}'" for d in dates)
        listed_batches = ", ".join("'" + b.replace("'", "''") + "'" for b in batches)
        try:
            return self.engine.query(
                f"SELECT DISTINCT hash(event_id) AS h FROM batch_ids WHERE event_id IN ("
                f"SELECT event_id FROM {self.bronze} WHERE event_date IN ({listed_dates}) "
                f"AND _batch_id NOT IN ({listed_batches}))"
            )
        finally:
            self.engine.forget(self.bronze)
            self.engine.forget("batch_ids")

    def remember(self, bronze: pa.Table) -> None:
        """Nothing to hold: the next lookup reads bronze, which holds these rows now."""


class SparkStreamIngestor:
    """`almacen stream <kind>` on Spark Structured Streaming; one per topic and lake, like the embedded one."""

    def __init__(self, settings: Settings, engine: SparkEngine | None = None, *, kind: StreamKind) -> None:
        cfg = kind.settings(settings)
        if cfg.source != "kafka":
            raise ConfigError(
                f'engine = "spark" streams {kind.name} events from Kafka: set source = "kafka" in the '
                f"kind's stream settings (the landing folder is read by the embedded ingestor)"
            )
        unknown = [f for f in kind.gold_needs if f not in CAPABILITIES]
        if unknown:
            raise KeyError(
                f"stream kind {kind.name}: {unknown[0]!r} is not an engine capability; known: {', '.join(CAPABILITIES)}"
            )
        self.settings, self.kind, self.cfg = settings, kind, cfg
        self.lake = Lake(settings.lake)
        self.engine = SparkEngine(settings.spark, session=engine.spark if engine else None)
        self.spark = self.engine.spark
        self._spill = tempfile.TemporaryDirectory(prefix=f"almacen-{kind.name}-spark-stream-")
        self.duck = DuckDBEngine(memory_limit=cfg.memory_limit, temp_directory=self._spill.name)
        """the driver's engine: parses (`STRICT_JSON`), runs the step's own SQL, and a gold Spark cannot run"""
        self.topic = cfg.kafka.topic
        self.source = f"kafka:{cfg.kafka.bootstrap_servers}/{self.topic}"
        self.lateness = timedelta(minutes=cfg.allowed_lateness_minutes)
        self.gold = kind.gold(settings, self.lake, self.gold_engine(), self.lateness)
        self.appends = EpochAppends(self.spark, self.lake)
        self.checkpoint = checkpoint_dir(settings, kind.job)
        self.totals = Totals()
        self._period = Totals()
        self._step: MicroBatch | None = None
        self._partitions: list[int] = []
        self._offsets: Consumer | None = None
        """a Kafka consumer asking the partitions' last offsets (is anything waiting for an absent partition?)"""
        self._started = threading.Event()
        self._on_batch: Callable[[Totals], None] | None = None

    def gold_engine(self) -> Engine:
        """The SparkEngine if it has every capability the kind's gold needs, else the driver's DuckDBEngine."""
        return self.engine if all(getattr(self.engine, f, False) for f in self.kind.gold_needs) else self.duck

    def start(self) -> None:
        """Gold's state (watermark per partition of the topic, open minutes or held messages) from the lake;
        the rules' inputs."""
        self._partitions = self._topic_partitions()
        self.gold.restore([self._stream(p) for p in self._partitions])
        self._step = MicroBatch(
            self.kind,
            self.settings,
            self.lake,
            self.engine,
            self.duck,
            self.gold,
            BronzeLookup(self.engine, self.lake, self.kind.bronze),
            self.appends,
        )

    # -- the query -----------------------------------------------------------------------------
    def run(
        self,
        stop: Callable[[], bool] | threading.Event | None = None,
        *,
        available_now: bool = False,
        on_batch: Callable[[Totals], None] | None = None,
    ) -> Totals:
        """Run the streaming query until `stop` (or, with `available_now`, until what the topic held at
        start is consumed); re-raises a failed batch's error after stopping the query."""
        should_stop = stop.is_set if isinstance(stop, threading.Event) else (stop or (lambda: False))
        self._on_batch = on_batch
        kafka = self.cfg.kafka
        reader = (
            self.spark.readStream.format("kafka")
            .options(**{f"kafka.{k}": v for k, v in java_client_config(kafka).items()})
            .option("subscribe", self.topic)
            .option("startingOffsets", self._starting_offsets())
            .option("maxOffsetsPerTrigger", str(self.cfg.max_batch_events))
            .option("failOnDataLoss", "true")
            .load()
        )
        writer = (
            reader.writeStream.queryName(f"almacen_stream_{self.topic.replace('.', '_').replace('-', '_')}")
            .foreachBatch(self._batch)
            .option("checkpointLocation", self.checkpoint)
        )
        writer = (
            writer.trigger(availableNow=True)
            if available_now
            else writer.trigger(processingTime=f"{int(self.cfg.trigger_seconds * 1000)} milliseconds")
        )
        self._started.clear()
        query = writer.start()
        self.appends.query_id = query.id
        self._started.set()
        try:
            while query.isActive and not should_stop():
                query.awaitTermination(0.5)
                if (
                    not available_now
                    and self._period.since + timedelta(seconds=self.cfg.report_every_seconds) < utc_now()
                ):
                    self.report()
        finally:
            if query.isActive:
                query.stop()
            self.report()
        error = query.exception()
        if error is not None:
            raise Unavailable(f"the Spark stream of {self.topic} failed: {error}")
        return self.totals

    def _topic_partitions(self) -> list[int]:
        """The topic's partitions, as the broker lists them."""
        from confluent_kafka.admin import AdminClient

        from almacen.sources.kafka import topic_metadata

        meta = topic_metadata(AdminClient(client_config(self.cfg.kafka)), self.cfg.kafka, 10.0).topics.get(self.topic)
        if meta is None or meta.error is not None:
            raise ConfigError(
                f"kafka topic {self.topic!r} (of the {self.kind.name} stream) does not exist at "
                f"{self.cfg.kafka.bootstrap_servers}; create it (almacen simulate stream --kafka does)"
            )
        return sorted(meta.partitions)

    def _starting_offsets(self) -> str:
        """Where a new checkpoint starts: just after the positions of gold's first table, else the earliest.
        (With a checkpoint, Spark ignores this and resumes from it.)"""
        offsets = {}
        for p in self._partitions or self._topic_partitions():
            last = self._gold_position(self._stream(p))
            offsets[str(p)] = -2 if last is None else last + 1  # -2: earliest
        return json.dumps({self.topic: offsets})

    def _gold_position(self, stream: str) -> int | None:
        """The last position of `stream` gold's first table holds, as the lake has it now."""
        return self.lake.transaction_version(self.gold.tables[0], app_id(stream))

    def _stream(self, partition: int) -> str:
        return f"kafka:{self.topic}:{partition}"

    # -- one micro-batch -----------------------------------------------------------------------
    def _batch(self, df, epoch_id: int) -> None:
        """The step (`ingest.step`) over one epoch: parse, judge, and commit quarantine -> bronze -> gold."""
        self._started.wait()
        if self._step is None:
            raise RuntimeError("SparkStreamIngestor.start() was not called before the first batch")
        raw = self._raw(df.selectExpr("value AS _payload", "partition", "offset").toArrow())
        if raw.num_rows == 0:
            return
        ends = {s: p for s, p in zip(*_last_per_stream(raw))}
        now = utc_now()
        self.gold.release(ends.keys(), self._drained(ends))
        parsed = parse_batch(self.kind, self.settings, self.duck, raw, self.cfg.max_payload_bytes)
        self.appends.epoch = epoch_id
        counts = self._step.run(parsed, ends, source=self.source, now=now)
        for t in (self.totals, self._period):
            t.add(counts)
        if self._on_batch:
            self._on_batch(self.totals)

    def _raw(self, kafka: pa.Table) -> pa.Table:
        """Kafka rows as the parser takes them: in offset order per partition, with the embedded
        ingestor's lineage (`kafka:<topic>:<partition>`, offset, `kafka:<topic>:<p>:<from>-<to>`).
        A tombstone's value stays null: the parser quarantines it as one."""
        kafka = kafka.sort_by([("partition", "ascending"), ("offset", "ascending")])
        parts = kafka["partition"].to_pylist()
        offsets = kafka["offset"].to_pylist()
        span: dict[int, tuple[int, int]] = {}
        for p, o in zip(parts, offsets):
            lo, hi = span.get(p, (o, o))
            span[p] = (min(lo, o), max(hi, o))
        ids = {p: f"kafka:{self.topic}:{p}:{lo}-{hi}" for p, (lo, hi) in span.items()}
        return pa.table(
            {
                "_payload": kafka["_payload"].cast(pa.binary()),
                "_stream": pa.array([self._stream(p) for p in parts], pa.string()),
                "_position": pa.array(offsets, pa.int64()),
                "_batch_id": pa.array([ids[p] for p in parts], pa.string()),
            }
        )

    def _drained(self, ends: dict[str, int]) -> set[str]:
        """Partitions that never delivered, absent from this batch, for which Kafka holds nothing past what
        gold committed (an empty partition): they stop holding the watermark back."""
        absent = self.gold.unheard() - ends.keys()
        if not absent:
            return set()
        if self._offsets is None:
            from confluent_kafka import Consumer

            self._offsets = Consumer(
                {**client_config(self.cfg.kafka), "group.id": self.cfg.kafka.group_id, "enable.auto.commit": False}
            )
        from confluent_kafka import TopicPartition

        drained = set()
        for stream in absent:
            low, high = self._offsets.get_watermark_offsets(
                TopicPartition(self.topic, int(stream.rsplit(":", 1)[1])), timeout=10.0
            )
            last = self._gold_position(stream)
            if high <= (low if last is None else last + 1):
                drained.add(stream)
        return drained

    def report(self) -> None:
        """A run record of the events since the last one (the lag is left to Spark's query progress)."""
        p, now = self._period, utc_now()
        if p.batches == 0 and p.read == 0:
            return
        record_runs(
            self.lake,
            [
                RunRecord(
                    self.kind.job, None, p.since, now, p.since, now, p.read, p.written, p.quarantined, rows_late=p.late
                )
            ],
        )
        self._period = Totals()

    def close(self) -> None:
        """Forget the rules' inputs and drop the engine's views (the Spark session is the process's and stays),
        close the offsets consumer and the driver's DuckDB."""
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        if self._step is not None:
            self._step.close()
            self._step = None
        self.engine.close()
        self.duck.close()
        self._spill.cleanup()


def _last_per_stream(raw: pa.Table) -> tuple[list[str], list[int]]:
    grouped = raw.group_by("_stream").aggregate([("_position", "max")])
    return grouped["_stream"].to_pylist(), grouped["_position_max"].to_pylist()
