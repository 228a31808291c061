"""Apache Kafka through confluent-kafka: a topic of events in, a producer for the simulator out.

Each partition is a stream and its offset the position. The consumer is *assigned* its partitions
at the offsets the lake recorded (not the group's committed offsets, which can disagree with the
lake after a crash); offsets are still committed to the group afterwards, so the usual Kafka
tools show the ingestor's lag.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as Consumed
from confluent_kafka.admin import AdminClient, NewTopic

from almacen.config import ConfigError, KafkaSettings
from almacen.errors import Unavailable
from almacen.sources.stream import Committed, StreamBatch

log = logging.getLogger(__name__)


class BrokerUnavailable(Unavailable, ConnectionError):
    """The Kafka cluster did not answer; the message names the servers."""


def client_config(kafka: KafkaSettings) -> dict[str, str | int | float | bool]:
    """librdkafka settings: bootstrap servers, the pass-through options, the SASL password from env."""
    config: dict[str, str | int | float | bool] = {"bootstrap.servers": kafka.bootstrap_servers, **kafka.options}
    if kafka.password_env:
        password = os.environ.get(kafka.password_env)
        if password is None:
            raise ConfigError(f"stream.kafka: environment variable {kafka.password_env} (sasl.password) is not set")
        config["sasl.password"] = password
    return config


# librdkafka settings the Java client (Spark's Kafka source) knows by the same name.
_JAVA_SAME = {
    "security.protocol",
    "sasl.mechanism",
    "client.id",
    "ssl.endpoint.identification.algorithm",
    "session.timeout.ms",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
}
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def java_client_config(kafka: KafkaSettings) -> dict[str, str]:
    """The same connection for Kafka's Java client, as Spark's `kafka.*` source options.

    librdkafka's `sasl.username` + password become `sasl.jaas.config`, `ssl.ca.location` a PEM
    truststore; a setting with no Java equivalent is refused by name rather than silently dropped.
    """
    librdkafka = client_config(kafka)
    java: dict[str, str] = {"bootstrap.servers": kafka.bootstrap_servers}
    for key, value in librdkafka.items():
        if key in _JAVA_SAME:
            java[key] = str(value)
        elif key == "ssl.ca.location":
            java |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(value)}
        elif key in ("sasl.username", "sasl.password", "bootstrap.servers", "sasl.mechanisms"):
            continue
        else:
            raise ConfigError(
                f"stream.kafka.options: {key} has no equivalent in Kafka's Java client, which "
                'engine = "spark" reads with; set it through spark.conf or drop it'
            )
    mechanism = str(librdkafka.get("sasl.mechanism", librdkafka.get("sasl.mechanisms", "")))
    if mechanism:
        java["sasl.mechanism"] = mechanism
    if "sasl.username" in librdkafka:
        module = _LOGIN_MODULES.get(mechanism.upper())
        if module is None:
            raise ConfigError(
                f"stream.kafka: sasl.username with sasl.mechanism {mechanism or '(none)'}: "
                f"Spark's Kafka source takes {', '.join(_LOGIN_MODULES)} this way"
            )
        if "sasl.password" not in librdkafka:
            raise ConfigError(
                "stream.kafka: sasl.username is set but not password_env (the variable holding its password)"
            )
        user, password = (str(librdkafka[k]).replace('"', '\\"') for k in ("sasl.username", "sasl.password"))
        java["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    return java


def ensure_topic(kafka: KafkaSettings, partitions: int = 3, timeout: float = 10.0) -> None:
    """Create the topic when it does not exist (keyed by branch, so a branch keeps its order)."""
    admin = AdminClient(client_config(kafka))
    topics = topic_metadata(admin, kafka, timeout).topics
    if kafka.topic in topics and topics[kafka.topic].error is None:
        return
    futures = admin.create_topics([NewTopic(kafka.topic, num_partitions=partitions, replication_factor=1)])
    try:
        futures[kafka.topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def topic_metadata(client, kafka: KafkaSettings, timeout: float):
    """The cluster's topics and partitions, or BrokerUnavailable naming the broker."""
    try:
        return client.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"Kafka at {kafka.bootstrap_servers} did not answer within {timeout:g} s "
            f"({exc.args[0].str()}); is the broker running?"
        ) from None


Message = tuple[str | bytes | None, str | bytes | None]
"""(key, value) as a producer sends it: text is sent as UTF-8, None as a null key or value (a tombstone)."""


class KafkaSink:
    """Produces events keyed by branch; waits for delivery on `close()`.

    Messages up to `max_message_bytes` leave the producer (librdkafka's own default is 1,000,000
    bytes); the broker still applies its limit to the compressed batch (`message.max.bytes`,
    1,048,588 by default)."""

    def __init__(self, kafka: KafkaSettings, max_message_bytes: int = 16 * 1024 * 1024) -> None:
        self.kafka = kafka
        self._producer = Producer(
            {
                **client_config(kafka),
                "linger.ms": 20,
                "compression.type": "lz4",
                "queue.buffering.max.messages": 500_000,
                "enable.idempotence": True,
                "message.max.bytes": max_message_bytes,
            }
        )

    def write(self, lines: Sequence[Message]) -> None:
        """Queue messages for delivery (waiting for room when the local queue is full)."""
        produce = self._producer.produce
        for key, value in lines:
            key_bytes = key.encode() if isinstance(key, str) else key
            value_bytes = value.encode() if isinstance(value, str) else value
            while True:
                try:
                    produce(self.kafka.topic, value_bytes, key_bytes)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    self._producer.poll(0.05)
        self._producer.poll(0)

    def close(self, timeout: float = 60.0) -> None:
        left = self._producer.flush(timeout)
        if left:
            raise BrokerUnavailable(f"{left} events not delivered to {self.kafka.bootstrap_servers} in {timeout:g} s")


class KafkaSource:
    """Consumes the topic's partitions from the positions the lake holds.

    Every message becomes a payload as it is, a null value (tombstone) as None: judging it is the
    parser's job, so no message can stop the consumer at its offset."""

    def __init__(
        self,
        kafka: KafkaSettings,
        connect_timeout: float = 10.0,
        max_backoff: float = 30.0,
        attempts: int | None = None,
    ) -> None:
        self.kafka = kafka
        self.attempts = attempts
        """how many times `open` tries to reach the broker (None: until it answers)"""
        self.label = f"kafka:{kafka.bootstrap_servers}/{kafka.topic}"
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        self._consumer: Consumer | None = None
        self._partitions: list[TopicPartition] = []
        self._next: dict[int, int] = {}

    def open(self, committed: Committed) -> None:
        config = {
            **client_config(self.kafka),
            "group.id": self.kafka.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": 32_768,
            "fetch.max.bytes": 16_777_216,
        }
        backoff, tried = 1.0, 0
        while True:  # a broker down at start: say so, and try again with growing pauses
            consumer = Consumer(config)
            tried += 1
            try:
                meta = topic_metadata(consumer, self.kafka, self.connect_timeout)
                break
            except BrokerUnavailable as exc:
                consumer.close()
                if self.attempts is not None and tried >= self.attempts:
                    raise
                log.error("%s; retrying in %.0f s", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        topic = meta.topics.get(self.kafka.topic)
        if topic is None or topic.error is not None:
            consumer.close()
            raise ConfigError(
                f"stream.kafka.topic: topic {self.kafka.topic!r} does not exist at "
                f"{self.kafka.bootstrap_servers}; create it (almacen simulate stream --kafka does)"
            )
        self._partitions = []
        for p in sorted(topic.partitions):
            last = committed(self._stream(p))
            self._partitions.append(TopicPartition(self.kafka.topic, p, OFFSET_BEGINNING if last is None else last + 1))
        consumer.assign(self._partitions)
        self._consumer = consumer

    def streams(self) -> list[str]:
        return [self._stream(tp.partition) for tp in self._partitions]

    def _stream(self, partition: int) -> str:
        return f"kafka:{self.kafka.topic}:{partition}"

    def poll(self, max_events: int, timeout: float) -> StreamBatch:
        assert self._consumer is not None, "open() first"
        deadline = time.monotonic() + timeout
        messages: list[Consumed] = []
        while len(messages) < max_events:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for m in self._consumer.consume(min(10_000, max_events - len(messages)), left):
                err = m.error()
                if err is None:
                    messages.append(m)
                elif err.code() != KafkaError._PARTITION_EOF:
                    log.warning(
                        "Kafka at %s: %s (the client reconnects by itself)", self.kafka.bootstrap_servers, err.str()
                    )
        return self._batch(messages)

    def _batch(self, messages: list) -> StreamBatch:
        partitions = [m.partition() for m in messages]
        offsets = [m.offset() for m in messages]
        ends: dict[str, int] = {}
        first: dict[int, int] = {}
        for p, o in zip(partitions, offsets):
            first.setdefault(p, o)
            self._next[p] = o + 1
        for p in first:
            ends[self._stream(p)] = self._next[p] - 1
        ids = {p: f"kafka:{self.kafka.topic}:{p}:{first[p]}-{self._next[p] - 1}" for p in first}
        streams = {p: self._stream(p) for p in first}
        return StreamBatch(
            [m.value() for m in messages],
            [streams[p] for p in partitions],
            offsets,
            [ids[p] for p in partitions],
            self.label,
            ends,
        )

    def acknowledge(self, ends: dict[str, int]) -> None:
        if self._consumer is None or not ends:
            return
        offsets = [TopicPartition(self.kafka.topic, int(s.rsplit(":", 1)[1]), o + 1) for s, o in ends.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:  # informational only: the lake holds the real positions
            log.warning("could not report offsets to Kafka group %s: %s", self.kafka.group_id, exc)

    def lag(self) -> int | None:
        if self._consumer is None:
            return None
        total = 0
        for tp in self._partitions:
            try:
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                return None
            if high < 0:
                return None
            position = self._next.get(tp.partition)
            if position is None:
                position = tp.offset if tp.offset >= 0 else 0
            total += max(0, high - position)
        return total

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
