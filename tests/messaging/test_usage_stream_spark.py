"""The message stream on Spark Structured Streaming gives exactly what the embedded ingestor gives, once.

The same simulated notification events (sends, statuses that overtake their sends, duplicates) go to
a fresh Kafka topic; the embedded ingestor consumes it into lake A, the Spark ingestor (availableNow)
into lake B, in two rounds. Bronze, quarantine and `gold.usage_minute` must agree row by row, and the
usage must equal the simulator's ledger. A run with nothing new adds nothing.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest

from almacen.config import KafkaSettings, Settings
from almacen.domains.messaging import MESSAGING
from almacen.domains.messaging.reference import store_clients, store_rate_card
from almacen.lake import Lake
from almacen.sources.kafka import KafkaSink, ensure_topic
from tests.conftest import ingest_until_idle, spark_until_idle
from tests.messaging.conftest import MessagingWorld, made, same_usage

pytestmark = [pytest.mark.spark, pytest.mark.slow]
TABLES = ("bronze.message_events", "quarantine.message_events", "gold.usage_minute")


def _settings(world: MessagingWorld, lake: Path, kafka: KafkaSettings, spark_settings) -> Settings:
    stream = world.settings.messaging.stream.model_copy(
        update={
            "source": "kafka",
            "kafka": kafka,
            "max_batch_events": 1_500,
            # wide enough that no event is late however the two ingestors cut their batches (which events
            # are late depends on the cut: the watermark moves batch by batch)
            "allowed_lateness_minutes": 14 * 24 * 60,
            "trigger_seconds": 0.1,
        }
    )
    messaging = world.settings.messaging.model_copy(update={"stream": stream})
    settings = world.settings.model_copy(update={"lake": str(lake), "messaging": messaging, "spark": spark_settings})
    store_clients(Lake(settings.lake), world.reference[0])
    store_rate_card(Lake(settings.lake), world.reference[1])
    return settings


def _state(lake: Lake) -> dict:
    bronze = lake.read("bronze.message_events").select(
        ["event_id", "type", "message_id", "status", "_stream", "_position", "_late"]
    )
    quarantine = lake.read("quarantine.message_events")
    return {
        "usage": sorted(
            lake.read("gold.usage_minute").to_pylist(),
            key=lambda r: (r["minute"], r["client_id"], r["category"], r["country"]),
        ),
        "bronze": sorted(bronze.to_pylist(), key=lambda r: (r["_stream"], r["_position"])),
        "quarantine": sorted(
            (r["_rule"].replace("unique:", "").replace("not_seen:", ""), r["_raw"]) for r in quarantine.to_pylist()
        )
        if quarantine is not None
        else [],
    }


def test_the_message_stream_on_spark_matches_the_embedded_ingestor_and_the_ledger(
    mworld: MessagingWorld, kafka_bootstrap: str, spark_settings, spark_engine, tmp_path: Path
):
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic=f"t.spark.msg.{uuid.uuid4().hex[:10]}")
    ensure_topic(kafka, partitions=3)
    a = _settings(mworld, tmp_path / "lake_a", kafka, spark_settings)
    b = _settings(mworld, tmp_path / "lake_b", kafka, spark_settings)
    maker = mworld.maker()
    events = made(maker, 2_000)

    # round 1: the first part of the events (statuses may come before their sends), round 2: the rest
    for part in (events[:1_200], events[1_200:]):
        sink = KafkaSink(kafka)
        sink.write(part)
        sink.close()
        done_a, done_b = ingest_until_idle(a, MESSAGING), spark_until_idle(b, spark_engine, MESSAGING)
        assert (done_b.read, done_b.written, done_b.quarantined) == (done_a.read, done_a.written, done_a.quarantined)
        assert done_a.late == done_b.late == 0

    lake_a, lake_b = Lake(a.lake), Lake(b.lake)
    state_a, state_b = _state(lake_a), _state(lake_b)
    assert state_b["usage"] == state_a["usage"]
    assert state_b["bronze"] == state_a["bronze"]
    assert state_b["quarantine"] == state_a["quarantine"]
    counts = maker.ledger.counts()
    assert len(state_b["bronze"]) == counts["valid"] and len(state_b["quarantine"]) == counts["duplicates"]
    assert same_usage(dataclasses.replace(mworld, lake=lake_b).usage(), maker.ledger.usage_minute())

    versions = {t: lake_b.table(t).version() for t in TABLES}
    assert spark_until_idle(b, spark_engine, MESSAGING).read == 0
    assert {t: lake_b.table(t).version() for t in TABLES} == versions
