"""SIGKILL of the ingestor at any moment, then a restart: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from tests.stream.conftest import StreamWorld, minute_rows

INGEST = """
import sys
from almacen.config import Settings
from almacen.domains.sales import SALES
from almacen.ingest.stream import StreamIngestor
settings = Settings.model_validate_json(open(sys.argv[1]).read())
ingestor = StreamIngestor(settings, kind=SALES)
ingestor.start()
ingestor.run(until_idle=True)
ingestor.close()
"""


def _start(config: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", INGEST, str(config)], stderr=subprocess.PIPE)


def _bronze_versions(world: StreamWorld) -> int:
    log = Path(world.settings.lake) / "bronze" / "sales_events" / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


def test_killing_the_ingestor_at_any_moment_loses_nothing_and_duplicates_nothing(world: StreamWorld, tmp_path: Path):
    events = world.maker().events(30_000, world.start, world.start + timedelta(minutes=25))
    bad = [
        world.maker(seed=99).bad_line("negative_amount", e)
        for e in world.maker(seed=99).events(300, world.start, world.start + timedelta(minutes=25))
    ]
    lines = [e.json() for e in events]
    for i, line in enumerate(bad):  # spread the bad ones through the files
        lines.insert(i * 100, line)
    world.write(lines, file_events=500)
    settings = world.settings.model_copy(
        update={"stream": world.settings.stream.model_copy(update={"max_batch_events": 1_000, "trigger_seconds": 0.05})}
    )
    config = tmp_path / "settings.json"
    config.write_text(settings.model_dump_json())

    kills = 0
    for delay in (0.0, 0.7, 1.3, 0.2, 2.0, 0.9):  # after start-up, at varied points inside batches
        proc = _start(config)
        before = _bronze_versions(world)
        while _bronze_versions(world) == before and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(delay / 10)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    final = _start(config)
    assert final.wait() == 0, final.stderr.read().decode()[-2000:]

    assert kills >= 3
    bronze = world.lake.read("bronze.sales_events")
    assert bronze.num_rows == len(events)
    assert len(set(bronze["event_id"].to_pylist())) == len(events)
    assert world.lake.read("quarantine.sales_events").num_rows == len(bad)
    assert world.on_time() == minute_rows(events)
    assert world.late() == []


def test_gold_left_behind_by_a_crash_after_the_bronze_commit_is_completed_from_bronze(world: StreamWorld, monkeypatch):
    from almacen.domains.sales.realtime.rollup import MinuteRollup

    maker = world.maker()
    first = maker.events(1_000, world.start, world.start + timedelta(minutes=20))
    world.write([e.json() for e in first])
    world.ingest()
    recent = maker.events(1_000, world.start + timedelta(minutes=21), world.start + timedelta(minutes=22))
    late = maker.events(4, world.start, world.start + timedelta(seconds=5))
    world.write([e.json() for e in recent + late])

    def crash(_rollup, rows, *_args, **_kwargs):
        if rows.num_rows:
            raise KeyboardInterrupt("killed between the bronze and the gold commits")

    with monkeypatch.context() as m:
        m.setattr(MinuteRollup, "apply_minutes", crash)
        m.setattr(MinuteRollup, "apply_late", crash)
        try:
            world.ingest()
        except KeyboardInterrupt:
            pass
    assert world.lake.read("bronze.sales_events").num_rows == 2_004
    assert world.on_time() == minute_rows(first)

    done = world.ingest()

    assert done.read == 0
    assert world.on_time() == minute_rows(first + recent)
    assert world.late() == minute_rows(late)
