"""The stream from a landing folder: gold row by row against the events, restarts, late events, duplicates."""

from __future__ import annotations

from datetime import timedelta

from tests.stream.conftest import StreamWorld, minute_rows


def test_every_event_lands_once_and_gold_sums_match_the_events(world: StreamWorld):
    events = world.maker().events(12_000, world.start, world.start + timedelta(minutes=20))
    world.write([e.json() for e in events])

    done = world.ingest(max_batch_events=2_500)

    assert (done.read, done.written, done.quarantined, done.late) == (12_000, 12_000, 0, 0)
    assert world.lake.read("bronze.sales_events").num_rows == 12_000
    assert world.on_time() == minute_rows(events)
    assert world.late() == []
    assert [p.name for p in world.landing.iterdir()] == [".sim.seq"]  # committed files are let go


def test_gold_holds_one_row_per_minute_branch_channel_payment_and_status(world: StreamWorld):
    events = world.maker().events(3_000, world.start, world.start + timedelta(minutes=5))
    world.write([e.json() for e in events])
    world.ingest(max_batch_events=700)

    assert world.on_time() == minute_rows(events)  # one row per key, each with the events' exact sums


def test_a_restart_reads_nothing_twice(world: StreamWorld):
    events = world.maker().events(2_000, world.start, world.start + timedelta(minutes=2))
    world.write([e.json() for e in events[:1_000]])
    world.ingest()
    world.write([e.json() for e in events[1_000:]])

    again = world.ingest()

    assert again.read == 1_000
    assert world.lake.read("bronze.sales_events").num_rows == 2_000
    assert world.on_time() == minute_rows(events)


def test_positions_are_committed_with_the_rows_as_delta_transactions(world: StreamWorld):
    world.write(
        [e.json() for e in world.maker().events(2_500, world.start, world.start + timedelta(minutes=1))],
        file_events=1_000,
    )
    world.ingest()

    for table in ("bronze.sales_events", "gold.sales_minute"):
        assert world.lake.transaction_version(table, "almacen-stream:file:sim") == 3  # the third file


def test_an_event_within_the_allowed_lateness_updates_its_minute(world: StreamWorld):
    maker = world.maker()
    now_ish = maker.events(100, world.start + timedelta(minutes=20), world.start + timedelta(minutes=21))
    world.write([e.json() for e in now_ish])
    world.ingest()
    slightly_late = maker.events(10, world.start + timedelta(minutes=12), world.start + timedelta(minutes=13))
    world.write([e.json() for e in slightly_late])

    done = world.ingest()

    assert done.late == 0
    assert world.on_time() == minute_rows(now_ish + slightly_late)
    assert world.lake.read("gold.sales_minute_late").num_rows == 0


def test_events_later_than_the_allowed_lateness_are_kept_in_bronze_and_counted_apart(world: StreamWorld):
    maker = world.maker()
    recent = maker.events(100, world.start + timedelta(minutes=20), world.start + timedelta(minutes=21))
    world.write([e.json() for e in recent])
    world.ingest()
    too_late = maker.events(7, world.start, world.start + timedelta(seconds=30))
    world.write([e.json() for e in too_late])

    done = world.ingest()

    assert done.late == 7
    assert world.on_time() == minute_rows(recent)
    assert world.late() == minute_rows(too_late)  # every dimension kept, not only minute and branch
    assert world.lake.read("bronze.sales_events").num_rows == 107
    runs = world.lake.read("_system.runs").to_pylist()
    assert sum(r["rows_late"] for r in runs) == 7


def test_the_same_event_in_two_batches_is_counted_once(world: StreamWorld):
    events = world.maker().events(50, world.start, world.start + timedelta(minutes=1))
    world.write([e.json() for e in events])
    world.ingest()
    world.write([events[3].json(), events[3].json(), events[40].json()], writer="replayer")

    done = world.ingest()

    assert (done.written, done.quarantined) == (0, 3)
    assert world.on_time() == minute_rows(events)
    reasons = sorted(world.lake.read("quarantine.sales_events")["_reason"].to_pylist())
    assert reasons == sorted(
        [
            f"duplicate key (event_id) = ({events[3].event_id})",
            f"event_id = {events[3].event_id} was already loaded (a duplicate)",
            f"event_id = {events[40].event_id} was already loaded (a duplicate)",
        ]
    )


def test_a_late_duplicate_is_found_in_bronze(world: StreamWorld):
    maker = world.maker()
    old = maker.events(5, world.start, world.start + timedelta(seconds=10))
    world.write([e.json() for e in old])
    world.ingest()
    later = maker.events(50, world.start + timedelta(minutes=25), world.start + timedelta(minutes=26))
    world.write([e.json() for e in later])
    world.ingest()
    world.write([old[0].json()], writer="replayer")

    done = world.ingest()

    assert (done.written, done.quarantined) == (0, 1)
    assert world.lake.read("quarantine.sales_events")["_rule"].to_pylist() == ["not_seen:event_id"]
    assert world.on_time() == minute_rows(old + later)
    assert world.late() == []
