"""The kinds of event stream one ingestor serves: how each parses, is judged and keeps gold current.

A kind is data: its tables, its parse SQL, its rules, the tables its rules reference, and the gold it
keeps (`StreamGold`). The ingestor (`ingest.stream`) is the same for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Protocol

import pyarrow as pa
import pyarrow.dataset as pads

from almacen.config import ConfigError, Settings, StreamSettings
from almacen.engine import Engine
from almacen.lake import Lake
from almacen.quality import Rule

_SQL = resources.files("almacen.ingest")


class StreamGold(Protocol):
    """The gold tables a stream keeps current, and the state it holds between batches.

    Guarantees: `apply` commits the batch's `positions` (stream -> last position) with its rows, so
    `complete` can find, after a crash between the bronze and the gold commits, exactly what is missing;
    a table keeps only rows past its own positions and never commits a position lower than it holds.
    """

    watermark: datetime | None
    tables: tuple[str, ...]
    """tables rewritten by every batch (compacted between batches, never beside one)"""

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
    name: str
    job: str
    bronze: str
    quarantine: str
    parse: Traversable
    settings: Callable[[Settings], StreamSettings]
    rules: Callable[[Settings], list[Rule]]
    references: Callable[[Settings, Lake], dict[str, pa.Table]]
    """tables the rules look values up in, registered by name before the first batch"""
    gold: Callable[[Settings, Lake, Engine, timedelta], StreamGold]
    prepare: Callable[[Settings, pa.Table], pa.Table] = lambda _settings, parsed: parsed
    """applied to parsed events before the rules (e.g. personal data replaced by its pseudonym)"""


def _sales_rules(settings: Settings) -> list[Rule]:
    from almacen.domains.sales import sales_event_rules
    return sales_event_rules(settings.future_tolerance_minutes)


def _known_branches(settings: Settings, _lake: Lake) -> dict[str, pa.Table]:
    return {"known_branches": pa.table({"branch_id": pa.array([b.id for b in settings.branches], pa.string())})}


def _minute_rollup(_settings: Settings, lake: Lake, engine: Engine, lateness: timedelta) -> StreamGold:
    from almacen.realtime.rollup import MinuteRollup
    return MinuteRollup(lake, engine, lateness)


SALES = StreamKind(
    name="sales", job="stream", bronze="bronze.sales_events", quarantine="quarantine.sales_events",
    parse=_SQL / "events.sql", settings=lambda s: s.stream, rules=_sales_rules, references=_known_branches,
    gold=_minute_rollup,
)


def _message_rules(settings: Settings) -> list[Rule]:
    from almacen.domains.messaging import message_event_rules
    return message_event_rules(settings.future_tolerance_minutes)


def _known_clients(_settings: Settings, lake: Lake) -> dict[str, pa.Table]:
    from almacen.domains.messaging import known_clients
    clients = known_clients(lake)
    if clients is None:
        raise ConfigError("no client accounts in the lake: load them first with "
                          "`almacen billing clients load clients.toml` (message events name their client)")
    return {"known_clients": clients}


def _usage_minutes(settings: Settings, lake: Lake, engine: Engine, lateness: timedelta) -> StreamGold:
    from almacen.realtime.usage import UsageMinutes
    return UsageMinutes(lake, engine, lateness, timedelta(days=settings.messaging.status_horizon_days))


def _pseudonymise_recipients(settings: Settings, parsed: pa.Table) -> pa.Table:
    from almacen.domains.messaging import recipient_keys
    from almacen.security.demo import pseudonym_key
    return recipient_keys(parsed, pseudonym_key(settings))


MESSAGING = StreamKind(
    name="messaging", job="stream-messaging", bronze="bronze.message_events",
    quarantine="quarantine.message_events", parse=_SQL / "message_events.sql",
    settings=lambda s: s.messaging.stream, rules=_message_rules, references=_known_clients, gold=_usage_minutes,
    prepare=_pseudonymise_recipients,
)

KINDS = {k.name: k for k in (SALES, MESSAGING)}
