"""Message events through a real Apache Kafka broker: exactly once, usage exact per minute."""

from __future__ import annotations

import uuid

import pyarrow.compute as pc

from almacen.config import KafkaSettings
from almacen.sources.kafka import KafkaSink, ensure_topic
from tests.messaging.conftest import MessagingWorld, made, same_usage


def _on_kafka(mworld: MessagingWorld, bootstrap: str) -> KafkaSettings:
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic=f"m.{uuid.uuid4().hex[:10]}")
    ensure_topic(kafka, partitions=3)
    stream = mworld.settings.messaging.stream.model_copy(update={"source": "kafka", "kafka": kafka})
    messaging = mworld.settings.messaging.model_copy(update={"stream": stream})
    mworld.settings = mworld.settings.model_copy(update={"messaging": messaging})
    return kafka


def _produce(kafka: KafkaSettings, events: list[tuple[str, str]]) -> None:
    sink = KafkaSink(kafka)
    sink.write(events)
    sink.close()


def test_usage_from_kafka_is_exact_per_minute_and_positions_live_in_the_lake(
    mworld: MessagingWorld, kafka_bootstrap: str
):
    kafka = _on_kafka(mworld, kafka_bootstrap)
    maker = mworld.maker(bad_fraction=0.01)
    events = made(maker, 8_000)
    _produce(kafka, events)

    done = mworld.ingest(max_batch_events=2_000)

    counts = maker.ledger.counts()
    assert done.read == counts["events"]
    assert done.written == counts["valid"] + counts["orphans"]
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())
    bronze = mworld.lake.read("bronze.message_events")
    for p in range(3):
        rows = bronze.filter(pc.equal(bronze["_stream"], f"kafka:{kafka.topic}:{p}"))
        position = mworld.lake.transaction_version("gold.usage_minute", f"almacen-stream:kafka:{kafka.topic}:{p}")
        assert position is None or position >= pc.max(rows["_position"]).as_py()


def test_a_second_run_on_the_same_topic_reads_nothing_again(mworld: MessagingWorld, kafka_bootstrap: str):
    kafka = _on_kafka(mworld, kafka_bootstrap)
    maker = mworld.maker()
    events = made(maker, 3_000)
    _produce(kafka, events[:1_500])
    mworld.ingest(max_batch_events=500)
    _produce(kafka, events[1_500:])

    done = mworld.ingest(max_batch_events=500)

    assert done.read == len(events) - 1_500
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())
