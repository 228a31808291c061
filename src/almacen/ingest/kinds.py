"""The kinds of event stream one ingestor serves: how each parses, is judged and keeps gold current.

A kind is data: its tables, its parse SQL, its rules, the tables its rules read (their `quality.Input`s),
and the gold it keeps (`StreamGold`). The micro-batch step (`ingest.step`) is the same for all of them,
and both ingestors run it: the embedded one (`ingest.stream`) and Spark's (`ingest.spark_stream`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources.abc import Traversable
from typing import Protocol

import pyarrow as pa
import pyarrow.dataset as pads

from almacen.config import Settings, StreamSettings
from almacen.engine import Engine
from almacen.lake import Lake
from almacen.quality import Rule


class StreamGold(Protocol):
    """The gold tables a stream keeps current, and the state it holds between batches.

    Guarantees: `apply` commits the batch's `positions` (stream -> last position) with its rows, so
    `complete` can find, after a crash between the bronze and the gold commits, exactly what is missing;
    a table keeps only rows past its own positions and never commits a position lower than it holds.
    """

    @property
    def watermark(self) -> datetime | None:
        """How far in event time the stream has come (None before it has a watermark); read, never set."""

    tables: tuple[str, ...]
    """tables rewritten by every batch (compacted between batches, never beside one); the first commits
    the positions of every batch (where a new Spark checkpoint starts)"""

    def restore(self, streams: Sequence[str]) -> None:
        """Read the state back from the lake (watermark and the latest time of each of the source's
        `streams`, open minutes, messages awaiting statuses)."""

    def is_late(self, event_time: pa.ChunkedArray | pa.Array) -> pa.Array:
        """Events older than the watermark minus the allowed lateness."""

    def unheard(self) -> set[str]:
        """Streams holding the watermark back (the slowest one decides) that delivered nothing yet."""

    def release(self, present: Collection[str], drained: Collection[str] = ()) -> None:
        """Before a batch with `present` streams is judged: streams idle for long, and the `drained` ones of
        `unheard` (the source has nothing for them), stop holding the watermark back."""

    def apply(self, passed: pa.Table, late: pa.Array, positions: dict[str, int]) -> None:
        """Fold a batch of accepted bronze rows into gold, committing `positions` with them."""

    def complete(self, bronze: pads.Dataset, committed: dict[str, int]) -> None:
        """Apply the bronze rows past the positions gold holds (bronze holds `committed`)."""


@dataclass(frozen=True)
class StreamKind:
    """One kind of event stream (`almacen stream <name>`); the registry of the domains holds them."""

    name: str
    job: str
    """the run records' job name, and the folder of its Spark checkpoint"""
    bronze: str
    quarantine: str
    parse: Traversable
    settings: Callable[[Settings], StreamSettings]
    rules: Callable[[Settings], list[Rule]]
    inputs: Callable[[Settings, Lake], dict[str, pa.Table]]
    """the tables for the rules' inputs (`quality.Input`, by name) that stay the same from batch to batch;
    the ids already loaded (the `NotSeen` rule's input) are the step's to give, per batch"""
    gold: Callable[[Settings, Lake, Engine, timedelta], StreamGold]
    gold_needs: tuple[str, ...] = ()
    """engine capabilities (`engine.CAPABILITIES`) the gold computes with; an engine that lacks one cannot
    run it: the Spark ingestor then gives the gold a DuckDBEngine on the driver, where foreachBatch runs"""
    prepare: Callable[[Settings, pa.Table], pa.Table] = lambda _settings, parsed: parsed
    """applied to parsed events before the rules (e.g. personal data replaced by its pseudonym)"""
