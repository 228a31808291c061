"""A SIGKILL at every commit boundary of a batch, then a restart: every event once, in bronze or quarantine.

A batch commits quarantine -> bronze -> gold.sales_minute_late -> gold.sales_minute. The ingestor runs
as a real subprocess that kills itself (SIGKILL) just before or just after the third commit to one of
those tables (Lake.append / Lake.replace are wrapped inside the child only). It is restarted with
smaller batches, as after a change of `max_batch_events` or a poll that brought less: the batch read
again is then cut below what a table committed before the kill. After the run to the end, bronze holds
every valid event once, quarantine every bad line once, and gold equals the minutes the test computes
itself from the produced events, the late ones (stragglers 40 minutes old) apart, at the full grain.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow.compute as pc
import pytest

from almacen.config import Settings
from almacen.domains.sales import SALES
from almacen.ingest.stream import StreamIngestor
from almacen.lake import Lake
from almacen.simulate.events import Event
from tests.stream.conftest import BRANCHES, StreamWorld, added, minute_rows, produce_to_partitions

CHILD = """
import os
import signal
import sys

from almacen.config import Settings
from almacen.domains import REGISTRY
from almacen.ingest.stream import StreamIngestor
from almacen.lake import Lake


def kill_at(table: str, nth: int, when: str) -> None:
    \"\"\"SIGKILL this process just before or just after its `nth` commit to `table` (this child only).\"\"\"
    count = 0

    def wrap(write):
        def commit(self, name, *args, **kwargs):
            nonlocal count
            mine = name == table
            count += mine
            if mine and count == nth and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            write(self, name, *args, **kwargs)
            if mine and count == nth and when == "after":
                os.kill(os.getpid(), signal.SIGKILL)
        return commit
    Lake.append, Lake.replace = wrap(Lake.append), wrap(Lake.replace)


if len(sys.argv) > 3:  # settings.json kind [table nth before|after]
    kill_at(sys.argv[3], int(sys.argv[4]), sys.argv[5])
ingestor = StreamIngestor(Settings.model_validate_json(open(sys.argv[1]).read()), kind=REGISTRY.stream(sys.argv[2]))
ingestor.start()
ingestor.run(until_idle=True)
ingestor.close()
"""
TABLES = ("quarantine.sales_events", "bronze.sales_events", "gold.sales_minute_late", "gold.sales_minute")
BOUNDARIES = [(table, when) for table in TABLES for when in ("before", "after")]
BAD_KINDS = ("negative_amount", "missing_field", "unknown_branch", "malformed_json", "wrong_type")


def _config(world: StreamWorld, folder: Path, name: str, max_batch_events: int) -> Path:
    settings: Settings = world.settings.model_copy(
        update={
            "stream": world.settings.stream.model_copy(
                update={"max_batch_events": max_batch_events, "trigger_seconds": 0.3}
            )
        }
    )
    path = folder / f"{name}.json"
    path.write_text(settings.model_dump_json())
    return path


def run_child(config: Path, kind: str = "sales", *kill: str) -> subprocess.CompletedProcess:
    """The ingestor of `kind` in a subprocess, to the end, or until it kills itself at `kill` (table, nth,
    before|after)."""
    return subprocess.run([sys.executable, "-c", CHILD, str(config), kind, *kill], capture_output=True, text=True)


def _lines(world: StreamWorld) -> tuple[list[Event], list[tuple[Event, str]], list[Event], list[str]]:
    """A warm-up (the first 300 events), then the rest with a bad line every 40 and a straggler (an
    event 40 minutes older than the first) every 350: (warm-up, (event, line) of the rest, stragglers,
    bad lines). Bad lines and stragglers come with an event whose branch places them."""
    events = world.maker().events(6_000, world.start, world.start + timedelta(minutes=25))
    spoiler = world.maker(seed=99)
    sources = spoiler.events(200, world.start, world.start + timedelta(minutes=25))
    stragglers = world.maker(seed=5).events(
        16, world.start - timedelta(minutes=40), world.start - timedelta(minutes=39)
    )
    rest: list[tuple[Event, str]] = []
    bad: list[str] = []
    used: list[Event] = []
    for i, e in enumerate(events[300:]):
        if i % 40 == 39:
            source = sources[len(bad)]
            bad.append(spoiler.bad_line(BAD_KINDS[len(bad) % len(BAD_KINDS)], source))
            rest.append((source, bad[-1]))
        if i % 350 == 349:
            used.append(stragglers[len(used)])
            rest.append((used[-1], used[-1].json()))
        rest.append((e, e.json()))
    return events[:300], rest, used, bad


def _check(world: StreamWorld, valid: list[Event], stragglers: list[Event], bad: list[str]) -> None:
    bronze = world.lake.read("bronze.sales_events")
    assert sorted(bronze["event_id"].to_pylist()) == sorted(e.event_id for e in valid)  # each valid event once
    quarantine = world.lake.read("quarantine.sales_events")
    assert sorted(quarantine["_raw"].to_pylist()) == sorted(bad)  # each bad line once
    late_ids = {e.event_id for e in stragglers}
    assert sorted(bronze.filter(bronze["_late"])["event_id"].to_pylist()) == sorted(late_ids)
    assert world.late() == minute_rows(stragglers)
    assert world.on_time() == minute_rows(e for e in valid if e.event_id not in late_ids)
    assert added(world.on_time(), world.late()) == minute_rows(valid)
    for stream in pc.unique(bronze["_stream"]).to_pylist():  # every table holds the last position it wrote
        last = pc.max(bronze.filter(pc.equal(bronze["_stream"], stream))["_position"]).as_py()
        for table in ("bronze.sales_events", "gold.sales_minute"):
            assert world.lake.transaction_version(table, f"almacen-stream:{stream}") == last, (table, stream)
        mine = quarantine.filter(pc.equal(quarantine["_stream"], stream))
        if mine.num_rows:
            held = world.lake.transaction_version("quarantine.sales_events", f"almacen-stream:{stream}")
            assert held >= pc.max(mine["_position"]).as_py(), stream


def _kill_and_restart(world: StreamWorld, tmp_path: Path, table: str, when: str) -> None:
    big, small = _config(world, tmp_path, "big", 1_000), _config(world, tmp_path, "small", 250)
    killed = run_child(big, "sales", table, "3", when)
    assert killed.returncode == -signal.SIGKILL, (
        f"the kill {when} commit 3 of {table} was not reached: {killed.returncode} {killed.stderr[-2000:]}"
    )
    final = run_child(small)
    assert final.returncode == 0, final.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize(("table", "when"), BOUNDARIES, ids=[f"{w}-{t}" for t, w in BOUNDARIES])
def test_a_kill_at_any_commit_boundary_of_a_landing_batch_loses_nothing_and_writes_nothing_twice(
    world: StreamWorld, tmp_path: Path, table: str, when: str
):
    warm, rest, stragglers, bad = _lines(world)
    world.write([e.json() for e in warm])
    world.ingest()
    world.write([line for _, line in rest], file_events=250)

    _kill_and_restart(world, tmp_path, table, when)

    valid = warm + [e for e, line in rest if line == e.json()]
    _check(world, valid, stragglers, bad)


@pytest.mark.slow
@pytest.mark.parametrize(("table", "when"), BOUNDARIES, ids=[f"{w}-{t}" for t, w in BOUNDARIES])
def test_a_kill_at_any_commit_boundary_of_a_kafka_batch_loses_nothing_and_writes_nothing_twice(
    kworld: StreamWorld, tmp_path: Path, table: str, when: str
):
    kafka = kworld.settings.stream.kafka
    warm, rest, stragglers, bad = _lines(kworld)
    produce_to_partitions(kafka, [(BRANCHES.index(e.branch_id), e.json()) for e in warm])
    kworld.ingest()  # every partition delivered: the watermark stands
    produce_to_partitions(kafka, [(BRANCHES.index(e.branch_id), line) for e, line in rest])

    _kill_and_restart(kworld, tmp_path, table, when)

    valid = warm + [e for e, line in rest if line == e.json()]
    _check(kworld, valid, stragglers, bad)


def test_a_message_quarantined_before_a_crash_stays_only_in_quarantine_when_it_passes_on_the_second_read(
    world: StreamWorld, monkeypatch: pytest.MonkeyPatch
):
    """Killed between the quarantine and the bronze commits, the batch is judged again on restart; an event
    that was in the future then passes now (the tolerance grew here; the clock moves on in life). It was
    quarantined already: it must not land in bronze too."""
    valid = world.maker().events(5, world.start, world.start + timedelta(minutes=1))
    ahead = replace(valid[0], event_id="ahead-1", event_time=datetime.now(timezone.utc) + timedelta(minutes=30))
    world.write([e.json() for e in valid] + [ahead.json()])

    first = StreamIngestor(world.settings.model_copy(update={"future_tolerance_minutes": 5}), kind=SALES)
    first.start()
    real_append = Lake.append

    def crash_at_bronze(lake: Lake, table: str, *args, **kwargs):
        if table == first.kind.bronze:
            raise KeyboardInterrupt("killed between the quarantine and the bronze commits")
        return real_append(lake, table, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(Lake, "append", crash_at_bronze)
        with pytest.raises(KeyboardInterrupt):
            first.run(until_idle=True)
    first.close()
    assert [r["event_id"] for r in world.lake.read("quarantine.sales_events").to_pylist()] == ["ahead-1"]
    assert world.lake.table("bronze.sales_events") is None

    again = StreamIngestor(world.settings.model_copy(update={"future_tolerance_minutes": 60}), kind=SALES)
    again.start()
    try:
        again.run(until_idle=True)
    finally:
        again.close()

    assert [r["event_id"] for r in world.lake.read("quarantine.sales_events").to_pylist()] == ["ahead-1"]
    assert sorted(world.lake.read("bronze.sales_events")["event_id"].to_pylist()) == sorted(e.event_id for e in valid)
    assert world.on_time() == minute_rows(valid)
