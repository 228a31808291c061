"""The message-event stream: how WhatsApp notification events parse, are judged (recipients
pseudonymised first), and keep gold.usage_minute current."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources

import pyarrow as pa

from almacen.config import ConfigError, Settings
from almacen.domains.messaging.accounts import known_clients
from almacen.domains.messaging.quality import KNOWN_CLIENTS, message_event_rules, recipient_keys
from almacen.domains.messaging.usage import MESSAGE_EVENTS, UsageMinutes
from almacen.engine import Engine
from almacen.ingest.kinds import StreamGold, StreamKind
from almacen.lake import Access, Lake, Table, define
from almacen.quality import Rule
from almacen.security.demo import pseudonym_key


def _message_rules(settings: Settings) -> list[Rule]:
    return message_event_rules(settings.future_tolerance_minutes)


def _known_clients(_settings: Settings, lake: Lake) -> dict[str, pa.Table]:
    clients = known_clients(lake)
    if clients is None:
        raise ConfigError(
            "no client accounts in the lake: load them first with "
            "`almacen billing clients load clients.toml` (message events name their client)"
        )
    return {KNOWN_CLIENTS.name: clients}


def _usage_minutes(settings: Settings, lake: Lake, engine: Engine, lateness: timedelta) -> StreamGold:
    return UsageMinutes(lake, engine, lateness, timedelta(days=settings.messaging.status_horizon_days))


def _pseudonymise_recipients(settings: Settings, parsed: pa.Table) -> pa.Table:
    return recipient_keys(parsed, pseudonym_key(settings))


BRONZE_TABLE = define(
    Table(
        MESSAGE_EVENTS,
        Access.ADMIN,
        partition_by=("event_date",),
        personal=("recipient_key",),
        description="every accepted notification event (the recipient pseudonymised), once, with its stream position",
    )
)
QUARANTINE_TABLE = define(
    Table(
        "quarantine.message_events",
        Access.ADMIN,
        personal=("_raw",),
        description="every refused notification event with its raw payload (the recipient's phone number in it)",
    )
)

MESSAGING = StreamKind(
    name="messaging",
    job="stream-messaging",
    bronze=BRONZE_TABLE.name,
    quarantine=QUARANTINE_TABLE.name,
    parse=resources.files("almacen.domains.messaging") / "message_events.sql",
    settings=lambda s: s.messaging.stream,
    rules=_message_rules,
    inputs=_known_clients,
    gold=_usage_minutes,
    gold_needs=("STATE_TABLES",),
    prepare=_pseudonymise_recipients,
)
"""notification events of the messaging platform: bronze.message_events -> gold.usage_minute"""
