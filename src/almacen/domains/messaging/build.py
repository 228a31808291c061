"""The messaging models: silver.messages and the conversation tables, rebuilt from bronze.

Runs on DuckDB (the conversation rule chains 24-hour windows, which the Spark dialect has no
transpilable form for); `gold.usage_minute` is not rebuilt here: the message stream keeps it, and
`usage_check` proves it equal to a fresh count over silver.messages.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc

from almacen.config import Settings
from almacen.domains.messaging.usage import MESSAGE_EVENTS, USAGE, USAGE_SCHEMA, status_ranks, usage_from_messages
from almacen.engine import DuckDBEngine
from almacen.errors import NotFound
from almacen.lake import Access, Lake, Table, define
from almacen.sql import load_sql

MESSAGES = "silver.messages"
MESSAGES_TABLE = define(
    Table(
        MESSAGES,
        Access.ADMIN,
        keys=("message_id",),
        personal=("recipient_key",),
        description="one row per message with its final status (the recipient pseudonymised)",
    )
)
_PACKAGE = "almacen.domains.messaging"
"""where the SQL files beside this module are"""


@contextmanager
def _engine(lake: Lake, memory_limit: str | None = None):
    """DuckDB over bronze.message_events, spilling to a temporary folder beyond `memory_limit`."""
    with tempfile.TemporaryDirectory(prefix="almacen-messaging-") as spill:
        engine = DuckDBEngine(memory_limit=memory_limit, temp_directory=spill)
        try:
            try:
                engine.register_table(MESSAGE_EVENTS, lake)
            except NotFound as exc:
                raise NotFound(f"{exc}: run `almacen stream messaging` first") from None
            engine.register("status_ranks", status_ranks())
            yield engine
        finally:
            engine.close()


def build_messaging(settings: Settings) -> dict[str, int]:
    """silver.messages, gold.conversations, gold.conversations_daily and _monthly, each replaced whole.

    silver.messages and gold.conversations stay inside DuckDB (under `messaging.models_memory_limit`,
    spilling beyond it) and are streamed to Delta in batches: tables as large as the traffic are never
    held as Arrow."""
    from almacen.domains.messaging.conversations import CONVERSATIONS, create_conversations, rollups_sql

    lake = Lake(settings.lake)
    counts = {}
    with _engine(lake, settings.messaging.models_memory_limit) as engine:
        engine.execute("CREATE SCHEMA IF NOT EXISTS silver")
        engine.execute("CREATE OR REPLACE TABLE silver.messages AS " + load_sql(_PACKAGE, "messages.sql"))
        lake.overwrite(MESSAGES, engine.stream("SELECT * FROM silver.messages"))
        counts[MESSAGES] = engine.query("SELECT count(*) AS n FROM silver.messages")["n"][0].as_py()
        lake.overwrite(CONVERSATIONS, create_conversations(engine))
        counts[CONVERSATIONS] = engine.query(f"SELECT count(*) AS n FROM {CONVERSATIONS}")["n"][0].as_py()
        for table, rows in rollups_sql(engine).items():
            lake.overwrite(table, rows)
            counts[table] = rows.num_rows
    return counts


def pending_statuses(settings: Settings) -> pa.Table:
    """Status events whose message was never seen (yet), oldest first."""
    with _engine(Lake(settings.lake)) as engine:
        return engine.query(load_sql(_PACKAGE, "pending.sql"))


def usage_check(settings: Settings) -> tuple[pa.Table, pa.Table]:
    """gold.usage_minute as the stream keeps it, and as a fresh count over silver.messages: equal when exact."""
    lake = Lake(settings.lake)
    kept = lake.read(USAGE)
    kept = USAGE_SCHEMA.empty_table() if kept is None else kept.select(USAGE_SCHEMA.names).cast(USAGE_SCHEMA)
    with _engine(lake) as engine:
        messages = engine.query(
            "SELECT m.message_id, make_timestamptz((epoch_us(m.sent_at) // 60000000) * 60000000) AS minute, "
            "m.client_id, m.category, m.country, r.rank FROM ("
            + load_sql(_PACKAGE, "messages.sql")
            + ") m JOIN status_ranks r USING (status) WHERE m.kind = 'template'"
        )
        fresh = usage_from_messages(engine, messages)
    order = [("minute", "ascending"), ("client_id", "ascending"), ("category", "ascending"), ("country", "ascending")]
    kept = kept.filter(pc.greater(kept["sent"], 0)).sort_by(order)
    return kept, fresh.sort_by(order)
