"""Conversations: the 24-hour windows of a client with one customer phone, and their daily and monthly counts.

Per (client_id, recipient_key), in order (sent_at, message_id), a message opens a conversation when
none is open; a conversation opened at t is open while sent_at < t + 24 h (it is never extended).
Considered: every inbound and reply, and every template whose final status is not failed. Category:
a template's category when a template opened it, `service` when the customer (inbound) or a bot
reply did; opened_by `customer` for an inbound, `business` otherwise.

Computed twice on purpose: `conversations_sql` (conversations.sql in DuckDB, what runs in production)
and `conversations_py` (a plain loop, the reference), which the tests prove identical.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc

from almacen.domains.messaging.vocabulary import SERVICE
from almacen.engine import DuckDBEngine
from almacen.lake import Access, Table, define
from almacen.sql import exactly, load_sql

_PACKAGE = "almacen.domains.messaging"
"""where the SQL files beside this module are"""
_TS = pa.timestamp("us", tz="UTC")
WINDOW_US = 24 * 3600 * 1_000_000
"""a conversation lasts 24 hours from the message that opened it, in microseconds"""
CONVERSATION_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("client_id", pa.string()),
        ("recipient_key", pa.string()),
        ("opened_at", _TS),
        ("closes_at", _TS),
        ("category", pa.string()),
        ("opened_by", pa.string()),
        ("messages", pa.int64()),
    ]
)
DAILY_SCHEMA = pa.schema(
    [
        ("day", pa.date32()),
        ("client_id", pa.string()),
        ("category", pa.string()),
        ("conversations", pa.int64()),
        ("messages", pa.int64()),
    ]
)
MONTHLY_SCHEMA = pa.schema([("month", pa.date32()), *[DAILY_SCHEMA.field(n) for n in DAILY_SCHEMA.names[1:]]])
CONVERSATIONS = "gold.conversations"
DAILY, MONTHLY = "gold.conversations_daily", "gold.conversations_monthly"
# a client's conversations are its own: once published, rows cut by client_id (almacen.lake.access)
CONVERSATION_TABLE = define(
    Table(
        CONVERSATIONS,
        Access.CLIENT,
        CONVERSATION_SCHEMA,
        keys=("conversation_id",),
        personal=("recipient_key",),
        description="24-hour windows of a client with one customer phone (pseudonymised)",
    )
)
DAILY_TABLE = define(
    Table(
        DAILY,
        Access.CLIENT,
        DAILY_SCHEMA,
        keys=("day", "client_id", "category"),
        description="conversations opened and their messages per day, client and category",
    )
)
MONTHLY_TABLE = define(
    Table(
        MONTHLY,
        Access.CLIENT,
        MONTHLY_SCHEMA,
        keys=("month", "client_id", "category"),
        description="conversations opened and their messages per month, client and category",
    )
)
_CONSIDERED_KINDS = ("template", "inbound", "reply")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_DAY_US = 86400 * 1_000_000


def conversations_py(messages: pa.Table) -> pa.Table:
    """gold.conversations from a silver.messages table, computed in plain Python, sorted by conversation_id."""
    columns = ["message_id", "client_id", "recipient_key", "kind", "category", "status"]
    data = messages.select(columns).to_pydict()
    times = pc.cast(messages["sent_at"].cast(_TS), pa.int64()).to_pylist()
    rows, unplaced = [], []
    for message_id, client_id, key, kind, category, status, t in zip(*(data[c] for c in columns), times):
        if kind not in _CONSIDERED_KINDS:
            continue
        if None in (message_id, client_id, key, t):
            unplaced.append(message_id)
        elif not (kind == "template" and status == "failed"):
            rows.append((client_id, key, t, message_id, kind, category))
    if unplaced:
        raise ValueError(_unplaced_message(len(unplaced), min((m for m in unplaced if m is not None), default=None)))
    rows.sort(key=lambda r: r[:4])
    out: list[list] = []
    for client_id, key, t, _, kind, category in rows:
        last = out[-1] if out else None
        if last is not None and last[0] == client_id and last[1] == key and t < last[2] + WINDOW_US:
            last[5] += 1
        else:
            out.append([client_id, key, t, kind, category, 1])
    table: dict[str, list] = {name: [] for name in CONVERSATION_SCHEMA.names}
    for client_id, key, t, kind, category, count in sorted(out, key=lambda c: f"{c[0]}:{c[1]}:{c[2]}"):
        table["conversation_id"].append(f"{client_id}:{key}:{t}")
        table["client_id"].append(client_id)
        table["recipient_key"].append(key)
        table["opened_at"].append(t)
        table["closes_at"].append(t + WINDOW_US)
        table["category"].append(category if kind == "template" else SERVICE)
        table["opened_by"].append("customer" if kind == "inbound" else "business")
        table["messages"].append(count)
    return pa.table(
        {name: pa.array(values, CONVERSATION_SCHEMA.field(name).type) for name, values in table.items()},
        schema=CONVERSATION_SCHEMA,
    )


def conversations_sql(engine: DuckDBEngine) -> pa.Table:
    """gold.conversations computed by conversations.sql over the registered silver.messages, sorted by id."""
    _check_messages(engine)
    return exactly(engine.query(load_sql(_PACKAGE, "conversations.sql")), CONVERSATION_SCHEMA, "conversation")


def create_conversations(engine: DuckDBEngine, table: str = CONVERSATIONS) -> pa.RecordBatchReader:
    """conversations.sql into the engine's own table `table` (kept inside DuckDB, under its memory
    limit), returned as a stream of batches: for a build too large to hold as Arrow."""
    _check_messages(engine)
    engine.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    engine.execute(f"CREATE OR REPLACE TABLE {table} AS {load_sql(_PACKAGE, 'conversations.sql')}")
    return exactly(engine.stream(f"SELECT * FROM {table}"), CONVERSATION_SCHEMA, "conversation")


def _check_messages(engine: DuckDBEngine) -> None:
    """Every considered message can be placed (client, phone, time and id present), or a ValueError."""
    check = engine.query(load_sql(_PACKAGE, "conversations_check.sql")).to_pylist()[0]
    if check["unplaced"]:
        raise ValueError(_unplaced_message(check["unplaced"], check["first_id"]))


def conversations_daily_py(conversations: pa.Table) -> pa.Table:
    """gold.conversations_daily from gold.conversations: by UTC day opened, client and category."""
    return _rollup(conversations, lambda d: d, DAILY_SCHEMA)


def conversations_monthly_py(conversations: pa.Table) -> pa.Table:
    """gold.conversations_monthly from gold.conversations: by UTC month opened (its first day), client, category."""
    return _rollup(conversations, lambda d: d.replace(day=1), MONTHLY_SCHEMA)


def rollups_py(conversations: pa.Table) -> dict[str, pa.Table]:
    """Both rollups of a gold.conversations table, by their lake names."""
    return {DAILY: conversations_daily_py(conversations), MONTHLY: conversations_monthly_py(conversations)}


def rollups_sql(engine: DuckDBEngine) -> dict[str, pa.Table]:
    """Both rollups of the registered gold.conversations, by their lake names, computed in DuckDB."""
    return {
        DAILY: exactly(engine.query(load_sql(_PACKAGE, "conversations_daily.sql")), DAILY_SCHEMA, "conversation"),
        MONTHLY: exactly(engine.query(load_sql(_PACKAGE, "conversations_monthly.sql")), MONTHLY_SCHEMA, "conversation"),
    }


def _rollup(conversations: pa.Table, period, schema: pa.Schema) -> pa.Table:
    """Conversations and messages per (period of opened_at in UTC, client_id, category), sorted, nulls last."""
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    days: dict[int, date] = {}
    opened = pc.cast(conversations["opened_at"].cast(_TS), pa.int64()).to_pylist()
    for us, client_id, category, messages in zip(
        opened,
        conversations["client_id"].to_pylist(),
        conversations["category"].to_pylist(),
        conversations["messages"].to_pylist(),
    ):
        n = us // _DAY_US
        day = days.get(n) or days.setdefault(n, period(_EPOCH.date() + timedelta(days=n)))
        total = totals[(day, client_id, category)]
        total[0] += 1
        total[1] += messages
    keys = sorted(totals, key=lambda k: tuple((v is None, v if v is not None else "") for v in k))
    return pa.table(
        {
            schema.names[0]: pa.array([k[0] for k in keys], pa.date32()),
            "client_id": pa.array([k[1] for k in keys], pa.string()),
            "category": pa.array([k[2] for k in keys], pa.string()),
            "conversations": pa.array([totals[k][0] for k in keys], pa.int64()),
            "messages": pa.array([totals[k][1] for k in keys], pa.int64()),
        },
        schema=schema,
    )


def _unplaced_message(count: int, first_id: str | None) -> str:
    return (
        f"silver.messages: {count} message(s) without client_id, recipient_key, sent_at or message_id "
        f"cannot be placed in a conversation (first: {first_id})"
    )


def conversation_id(client_id: str, recipient_key: str, opened_at: datetime) -> str:
    """`<client_id>:<recipient_key>:<epoch microseconds of opened_at>`."""
    return f"{client_id}:{recipient_key}:{(opened_at.astimezone(timezone.utc) - _EPOCH) // timedelta(microseconds=1)}"
