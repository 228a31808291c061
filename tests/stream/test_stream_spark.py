"""The stream on Spark Structured Streaming gives exactly what the embedded ingestor gives, once.

The same simulated events (bad ones, duplicates, events within and beyond the allowed lateness, a
payload that is not UTF-8) go to a fresh Kafka topic; the embedded ingestor consumes it into lake A,
the Spark ingestor (availableNow) into lake B, in two rounds. Gold, late minutes, quarantine and
bronze must agree row by row, and gold (on time and late, at the full grain) must equal the minutes
the test computes itself from the valid events it produced. Then a replayed Spark epoch (its commit
removed from the checkpoint, as after a crash) and a run with nothing new add nothing.
"""

from __future__ import annotations

import dataclasses

import uuid
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka import Producer

from almacen.config import KafkaSettings, Settings
from almacen.domains.sales import SALES
from almacen.ingest.spark_stream import checkpoint_dir
from almacen.ingest.stream import Totals
from almacen.lake import Lake
from almacen.sources.kafka import KafkaSink, ensure_topic
from tests.conftest import spark_until_idle
from tests.stream.conftest import GRAIN, StreamWorld, added, gold_rows, minute_rows, spoiled

pytestmark = [pytest.mark.spark, pytest.mark.slow]
DUPLICATE_RULES = {"unique:event_id": "duplicate", "not_seen:event_id": "duplicate"}


def _settings(world: StreamWorld, lake: Path, kafka: KafkaSettings, spark_settings) -> Settings:
    stream = world.settings.stream.model_copy(update={"source": "kafka", "kafka": kafka, "max_batch_events": 1_500})
    return world.settings.model_copy(update={"lake": str(lake), "stream": stream, "spark": spark_settings})


def _produce(kafka: KafkaSettings, lines: list[tuple[str, str]], raw: list[tuple[str, bytes]] = ()) -> None:
    sink = KafkaSink(kafka)
    sink.write(lines)
    sink.close()
    if raw:
        producer = Producer({"bootstrap.servers": kafka.bootstrap_servers})
        for key, value in raw:
            producer.produce(kafka.topic, value, key.encode())
        assert producer.flush(30) == 0


def _embedded(world: StreamWorld, settings: Settings) -> Totals:
    return dataclasses.replace(world, settings=settings).ingest()


def _sorted(table: pa.Table, keys: list[str]) -> list[dict]:
    return table.sort_by([(k, "ascending") for k in keys]).to_pylist()


def _quarantined(lake: Lake) -> list[tuple]:
    rows = lake.read("quarantine.sales_events")
    return sorted(
        (
            DUPLICATE_RULES.get(r["_rule"], r["_rule"]),
            r["_reason"] if r["_rule"] not in DUPLICATE_RULES else None,
            r["_raw"],
        )
        for r in rows.to_pylist()
    )


def _state(lake: Lake) -> dict:
    bronze = lake.read("bronze.sales_events")
    return {
        "minute": _sorted(lake.read("gold.sales_minute"), ["minute", "branch_id", "channel", "payment_type", "status"]),
        "late": _sorted(lake.read("gold.sales_minute_late"), list(GRAIN)),
        "quarantine": _quarantined(lake),
        "bronze": sorted(
            (r["event_id"], r["_late"], r["_stream"], r["_position"], r["amount"])
            for r in bronze.select(["event_id", "_late", "_stream", "_position", "amount"]).to_pylist()
        ),
    }


def test_spark_structured_streaming_matches_the_embedded_ingestor_row_by_row_and_only_once(
    world: StreamWorld, kafka_bootstrap: str, spark_settings, spark_engine, tmp_path: Path
):
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic=f"t.spark.{uuid.uuid4().hex[:10]}")
    ensure_topic(kafka, partitions=3)
    a = _settings(world, tmp_path / "lake_a", kafka, spark_settings)
    b = _settings(world, tmp_path / "lake_b", kafka, spark_settings)
    maker, start = world.maker(), world.start

    # round 1: 8 minutes of events (none late, whatever the batches), every kind of bad event, duplicates
    first, valid = spoiled(
        maker, maker.events(3_000, start + timedelta(minutes=20), start + timedelta(minutes=28)), every=33
    )
    _produce(kafka, first, raw=[("palermo", b'{"event_id": "\xff\xfe"}')])
    done_a, done_b = _embedded(world, a), spark_until_idle(b, spark_engine, SALES)
    assert (done_b.read, done_b.written, done_b.quarantined, done_b.late) == (
        done_a.read,
        done_a.written,
        done_a.quarantined,
        done_a.late,
    )
    assert done_a.read == len(first) + 1 and done_a.quarantined > 0

    # round 2: replays of loaded events, events within the lateness, events beyond it, new events
    replayed = [line for _, line in first[:40] if '"event_id"' in line][:5]
    slightly_late = maker.events(10, start + timedelta(minutes=22), start + timedelta(minutes=23))
    too_late = maker.events(7, start, start + timedelta(seconds=30))
    new, valid_new = spoiled(
        maker, maker.events(500, start + timedelta(minutes=28), start + timedelta(minutes=30)), every=33
    )
    _produce(
        kafka,
        [("palermo", line) for line in replayed] + [(e.branch_id, e.json()) for e in slightly_late + too_late] + new,
    )
    again_a, again_b = _embedded(world, a), spark_until_idle(b, spark_engine, SALES)
    assert (again_b.read, again_b.written, again_b.quarantined, again_b.late) == (
        again_a.read,
        again_a.written,
        again_a.quarantined,
        again_a.late,
    )
    assert again_a.late == 7

    lake_a, lake_b = Lake(a.lake), Lake(b.lake)
    state_a, state_b = _state(lake_a), _state(lake_b)
    assert state_b["minute"] == state_a["minute"]
    assert state_b["late"] == state_a["late"]
    assert state_b["quarantine"] == state_a["quarantine"]
    assert state_b["bronze"] == state_a["bronze"]
    assert sum(r["events"] for r in state_b["late"]) == 7
    for lake in (lake_a, lake_b):  # gold against the produced events, at the full grain, exact decimals
        assert gold_rows(lake, "gold.sales_minute_late") == minute_rows(too_late)
        assert gold_rows(lake, "gold.sales_minute") == minute_rows(valid + slightly_late + valid_new)
        assert added(gold_rows(lake, "gold.sales_minute"), gold_rows(lake, "gold.sales_minute_late")) == minute_rows(
            valid + slightly_late + too_late + valid_new
        )
    rules = lake_b.read("quarantine.sales_events")["_rule"].to_pylist()
    assert rules.count("not_seen:event_id") >= len(replayed)  # replays of loaded events, across batches

    # a replayed epoch (Spark's commit of the last one lost, as after a crash) and an idle run add nothing
    versions = {
        t: lake_b.table(t).version()
        for t in ("bronze.sales_events", "quarantine.sales_events", "gold.sales_minute", "gold.sales_minute_late")
    }
    commits = Path(checkpoint_dir(b, SALES.job)) / "commits"
    last = max((p for p in commits.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    last.unlink()
    (commits / f".{last.name}.crc").unlink(missing_ok=True)
    replay = spark_until_idle(b, spark_engine, SALES)
    assert replay.batches == 1 and replay.read > 0
    idle = spark_until_idle(b, spark_engine, SALES)
    assert idle.read == 0
    assert _state(lake_b) == state_b
    assert {t: lake_b.table(t).version() for t in versions} == versions
