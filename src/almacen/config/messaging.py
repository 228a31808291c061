"""Settings of the messaging platform: its event stream and when a month may be invoiced."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from almacen.config.stream import KafkaSettings, StreamSettings


def _messaging_stream() -> StreamSettings:
    return StreamSettings(
        landing="./landing/message_events",
        kafka=KafkaSettings(topic="almacen.message_events", group_id="almacen-messaging"),
    )


class MessagingSettings(BaseModel):
    """`[messaging]`: the message-event stream (same keys as `[stream]`) and billing cut-offs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: StreamSettings = Field(default_factory=_messaging_stream)
    settle_hours: int = Field(
        default=24,
        ge=0,
        description="a month is complete once the stream's watermark is this far past its end "
        "(late delivery statuses); invoicing an incomplete month needs --force",
    )
    models_memory_limit: str = Field(
        default="512MB",
        pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$",
        description="DuckDB's memory for `almacen billing build` (messages, conversations); it spills to disk beyond it",
    )
    status_horizon_days: int = Field(
        default=35,
        ge=1,
        description="messages kept in the ingestor's memory for matching status events; an "
        "older message is looked up in bronze when a status for it arrives",
    )
