"""Conversations: the 24-hour rule worked by hand, and the SQL twin proven equal to the Python reference on
generated histories (several clients and phones, exact 24 h collisions, equal times, failed templates)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from almacen.domains.messaging.conversations import (
    CONVERSATION_SCHEMA,
    DAILY,
    DAILY_SCHEMA,
    MONTHLY,
    MONTHLY_SCHEMA,
    conversation_id,
    conversations_py,
    conversations_sql,
    rollups_py,
    rollups_sql,
)

_TS = pa.timestamp("us", tz="UTC")
MESSAGES_SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),
        ("client_id", pa.string()),
        ("recipient_key", pa.string()),
        ("country", pa.string()),
        ("category", pa.string()),
        ("kind", pa.string()),
        ("sent_at", _TS),
        ("status", pa.string()),
    ]
)
T0 = datetime(2026, 9, 1, 10, tzinfo=timezone.utc)
H = timedelta(hours=1)
US = timedelta(microseconds=1)
DEFAULT_STATUS = {"template": "delivered", "inbound": "received", "reply": "sent"}


def messages(rows: list[tuple]) -> pa.Table:
    """silver.messages from (message_id, kind, sent_at[, status[, category[, client_id, recipient_key]]])."""
    out = []
    for row in rows:
        message_id, kind, at, *rest = row
        status = rest[0] if rest else DEFAULT_STATUS[kind]
        category = rest[1] if len(rest) > 1 else ("marketing" if kind == "template" else None)
        client_id, key = rest[2:4] if len(rest) > 3 else ("c1", "k1")
        out.append(
            {
                "message_id": message_id,
                "client_id": client_id,
                "recipient_key": key,
                "country": "AR",
                "category": category,
                "kind": kind,
                "sent_at": at,
                "status": status,
            }
        )
    return pa.Table.from_pylist(out, schema=MESSAGES_SCHEMA)


def both(duck, table: pa.Table) -> pa.Table:
    """The conversations of the Python twin, asserted equal to the SQL twin's and their rollups too."""
    duck.register("silver.messages", table)
    sql, py = conversations_sql(duck), conversations_py(table)
    assert sql.equals(py), (sql.to_pylist(), py.to_pylist())
    duck.register("gold.conversations", sql)
    rolled_sql, rolled_py = rollups_sql(duck), rollups_py(py)
    assert all(rolled_sql[name].equals(rolled_py[name]) for name in (DAILY, MONTHLY))
    return py


def summary(table: pa.Table) -> list[tuple]:
    return [(r["opened_at"] - T0, r["category"], r["opened_by"], r["messages"]) for r in table.to_pylist()]


def test_a_conversation_is_open_for_24_hours_from_its_first_message_and_never_extended(duck):
    rows = messages(
        [
            ("m1", "inbound", T0),
            ("m2", "reply", T0 + US),
            ("m3", "template", T0 + 24 * H - US),
            ("m4", "inbound", T0 + 24 * H),
            ("m5", "reply", T0 + 47 * H),
        ]
    )
    assert summary(both(duck, rows)) == [(timedelta(0), "service", "customer", 3), (24 * H, "service", "customer", 2)]


def test_the_chain_follows_openers_not_the_last_message(duck):
    rows = messages(
        [
            ("m1", "template", T0),
            ("m2", "reply", T0 + 20 * H),
            ("m3", "inbound", T0 + 30 * H),
            ("m4", "reply", T0 + 44 * H),
            ("m5", "inbound", T0 + 50 * H),
            ("m6", "template", T0 + 54 * H),
        ]
    )
    assert summary(both(duck, rows)) == [
        (timedelta(0), "marketing", "business", 2),
        (30 * H, "service", "customer", 3),
        (54 * H, "marketing", "business", 1),
    ]


def test_failed_templates_do_not_count_and_a_bot_reply_opens_a_service_conversation(duck):
    rows = messages(
        [
            ("m1", "template", T0, "failed"),
            ("m2", "reply", T0 + H),
            ("m3", "template", T0 + 2 * H, "sent"),
            ("m4", "template", T0 + 30 * H, "read", "utility"),
            ("m5", "template", T0 + 31 * H, "failed"),
        ]
    )
    assert summary(both(duck, rows)) == [(H, "service", "business", 2), (30 * H, "utility", "business", 1)]


def test_messages_at_the_same_instant_are_ordered_by_message_id(duck):
    rows = messages(
        [
            ("m2", "template", T0, "delivered", "authentication"),
            ("m1", "inbound", T0),
            ("m3", "template", T0 + 24 * H),
            ("m0", "reply", T0 + 24 * H),
        ]
    )
    assert summary(both(duck, rows)) == [(timedelta(0), "service", "customer", 2), (24 * H, "service", "business", 2)]


def test_each_client_and_phone_has_its_own_conversations_with_ids_of_the_contract(duck):
    rows = messages(
        [
            ("m1", "inbound", T0, "received", None, "c1", "k1"),
            ("m2", "inbound", T0 + H, "received", None, "c1", "k2"),
            ("m3", "inbound", T0 + H, "received", None, "c2", "k1"),
            ("m4", "reply", T0 + 2 * H, "sent", None, "c1", "k1"),
        ]
    )
    table = both(duck, rows)
    assert table.schema == CONVERSATION_SCHEMA
    assert table.select(["conversation_id", "client_id", "recipient_key", "messages"]).to_pylist() == [
        {"conversation_id": "c1:k1:1788256800000000", "client_id": "c1", "recipient_key": "k1", "messages": 2},
        {"conversation_id": "c1:k2:1788260400000000", "client_id": "c1", "recipient_key": "k2", "messages": 1},
        {"conversation_id": "c2:k1:1788260400000000", "client_id": "c2", "recipient_key": "k1", "messages": 1},
    ]
    assert conversation_id("c1", "k1", T0) == "c1:k1:1788256800000000"
    assert table["closes_at"].to_pylist()[0] == T0 + 24 * H


def test_rollups_count_by_the_utc_day_and_month_a_conversation_opened(duck):
    late = datetime(2026, 9, 30, 23, 30, tzinfo=timezone.utc)
    rows = messages(
        [
            ("m1", "inbound", late),
            ("m2", "reply", late + H),
            ("m3", "template", late + 2 * H),
            ("m4", "template", late + 25 * H, "read", "utility"),
        ]
    )
    both(duck, rows)
    duck.register("gold.conversations", conversations_sql(duck))
    rolled = rollups_sql(duck)
    assert rolled[DAILY].schema == DAILY_SCHEMA and rolled[MONTHLY].schema == MONTHLY_SCHEMA
    assert rolled[DAILY].to_pylist() == [
        {"day": date(2026, 9, 30), "client_id": "c1", "category": "service", "conversations": 1, "messages": 3},
        {"day": date(2026, 10, 2), "client_id": "c1", "category": "utility", "conversations": 1, "messages": 1},
    ]
    assert rolled[MONTHLY].to_pylist() == [
        {"month": date(2026, 9, 1), "client_id": "c1", "category": "service", "conversations": 1, "messages": 3},
        {"month": date(2026, 10, 1), "client_id": "c1", "category": "utility", "conversations": 1, "messages": 1},
    ]


def test_no_messages_give_no_conversations(duck):
    assert both(duck, messages([])).num_rows == 0


def test_a_message_without_a_phone_stops_both_twins_with_the_same_message(duck):
    rows = messages([("m1", "inbound", T0), ("m2", "reply", T0, "sent", None, "c1", None)])
    duck.register("silver.messages", rows)
    text = (
        "silver.messages: 1 message(s) without client_id, recipient_key, sent_at or message_id cannot be placed "
        "in a conversation (first: m2)"
    )
    with pytest.raises(ValueError) as sql:
        conversations_sql(duck)
    with pytest.raises(ValueError) as py:
        conversations_py(rows)
    assert str(sql.value) == str(py.value) == text


# -- the SQL twin equals the Python reference on generated histories --------------------------------------

KINDS = st.sampled_from(["template", "template", "inbound", "reply"])
STATUSES = {
    "template": st.sampled_from(["sent", "delivered", "read", "failed", "failed"]),
    "inbound": st.just("received"),
    "reply": st.just("sent"),
}
# times on a 6-hour grid, nudged by a microsecond or not: many messages exactly 24 h (or 0) apart
TIMES = st.tuples(st.integers(0, 16), st.sampled_from([0, 0, 0, 1, -1, 7])).map(
    lambda t: datetime(2026, 9, 29, tzinfo=timezone.utc) + t[0] * 6 * H + t[1] * US
)


@st.composite
def histories(draw) -> pa.Table:
    n = draw(st.integers(0, 40))
    ids = draw(st.permutations([f"m{i:02d}" for i in range(n)]))  # id order is not time order
    rows = []
    for message_id in ids:
        kind = draw(KINDS)
        rows.append(
            (
                message_id,
                kind,
                draw(TIMES),
                draw(STATUSES[kind]),
                draw(st.sampled_from(["authentication", "marketing", "utility"])) if kind == "template" else None,
                draw(st.sampled_from(["c1", "c1-x", "c2"])),
                draw(st.sampled_from(["k1", "k2", "k10"])),
            )
        )
    return messages(rows)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(histories())
def test_sql_and_python_give_identical_conversations(duck, history):
    table = both(duck, history)
    counted = [r for r in history.to_pylist() if not (r["kind"] == "template" and r["status"] == "failed")]
    assert sum(table["messages"].to_pylist()) == len(counted)
    assert table["conversation_id"].to_pylist() == sorted(table["conversation_id"].to_pylist())
