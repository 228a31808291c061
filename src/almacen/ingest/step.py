"""The micro-batch step of every stream: parse → judge → quarantine → bronze → gold, written once.

Both ingestors run it on each batch: the embedded loop (`ingest.stream`) and Spark Structured
Streaming's `foreachBatch` (`ingest.spark_stream`), for every stream kind (`ingest.kinds`). Where
they differ is handed to the step as two small strategies, never as a second copy of the sequence:

- `SeenIds`: which of the batch's ids are already loaded (the `NotSeen` rule's input). The embedded
  loop holds the hashes of the recent ones in DuckDB and looks older ones up in bronze; Spark looks
  every one up exactly in bronze.
- `Appends`: how quarantine and bronze are appended exactly once. The embedded loop commits, with the
  rows, each stream's last position as Delta transaction ids (delta-rs) and keeps only rows past the
  positions a table holds; Spark appends with delta-spark's `txnAppId` / `txnVersion` (the query and
  the epoch), so Delta skips a replayed epoch, and holds no positions.

The order and the guarantees are the step's: each table commits with the positions it includes
(`realtime.positions`), quarantine before bronze before gold, and a message quarantined before a crash
that passes when judged again stays in quarantine only (`not_quarantined_before`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from almacen.clock import utc_now
from almacen.config import Settings
from almacen.engine import Engine
from almacen.ingest.kinds import StreamGold, StreamKind
from almacen.ingest.payloads import parse_events
from almacen.lake import Lake
from almacen.quality import Gate, NotSeen
from almacen.realtime.positions import beyond
from almacen.sql import load_sql

_TS = pa.timestamp("us", tz="UTC")
WORK = ["_untyped", "_parse_error", "_raw"]
"""columns of the parse step that bronze does not keep"""
ID = "event_id"
"""the column every stream kind identifies its events by (what `SeenIds` looks up)"""


@dataclass
class Totals:
    """What an ingestor did since it started (and since its last run record)."""

    batches: int = 0
    read: int = 0
    written: int = 0
    quarantined: int = 0
    late: int = 0
    lag: int | None = None
    last_batch_s: float = 0.0
    since: datetime = field(default_factory=utc_now)

    def add(self, counts: Counts) -> None:
        """Count one batch's `counts` in."""
        self.batches += 1
        self.read += counts.read
        self.written += counts.written
        self.quarantined += counts.quarantined
        self.late += counts.late


@dataclass(frozen=True)
class Counts:
    """What one step did: events read (one per message), written to bronze, quarantined, late."""

    read: int
    written: int
    quarantined: int
    late: int


class SeenIds(Protocol):
    """Which ids of a batch were already loaded, for the `NotSeen` rule (a strategy of the ingestor)."""

    def loaded(self, parsed: pa.Table) -> pa.Table:
        """`h`: the engine's `hash(event_id)` of this batch's ids that bronze already holds from other
        batches (it may hold more hashes; only the batch's are looked for)."""

    def remember(self, bronze: pa.Table) -> None:
        """The batch's bronze rows were committed: their ids are loaded from now on."""


class Appends(Protocol):
    """How the step appends to quarantine and bronze exactly once (a strategy of the ingestor).

    Guarantee: a batch appended again (after a crash, a replayed epoch) adds nothing the table holds;
    on failure nothing of that append is committed and the error goes on (the batch is read again)."""

    def held(self, table: str, streams: Iterable[str]) -> dict[str, int | None]:
        """The last position of each of `streams` that `table` holds (None: none, or none kept)."""

    def append(self, table: str, rows: pa.Table, ends: dict[str, int], partition_by: list[str] | None = None) -> None:
        """Append `rows`, which reach `ends` (stream -> last position), in one commit."""


def parse_batch(
    kind: StreamKind, settings: Settings, engine: Engine, raw: pa.Table, max_payload_bytes: int
) -> pa.Table:
    """Typed events from a batch of raw payloads (`_payload`, `_stream`, `_position`, `_batch_id`): the
    kind's parse SQL on `engine` (a DuckDBEngine: `STRICT_JSON`), then the kind's `prepare`."""
    return kind.prepare(settings, parse_events(engine, raw, kind.parse, max_payload_bytes))


class MicroBatch:
    """The step of one ingestor: the kind's rules (a `quality.Gate` holding the kind's inputs), its gold,
    and the ingestor's strategies. `close` forgets the inputs.

    Args:
        engine: judges the batches (the gate's engine: DuckDB, or Spark under foreachBatch).
        local: runs the step's own SQL (`quarantined_before.sql`): a DuckDBEngine.

    Raises:
        ValueError: the kind has a `NotSeen` rule on another column than `event_id` (what `SeenIds` looks up).
    """

    def __init__(
        self,
        kind: StreamKind,
        settings: Settings,
        lake: Lake,
        engine: Engine,
        local: Engine,
        gold: StreamGold,
        seen: SeenIds,
        appends: Appends,
    ) -> None:
        self.kind, self.lake, self.local, self.gold, self.seen, self.appends = kind, lake, local, gold, seen, appends
        rules = kind.rules(settings)
        unlike = [r.column for r in rules if isinstance(r, NotSeen) and r.column != ID]
        if unlike:
            raise ValueError(f"stream kind {kind.name}: NotSeen({unlike[0]!r}): the stream step looks up {ID} only")
        self._seen = sorted({r.input.name for r in rules if isinstance(r, NotSeen)})
        self.gate = Gate(engine, rules, kind.inputs(settings, lake), name="batch_events")

    def run(self, parsed: pa.Table, ends: dict[str, int], *, source: str, now: datetime) -> Counts:
        """Judge a parsed batch reaching `ends`, then commit quarantine -> bronze -> gold, each with only the
        rows past its own positions and the higher of its positions and the batch's."""
        loaded = self.seen.loaded(parsed) if self._seen else None
        judged = self.gate.split(parsed, now=now, inputs={name: loaded for name in self._seen})
        passed = self.not_quarantined_before(judged.passed, judged.quarantined, ends).drop_columns(WORK)
        bad = quarantine_rows(beyond(judged.quarantined, self.appends.held(self.kind.quarantine, ends)), source, now)
        if bad.num_rows:
            self.appends.append(self.kind.quarantine, bad, ends)
        passed = beyond(passed, self.appends.held(self.kind.bronze, ends))
        late = self.gold.is_late(passed["event_time"])
        passed = bronze_rows(passed, late, source, now)
        self.appends.append(self.kind.bronze, passed, ends, partition_by=["event_date"])
        self.seen.remember(passed)
        self.gold.apply(passed, late, ends)
        return Counts(parsed.num_rows, passed.num_rows, bad.num_rows, pc.sum(late).as_py() or 0)

    def not_quarantined_before(self, passed: pa.Table, failed: pa.Table, ends: dict[str, int]) -> pa.Table:
        """`passed` without the events a run before a crash already quarantined.

        After a crash between the quarantine and the bronze commits, the messages between bronze's and
        quarantine's positions are judged again, and some may pass now (an event that was in the future
        then). Quarantine already holds them: per (stream, position, payload), as many passing rows are
        left out as quarantine holds beyond what this batch quarantines again, so each message ends in
        bronze or in quarantine, never both. Only read when quarantine is ahead of bronze (never under
        Spark, whose appends keep no positions: a replayed epoch is skipped whole)."""
        held, loaded = self.appends.held(self.kind.quarantine, ends), self.appends.held(self.kind.bronze, ends)
        gap: dict[
            str, tuple[int, int]
        ] = {}  # stream -> (bronze's position or -1, quarantine's), where quarantine is ahead
        for s, q in held.items():
            if q is None:
                continue
            at = loaded[s]
            if at is None or q > at:
                gap[s] = (-1 if at is None else at, q)
        data = self.lake.dataset(self.kind.quarantine) if gap and passed.num_rows else None
        if data is None:
            return passed
        inside = None
        for s, (low, high) in gap.items():
            c = (pads.field("_stream") == s) & (pads.field("_position") > low) & (pads.field("_position") <= high)
            inside = c if inside is None else inside | c
        keys = ["_stream", "_position", "_raw"]
        self.local.register("gap_before", data.to_table(columns=keys, filter=inside))
        self.local.register("gap_again", failed.select(keys))
        self.local.register("gap_passed", passed.append_column("_row", pa.array(range(passed.num_rows), pa.int64())))
        try:
            kept = self.local.query(load_sql("almacen.ingest", "quarantined_before.sql"))
        finally:
            for name in ("gap_before", "gap_again", "gap_passed"):
                self.local.forget(name)
        return passed.take(kept["_row"])

    def close(self) -> None:
        self.gate.close()


def bronze_rows(passed: pa.Table, late: pa.Array, source: str, now: datetime) -> pa.Table:
    """Accepted events as the kind's bronze table holds them: `event_date`, `_late` and lineage added."""
    n = passed.num_rows
    return (
        passed.append_column("event_date", pc.cast(passed["event_time"], pa.date32()))
        .append_column("_late", late)
        .append_column("_source", pa.repeat(pa.scalar(source), n))
        .append_column("_ingested_at", pa.repeat(pa.scalar(now, _TS), n))
    )


def quarantine_rows(failed: pa.Table, source: str, now: datetime) -> pa.Table:
    """Rows the gate refused as the kind's quarantine table holds them (parse helpers dropped, lineage added)."""
    bad = failed.drop_columns(["_untyped", "_parse_error"])
    return bad.append_column("_source", pa.repeat(pa.scalar(source), bad.num_rows)).append_column(
        "_quarantined_at", pa.repeat(pa.scalar(now, _TS), bad.num_rows)
    )
