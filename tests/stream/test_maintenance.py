"""Small files from frequent micro-batches are compacted while ingestion goes on; data reads the same."""

from __future__ import annotations

import time
from datetime import timedelta

from almacen.ingest.maintenance import Maintenance
from tests.stream.conftest import StreamWorld, minute_rows


def _files(world: StreamWorld, table: str) -> int:
    return len(world.lake.table(table).file_uris())


def test_compaction_merges_the_small_files_of_many_micro_batches(world: StreamWorld):
    events = world.maker().events(3_000, world.start, world.start + timedelta(minutes=5))
    world.write([e.json() for e in events], file_events=100)
    world.ingest(max_batch_events=100)  # 30 batches: 30 files in bronze, rewrites in gold
    assert _files(world, "bronze.sales_events") >= 30

    maintenance = Maintenance(
        world.lake,
        every_s=0.05,
        retention_hours=0,
        append_only=("bronze.sales_events", "quarantine.sales_events"),
        rewritten=(),
    )
    maintenance.start()
    time.sleep(0.5)
    maintenance.stop()
    world.lake.compact("gold.sales_minute", retention_hours=0)

    assert _files(world, "bronze.sales_events") <= 2  # one per event_date partition
    assert _files(world, "gold.sales_minute") == 1
    assert world.lake.read("bronze.sales_events").num_rows == 3_000
    assert world.on_time() == minute_rows(events)


def test_the_ingestor_compacts_on_its_schedule_without_stopping(world: StreamWorld):
    events = world.maker().events(2_000, world.start, world.start + timedelta(minutes=5))
    world.write([e.json() for e in events], file_events=50)

    done = world.ingest(max_batch_events=50, trigger_seconds=0.05, compact_every_seconds=0.2)

    assert done.batches == 40
    assert _files(world, "gold.sales_minute") < 40
    assert world.on_time() == minute_rows(events)
    assert world.lake.read("bronze.sales_events").num_rows == 2_000
