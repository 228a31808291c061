"""Quality rules for conformed branch sales and sales lines."""

from __future__ import annotations

import pyarrow as pa

from almacen.domains.sales.vocabulary import CHANNELS, PAYMENT_TYPES, STATUSES
from almacen.quality import (
    JSON_INTEGER,
    JSON_STRING,
    TIMESTAMP,
    Allowed,
    Input,
    NotBefore,
    NotFuture,
    NotNull,
    NotSeen,
    Parsed,
    Range,
    References,
    Rule,
    Typed,
    Unique,
    ValidText,
)

ACCEPTED_SALES = Input("accepted_sales", pa.schema([("_batch_id", pa.string()), ("sale_id", pa.string())]))
"""the sale headers of the batch that passed their rules: a line needs its sale among them"""
KNOWN_BRANCHES = Input("known_branches", pa.schema([("branch_id", pa.string())]))
"""the branches of the config: a sale event names one of them"""


def sales_rules(future_tolerance_minutes: int = 5) -> list[Rule]:
    """A sale header: typed, complete, in vocabulary, not from the future, once per batch.

    The header total may be negative (a return is a sale with a negative total); its lines are checked.
    """
    return [
        Typed(("sale_id", "sold_at", "updated_at", "total")),
        NotNull(("sale_id", "sold_at", "updated_at", "status", "channel", "payment_type", "total")),
        ValidText(),
        Allowed("status", STATUSES),
        Allowed("channel", CHANNELS),
        Allowed("payment_type", PAYMENT_TYPES),
        NotFuture("sold_at", future_tolerance_minutes),
        NotFuture("updated_at", future_tolerance_minutes),
        NotBefore("updated_at", "_known_updated_at", "a version of this sale already loaded"),
        Unique(("_batch_id", "sale_id")),
    ]


def sales_lines_rules() -> list[Rule]:
    """A line: typed, positive quantity, non-negative price, known product (silver.products, registered by the
    extraction), its sale accepted (the input `ACCEPTED_SALES`), once per batch."""
    return [
        Typed(("sale_id", "line_no", "quantity", "unit_price", "amount")),
        ValidText(),
        NotNull(("sale_id", "line_no", "quantity", "unit_price", "amount")),
        Range("quantity", above=0),
        Range("unit_price", at_least=0),
        References(
            ("product_id",),
            "silver.products",
            ("product_id",),
            shown="coalesce(sku, product_id::VARCHAR)",
            missing="is not in the product catalog",
        ),
        References(
            ("_batch_id", "sale_id"),
            ACCEPTED_SALES,
            ("_batch_id", "sale_id"),
            missing="has no accepted header in this batch (the sale itself was quarantined or is missing)",
        ),
        Unique(("_batch_id", "sale_id", "line_no")),
    ]


EVENT_SCHEMA_VERSIONS = ("1",)
QUANTITY = "a JSON number with at most 3 decimals"
AMOUNT = "a decimal string with at most 2 decimals"


def sales_event_rules(future_tolerance_minutes: int = 5) -> list[Rule]:
    """A stream sale event: readable, a known schema version, every field of its documented JSON type
    (docs/streaming.md; read strictly by ingest/json_values.sql), complete, in vocabulary, from a
    known branch (the input `KNOWN_BRANCHES`), not from the future, new (not among the ids loaded: the
    input `seen_in_batch`, which the stream step gives).

    The version's type is checked before the version, and the version before the other fields: what
    they mean depends on it."""
    return [
        Parsed(),
        Typed(("schema_version",), JSON_INTEGER),
        Allowed("schema_version", EVENT_SCHEMA_VERSIONS),
        Typed(("event_id",), JSON_STRING),
        Typed(("event_time",), TIMESTAMP),
        Typed(("branch_id", "channel"), JSON_STRING),
        Typed(("product_id",), JSON_INTEGER),
        Typed(("quantity",), QUANTITY),
        Typed(("amount",), AMOUNT),
        Typed(("payment_type", "status"), JSON_STRING),
        NotNull(
            (
                "event_id",
                "event_time",
                "branch_id",
                "channel",
                "product_id",
                "quantity",
                "amount",
                "payment_type",
                "status",
            )
        ),
        Allowed("channel", CHANNELS),
        Allowed("payment_type", PAYMENT_TYPES),
        Allowed("status", STATUSES),
        References(("branch_id",), KNOWN_BRANCHES, ("branch_id",), missing="is not a branch in the config"),
        Range("quantity", above=0),
        Range("amount", at_least=0),
        NotFuture("event_time", future_tolerance_minutes),
        Unique(("event_id",)),
        NotSeen("event_id", "seen_in_batch"),
    ]
