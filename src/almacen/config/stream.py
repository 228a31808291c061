"""Settings of the event stream: where events come from, how they are batched, and lateness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_PAYLOAD_BYTES = 1_048_576
"""Default cap on one event's payload: a sale event is ~300 bytes; a megabyte is a broken producer."""


class KafkaSettings(BaseModel):
    """A Kafka topic of sale events; `options` go to confluent-kafka as they are (SASL, TLS...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "almacen.sales_events"
    group_id: str = Field(default="almacen-stream", description="reported to the broker for lag monitoring only")
    options: dict[str, str | int | bool] = Field(
        default_factory=dict, description="extra librdkafka settings, e.g. security.protocol, sasl.mechanism"
    )
    password_env: str | None = Field(default=None, description="environment variable holding sasl.password")


class StreamSettings(BaseModel):
    """How `almacen stream` consumes: source, micro-batch trigger and size, lateness, maintenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["landing", "kafka"] = "landing"
    landing: str = Field(default="./landing/sales_events", description="folder of closed newline-JSON files")
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    trigger_seconds: float = Field(
        default=1.0, gt=0, description="longest wait for events before a micro-batch commits"
    )
    max_batch_events: int = Field(default=100_000, ge=1, description="most events in one micro-batch (and in memory)")
    max_payload_bytes: int = Field(
        default=MAX_PAYLOAD_BYTES,
        ge=1,
        description="a larger payload is quarantined unparsed ('the payload is larger than N bytes')",
    )
    allowed_lateness_minutes: int = Field(default=10, ge=0)
    memory_limit: str = Field(
        default="256MB",
        pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$",
        description="DuckDB's share of the ingestor; the ids kept for duplicate detection spill to disk beyond it",
    )
    compact_every_seconds: float = Field(default=60.0, gt=0, description="how often small files are compacted")
    vacuum_retention_hours: int = Field(
        default=1,
        ge=0,
        description="compacted-away files older than this are deleted (readers older than this may fail)",
    )
    report_every_seconds: float = Field(
        default=60.0, gt=0, description="how often a run record with the lag is written"
    )
