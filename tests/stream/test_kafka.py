"""The stream from a real Apache Kafka broker: gold row by row, positions in the lake, lag, crashes, broker restarts."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest

from almacen.config import KafkaSettings
from almacen.domains.sales import SALES
from almacen.ingest.stream import StreamIngestor
from almacen.sources.kafka import BrokerUnavailable, KafkaSink, KafkaSource
from tests.stream.conftest import StreamWorld, minute_rows, spoiled
from tests.stream.test_crash import INGEST

ROOT = Path(__file__).resolve().parents[2]


def produce(world: StreamWorld, lines: list[tuple[str, str]]) -> None:
    sink = KafkaSink(world.settings.stream.kafka)
    sink.write(lines)
    sink.close()


def test_every_event_from_kafka_lands_once_with_its_partition_offsets_in_the_lake(kworld: StreamWorld):
    maker = kworld.maker()
    # partitions are read in any order: the events span less than the allowed lateness, so none is late
    events = maker.events(9_000, kworld.start, kworld.start + timedelta(minutes=8))
    produce(kworld, [(e.branch_id, e.json()) for e in events])

    done = kworld.ingest(max_batch_events=2_000)

    assert (done.read, done.written, done.quarantined, done.late) == (9_000, 9_000, 0, 0)
    assert kworld.on_time() == minute_rows(events)
    assert kworld.late() == []
    bronze = kworld.lake.read("bronze.sales_events")
    topic = kworld.settings.stream.kafka.topic
    for p in range(3):
        rows = bronze.filter(pc.equal(bronze["_stream"], f"kafka:{topic}:{p}"))
        last_offset = rows.num_rows - 1 if rows.num_rows else None  # keyed by branch: a partition may get none
        assert (
            kworld.lake.transaction_version("bronze.sales_events", f"almacen-stream:kafka:{topic}:{p}") == last_offset
        )
    assert bronze["_batch_id"][0].as_py().startswith(f"kafka:{topic}:")


def test_bad_events_from_kafka_are_quarantined_and_counted(kworld: StreamWorld):
    maker = kworld.maker()
    lines, valid = spoiled(maker, maker.events(4_000, kworld.start, kworld.start + timedelta(minutes=5)), every=50)

    produce(kworld, lines)
    done = kworld.ingest()

    quarantined = kworld.lake.read("quarantine.sales_events")
    assert done.read == len(lines) == 4_010  # 80 spoiled, 10 of them sent twice
    assert (done.written, done.quarantined) == (len(valid), len(lines) - len(valid)) == (3_930, 80)
    assert done.quarantined == quarantined.num_rows
    assert sorted(kworld.lake.read("bronze.sales_events")["event_id"].to_pylist()) == sorted(e.event_id for e in valid)
    assert kworld.on_time() == minute_rows(valid)


def test_the_lag_behind_the_broker_is_in_the_run_records(kworld: StreamWorld):
    produce(
        kworld,
        [
            (e.branch_id, e.json())
            for e in kworld.maker().events(5_000, kworld.start, kworld.start + timedelta(minutes=1))
        ],
    )
    settings = kworld.settings.model_copy(
        update={"stream": kworld.settings.stream.model_copy(update={"max_batch_events": 1_000})}
    )
    ingestor = StreamIngestor(settings, kind=SALES)
    ingestor.start()
    try:
        while ingestor.run_once() == 0:  # the first fetch may take longer than one trigger
            pass
        ingestor.report()
    finally:
        ingestor.close()

    run = kworld.lake.read("_system.runs").to_pylist()[-1]
    assert (run["job"], run["rows_read"], run["lag"]) == ("stream", 1_000, 4_000)


def test_a_broker_that_does_not_answer_at_start_is_named_and_retried(caplog):
    source = KafkaSource(KafkaSettings(bootstrap_servers="127.0.0.1:1", topic="x"), connect_timeout=1, attempts=2)
    with caplog.at_level(logging.ERROR), pytest.raises(BrokerUnavailable, match=r"Kafka at 127.0.0.1:1 did not answer"):
        source.open(lambda _: None)
    assert "retrying in 1 s" in caplog.text


def test_killing_the_ingestor_mid_stream_loses_nothing_and_duplicates_nothing(kworld: StreamWorld, tmp_path: Path):
    events = kworld.maker().events(40_000, kworld.start, kworld.start + timedelta(minutes=8))
    produce(kworld, [(e.branch_id, e.json()) for e in events])
    settings = kworld.settings.model_copy(
        update={"stream": kworld.settings.stream.model_copy(update={"max_batch_events": 2_000, "trigger_seconds": 0.1})}
    )
    config = tmp_path / "settings.json"
    config.write_text(settings.model_dump_json())
    log = Path(settings.lake) / "bronze" / "sales_events" / "_delta_log"

    for delay in (0.05, 0.5, 0.15):
        proc = subprocess.Popen([sys.executable, "-c", INGEST, str(config)], stderr=subprocess.DEVNULL)
        before = len(list(log.glob("*.json"))) if log.exists() else 0
        while (len(list(log.glob("*.json"))) if log.exists() else 0) == before and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    final = subprocess.run([sys.executable, "-c", INGEST, str(config)], capture_output=True)
    assert final.returncode == 0, final.stderr.decode()[-2000:]

    bronze = kworld.lake.read("bronze.sales_events")
    assert bronze.num_rows == len(set(bronze["event_id"].to_pylist())) == len(events)
    assert kworld.on_time() == minute_rows(events)
    assert kworld.late() == []


def test_a_broker_restart_mid_stream_loses_nothing(kworld: StreamWorld):
    maker = kworld.maker()
    first = maker.events(3_000, kworld.start, kworld.start + timedelta(minutes=4))
    second = maker.events(3_000, kworld.start + timedelta(minutes=4), kworld.start + timedelta(minutes=8))
    produce(kworld, [(e.branch_id, e.json()) for e in first])
    ingestor = StreamIngestor(kworld.settings, kind=SALES)
    ingestor.start()
    stop = threading.Event()
    worker = threading.Thread(target=ingestor.run, args=(stop,))
    worker.start()
    try:
        _wait_for(lambda: ingestor.totals.written == 3_000)
        restart = subprocess.run([str(ROOT / "scripts" / "services"), "kafka-restart"], capture_output=True, text=True)
        assert restart.returncode == 0, restart.stderr
        produce(kworld, [(e.branch_id, e.json()) for e in second])
        _wait_for(lambda: ingestor.totals.written == 6_000)
    finally:
        stop.set()
        worker.join()
        ingestor.close()

    assert kworld.lake.read("bronze.sales_events").num_rows == 6_000
    assert kworld.on_time() == minute_rows(first + second)


def _wait_for(condition, seconds: float = 120.0) -> None:
    """Poll a condition (a guard against hanging, not a performance limit)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the ingestor did not catch up"
        time.sleep(0.1)
