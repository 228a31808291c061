"""What every event source hands the stream ingestor: raw payloads with their exact positions.

A source is split into streams (a Kafka partition, a landing-folder writer); a position is an
integer that only grows within a stream (an offset, a file sequence number). The ingestor commits
the last position of each stream with the rows, so the lake alone says where to resume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa


@dataclass
class StreamBatch:
    """Raw events read in one micro-batch; `ends` is the last position read per stream.

    A payload is whatever the source holds, unjudged: None for a Kafka tombstone (a null value),
    empty, binary, not UTF-8, any size. The parser turns each into one row (an event or a reason)."""

    payloads: list[bytes | None]
    streams: list[str]
    positions: list[int]
    batch_ids: list[str]
    source: str
    ends: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.payloads)

    def table(self) -> pa.Table:
        """Positions and payloads as Arrow (payloads as bytes, null kept: decoding is the parser's job)."""
        return pa.table(
            {
                "_payload": pa.array(self.payloads, pa.binary()),
                "_stream": pa.array(self.streams, pa.string()),
                "_position": pa.array(self.positions, pa.int64()),
                "_batch_id": pa.array(self.batch_ids, pa.string()),
            }
        )


Committed = Callable[[str], int | None]
"""The last position the lake holds for a stream (None: nothing yet)."""


class EventSource(Protocol):
    """A source of raw events, read from where the lake says the last commit ended."""

    label: str

    def open(self, committed: Committed) -> None:
        """Connect and place every stream just after its committed position."""

    def streams(self) -> list[str]:
        """The streams known after `open` (partitions, writers), for completing gold after a crash."""

    def poll(self, max_events: int, timeout: float) -> StreamBatch:
        """Up to `max_events` events, waiting at most `timeout` seconds (an empty batch if none came)."""

    def acknowledge(self, ends: dict[str, int]) -> None:
        """The lake now holds everything up to `ends`: the source may let go of it."""

    def lag(self) -> int | None:
        """Events waiting in the source beyond what was read (None when unknown)."""

    def close(self) -> None:
        """Release connections and files."""
