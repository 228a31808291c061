"""Lateness per partition: the slowest stream decides, and late events keep every dimension.

Three partitions of a real Kafka topic, each in event-time order, 15 minutes of event time apart
(more than the 10-minute allowed lateness) and produced interleaved: reading them out of step makes
no event late, also across a restart. A real straggler (an event an hour older than its partition) is
late, and only it; a landing writer that stopped holds the watermark back until it is idle.
gold.sales_minute plus gold.sales_minute_late equal bronze at the full grain, row
by row, and both equal what the test computes from the events it produced. A late table of the old
grain (minute x branch) is moved to the full grain on start, or refused with the way to rebuild it.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from almacen.domains.sales import SALES
from almacen.ingest.stream import StreamIngestor
from almacen.domains.sales.realtime import late_minutes, rollup
from almacen.simulate.events import Event
from tests.stream.conftest import GRAIN, StreamWorld, added, minute_rows, produce_to_partitions

SKEW = timedelta(minutes=15)
"""how far apart in event time the partitions are: more than the allowed lateness (10 minutes)"""
PER_PARTITION = 1_500
OLD_GRAIN = pa.schema(
    [
        ("minute", pa.timestamp("us", tz="UTC")),
        ("branch_id", pa.string()),
        ("events", pa.int64()),
        ("amount", pa.decimal128(18, 2)),
    ]
)


def _partitions(world: StreamWorld, n: int = 3) -> list[list[Event]]:
    """`n` partitions' events, each in order over 12 minutes, partition p starting p x SKEW earlier."""
    return [
        world.maker(seed=10 + p).events(
            PER_PARTITION, world.start + (1 - p) * SKEW, world.start + (1 - p) * SKEW + timedelta(minutes=12)
        )
        for p in range(n)
    ]


def _interleaved(parts: list[list[tuple[int, Event]]]) -> list[tuple[int, str]]:
    """(partition, line) taking one event of each partition in turn."""
    out = []
    for i in range(max(len(p) for p in parts)):
        out += [(p[i][0], p[i][1].json()) for p in parts if i < len(p)]
    return out


def _bronze_minutes(world: StreamWorld) -> list[tuple]:
    """bronze.sales_events counted here at the full grain (the same shape as `minute_rows`)."""
    bronze = world.lake.read("bronze.sales_events")
    sums: dict[tuple, list] = {}
    for r in bronze.to_pylist():
        key = (r["event_time"].replace(second=0, microsecond=0), *(r[k] for k in GRAIN[1:]))
        n, units, amount = sums.get(key, (0, Decimal(0), Decimal(0)))
        sums[key] = (n + 1, units + r["quantity"], amount + r["amount"])
    return sorted(key + tuple(value) for key, value in sums.items())


def _late_ids(world: StreamWorld) -> list[str]:
    bronze = world.lake.read("bronze.sales_events")
    return sorted(bronze.filter(bronze["_late"])["event_id"].to_pylist())


def test_partitions_read_out_of_step_make_no_event_late_also_across_a_restart(kworld: StreamWorld):
    parts = _partitions(kworld)
    half = PER_PARTITION // 2
    kafka = kworld.settings.stream.kafka
    produce_to_partitions(kafka, _interleaved([[(p, e) for e in events[:half]] for p, events in enumerate(parts)]))
    first = kworld.ingest(max_batch_events=500)
    produce_to_partitions(kafka, _interleaved([[(p, e) for e in events[half:]] for p, events in enumerate(parts)]))

    second = kworld.ingest(max_batch_events=500)  # a new ingestor: each partition's latest time from the lake

    assert (first.read, first.late, second.read, second.late) == (3 * half, 0, 3 * half, 0)
    every = [e for events in parts for e in events]
    assert kworld.late() == []
    assert kworld.on_time() == minute_rows(every) == _bronze_minutes(kworld)
    assert _late_ids(kworld) == []


def test_a_straggler_is_late_and_only_it_and_keeps_every_dimension(kworld: StreamWorld):
    parts = _partitions(kworld)
    half = PER_PARTITION // 2
    kafka = kworld.settings.stream.kafka
    produce_to_partitions(kafka, _interleaved([[(p, e) for e in events[:half]] for p, events in enumerate(parts)]))
    kworld.ingest(max_batch_events=500)
    stragglers = kworld.maker(seed=3).events(9, kworld.start - timedelta(hours=1), kworld.start - timedelta(minutes=55))
    rest = [[(p, e) for e in events[half:]] for p, events in enumerate(parts)]
    for i, s in enumerate(stragglers):  # into the middle partition, among its own events
        rest[1].insert(50 + 80 * i, (1, s))

    produce_to_partitions(kafka, _interleaved(rest))
    done = kworld.ingest(max_batch_events=500)

    assert done.late == len(stragglers)
    assert _late_ids(kworld) == sorted(s.event_id for s in stragglers)
    every = [e for events in parts for e in events]
    assert kworld.late() == minute_rows(stragglers)
    assert kworld.on_time() == minute_rows(every)
    assert added(kworld.on_time(), kworld.late()) == minute_rows(every + stragglers) == _bronze_minutes(kworld)


def test_a_partition_that_gets_no_events_does_not_hold_the_watermark_back(kworld: StreamWorld):
    parts = _partitions(kworld, n=2)  # partition 2 stays empty
    kafka = kworld.settings.stream.kafka
    produce_to_partitions(kafka, _interleaved([[(p, e) for e in events] for p, events in enumerate(parts)]))
    kworld.ingest(max_batch_events=500)
    straggler = kworld.maker(seed=3).events(1, kworld.start - timedelta(hours=1), kworld.start)

    produce_to_partitions(kafka, [(0, straggler[0].json())])
    done = kworld.ingest()

    assert done.late == 1
    assert kworld.late() == minute_rows(straggler)
    assert added(kworld.on_time(), kworld.late()) == _bronze_minutes(kworld)


def _old_grain(world: StreamWorld) -> pa.Table:
    """gold.sales_minute_late as the old grain held it: events and amount per minute and branch."""
    rows = world.lake.read("gold.sales_minute_late")
    old = rows.group_by(["minute", "branch_id"]).aggregate([("events", "sum"), ("amount", "sum")])
    return old.rename_columns(OLD_GRAIN.names).cast(OLD_GRAIN)


def _with_late_events(world: StreamWorld) -> tuple[list[Event], list[Event]]:
    maker = world.maker()
    recent = maker.events(100, world.start + timedelta(minutes=20), world.start + timedelta(minutes=21))
    world.write([e.json() for e in recent])
    world.ingest()
    too_late = maker.events(40, world.start, world.start + timedelta(minutes=3))
    world.write([e.json() for e in too_late])
    world.ingest()
    return recent, too_late


def test_a_late_table_of_the_old_grain_is_moved_to_the_full_grain_on_start(world: StreamWorld):
    recent, too_late = _with_late_events(world)
    world.lake.overwrite("gold.sales_minute_late", _old_grain(world))  # a lake written before the full grain
    assert "channel" not in world.lake.read("gold.sales_minute_late").column_names

    world.ingest()

    assert world.late() == minute_rows(too_late)
    assert late_minutes(world.lake).column_names == list(GRAIN) + ["events", "units", "amount"]
    more = world.maker(seed=8).events(5, world.start, world.start + timedelta(minutes=1))
    world.write([e.json() for e in more], writer="replayer")
    assert world.ingest().late == 5
    assert world.late() == minute_rows(too_late + more)
    assert world.on_time() == minute_rows(recent)


def test_a_late_table_of_the_old_grain_that_bronze_does_not_explain_is_refused_with_the_way_to_rebuild_it(
    world: StreamWorld,
):
    _with_late_events(world)
    old = _old_grain(world)
    world.lake.overwrite(
        "gold.sales_minute_late", old.set_column(2, "events", pa.array([9] * old.num_rows, pa.int64()))
    )

    with pytest.raises(
        rollup.LateTableError,
        match=r"gold.sales_minute_late \(.*\) has the old grain .* move the folder "
        r"aside and run `almacen stream --until-idle`",
    ):
        world.ingest()


def test_a_writer_that_stopped_holds_the_watermark_back_until_it_is_idle(world: StreamWorld):
    a, b = world.maker(seed=21), world.maker(seed=22)
    first = a.events(200, world.start, world.start + timedelta(minutes=1))
    slow = b.events(200, world.start, world.start + timedelta(minutes=1))  # writer b then stops
    ahead = a.events(200, world.start + timedelta(minutes=20), world.start + timedelta(minutes=25))
    on_time, late = a.events(2, world.start + timedelta(minutes=2), world.start + timedelta(minutes=3))
    ingestor = StreamIngestor(world.settings, kind=SALES)
    ingestor.gold.idle_after = timedelta(seconds=5)
    ingestor.start()
    try:
        for lines, writer in ((first, "a"), (slow, "b"), (ahead, "a"), ([on_time], "a")):
            world.write([e.json() for e in lines], writer=writer)
            ingestor.run(until_idle=True)
        assert ingestor.totals.late == 0  # b, 20 minutes behind a, holds the watermark back
        time.sleep(5.5)  # b delivered nothing for longer than idle_after: it no longer does
        world.write([late.json()], writer="a")
        ingestor.run(until_idle=True)
    finally:
        ingestor.close()

    assert ingestor.totals.late == 1
    assert world.late() == minute_rows([late])
    assert world.on_time() == minute_rows(first + slow + ahead + [on_time])
