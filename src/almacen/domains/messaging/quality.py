"""Quality rules for message events, and the pseudonym that replaces a recipient's phone."""

from __future__ import annotations

import pyarrow as pa

from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES, DELIVERY_STATUSES, EVENT_TYPES
from almacen.quality import (
    JSON_INTEGER,
    JSON_STRING,
    TIMESTAMP,
    Allowed,
    Input,
    NotFuture,
    NotNull,
    NotSeen,
    Parsed,
    References,
    Rule,
    Typed,
    Unique,
)
from almacen.security.pseudonym import pseudonymise

MESSAGE_SCHEMA_VERSIONS = ("1",)
KNOWN_CLIENTS = Input("known_clients", pa.schema([("client_id", pa.string())]))
"""the current client accounts: a message event names one of them"""
_CARRIES_RECIPIENT = "type IN ('send', 'inbound', 'reply')"


def message_event_rules(future_tolerance_minutes: int = 5) -> list[Rule]:
    """A message event: readable, a known schema version, every field of its documented JSON type
    (docs/messaging-contract.md; read strictly by ingest/json_values.sql), of a known client account (the
    input `KNOWN_CLIENTS`), with the fields its type needs in vocabulary, not from the future, new (the
    input `seen_in_batch`, which the stream step gives).

    A status for a message not seen yet passes: it waits in bronze for its send (see domains.messaging.usage)."""
    return [
        Parsed(),
        Typed(("schema_version",), JSON_INTEGER),
        Allowed("schema_version", MESSAGE_SCHEMA_VERSIONS),
        Typed(("event_id",), JSON_STRING),
        Typed(("event_time",), TIMESTAMP),
        Typed(
            ("type", "message_id", "client_id", "recipient", "country", "category", "template", "status"), JSON_STRING
        ),
        NotNull(("event_id", "event_time", "type", "message_id", "client_id")),
        Allowed("type", EVENT_TYPES),
        References(("client_id",), KNOWN_CLIENTS, ("client_id",), missing="is not a known client account"),
        NotNull(("recipient_key", "country"), when=_CARRIES_RECIPIENT),
        Allowed("country", COUNTRIES, when=_CARRIES_RECIPIENT),
        NotNull(("category",), when="type = 'send'"),
        Allowed("category", CATEGORIES, when="type = 'send'"),
        NotNull(("status",), when="type = 'status'"),
        Allowed("status", DELIVERY_STATUSES, when="type = 'status'"),
        NotFuture("event_time", future_tolerance_minutes),
        Unique(("event_id",)),
        NotSeen("event_id", "seen_in_batch"),
    ]


def recipient_keys(parsed: pa.Table, key: bytes) -> pa.Table:
    """`recipient` (a phone number) replaced by `recipient_key`, its keyed pseudonym: the lake never
    holds the number itself (quarantine's `_raw` keeps a refused event's text, as for every stream)."""
    i = parsed.schema.get_field_index("recipient")
    return parsed.set_column(i, pa.field("recipient_key", pa.string()), pseudonymise(parsed["recipient"], key))
