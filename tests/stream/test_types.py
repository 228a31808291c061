"""Strict types: every typed field of both kinds of event takes exactly its documented JSON type.

DuckDB's TRY_CAST alone read product_id 321.5 as 322 and "0x44f" as 1103, so wrong events entered
bronze and gold under another product. Each value below is parsed and judged as the ingestors do
(parse_events, then the kind's rules through the quality gate) and either read exactly or
quarantined with rule `type:<field>` (docs/streaming.md, docs/messaging-contract.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from almacen.config.stream import MAX_PAYLOAD_BYTES
from almacen.domains.messaging import message_event_rules, recipient_keys
from almacen.domains.sales import sales_event_rules
from almacen.engine import DuckDBEngine
from almacen.domains.messaging import MESSAGING
from almacen.domains.sales import SALES
from almacen.ingest.kinds import StreamKind
from almacen.ingest.payloads import parse_events
from almacen.quality import Split, split
from tests.stream.conftest import StreamWorld, totals

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)
BRANCHES = ("palermo", "rosario")
CLIENTS = ("c00001",)
SALE = {
    "schema_version": 1,
    "event_id": "e-1",
    "event_time": "2026-11-24T14:03:21.123456Z",
    "branch_id": "palermo",
    "channel": "tienda",
    "product_id": 1234,
    "quantity": 2,
    "amount": "2450.00",
    "payment_type": "debito",
    "status": "aprobada",
}
MESSAGE = {
    "schema_version": 1,
    "event_id": "m-1",
    "event_time": "2026-11-24T14:03:21.123456Z",
    "type": "send",
    "message_id": "msg-1",
    "client_id": "c00001",
    "recipient": "+5491155550123",
    "country": "AR",
    "category": "marketing",
    "template": "promo_semanal",
}
BIG = "1234567890123456789012345678901234567890"  # 40 digits
TWO_63 = str(2**63)


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBEngine]:
    """One DuckDB engine for the module, as an ingestor keeps one for all its batches."""
    with DuckDBEngine() as duck:
        yield duck


INPUTS = {
    "known_branches": pa.table({"branch_id": pa.array(BRANCHES, pa.string())}),
    "known_clients": pa.table({"client_id": pa.array(CLIENTS, pa.string())}),
    "seen_in_batch": pa.table({"h": pa.array([], pa.uint64())}),
}
"""the rules' inputs: the branches and clients known, no id loaded before"""


def judge(
    duck: DuckDBEngine, kind: StreamKind, payloads: list[bytes | None], max_payload_bytes: int = MAX_PAYLOAD_BYTES
) -> Split:
    """Parse and judge payloads as the ingestor does (on the module's `duck`: known branches and clients, nothing seen)."""
    n = len(payloads)
    raw = pa.table(
        {
            "_payload": pa.array(payloads, pa.binary()),
            "_stream": pa.array(["file:t"] * n, pa.string()),
            "_position": pa.array(range(n), pa.int64()),
            "_batch_id": pa.array(["file:t-1"] * n, pa.string()),
        }
    )
    parsed = parse_events(duck, raw, kind.parse, max_payload_bytes)
    if kind is MESSAGING:
        parsed = recipient_keys(parsed, b"k" * 32)
    if kind is SALES:
        rules, inputs = sales_event_rules(), {k: INPUTS[k] for k in ("known_branches", "seen_in_batch")}
    else:
        rules, inputs = message_event_rules(), {k: INPUTS[k] for k in ("known_clients", "seen_in_batch")}
    return split(duck, parsed, rules, name="batch_events", now=NOW, inputs=inputs)


def with_value(event: dict, field: str, value: str | None) -> bytes:
    """The event as JSON with `field`'s value written as the JSON text `value` (None: the field left out)."""
    if value is None:
        return json.dumps({k: v for k, v in event.items() if k != field}).encode()
    return json.dumps({**event, field: "\x00"}).replace('"\\u0000"', value).encode()


UTC = timezone.utc
READ = [  # (field, JSON text, the value read)
    ("product_id", "1234", 1234),
    ("product_id", "-0", 0),  # JSON's -0 is the integer 0
    ("product_id", "9223372036854775807", 2**63 - 1),
    ("quantity", "2", Decimal("2.000")),
    ("quantity", "1.0", Decimal("1.000")),
    ("quantity", "321.5", Decimal("321.500")),
    ("quantity", "0.125", Decimal("0.125")),
    ("quantity", "1e3", Decimal("1000.000")),  # a number is read by its value: 1e3 is 1000
    ("quantity", "2.5E0", Decimal("2.500")),
    ("quantity", "999999999.999", Decimal("999999999.999")),
    ("amount", '"2450.00"', Decimal("2450.00")),
    ("amount", '"2450.5"', Decimal("2450.50")),
    ("amount", '"0"', Decimal("0.00")),
    ("amount", '"-0.00"', Decimal("0.00")),  # negative zero is zero
    ("amount", '"9999999999999999.99"', Decimal("9999999999999999.99")),
    ("event_time", '"2026-11-24T14:03:21.123456Z"', datetime(2026, 11, 24, 14, 3, 21, 123456, UTC)),
    ("event_time", '"2026-11-24T14:03:21Z"', datetime(2026, 11, 24, 14, 3, 21, tzinfo=UTC)),
    ("event_time", '"2026-11-24T11:03:21.5-03:00"', datetime(2026, 11, 24, 14, 3, 21, 500000, UTC)),
    ("event_time", '"2026-11-24T19:33:21+05:30"', datetime(2026, 11, 24, 14, 3, 21, tzinfo=UTC)),
    ("event_id", '"e-\\u00f1\\"1"', 'e-ñ"1'),  # escapes are read
    ("channel", '"ti\\u0065nda"', "tienda"),
    ("schema_version", "1", "1"),
]

INTEGER, STRING = "a JSON integer", "a JSON string"
QUANTITY, AMOUNT = "a JSON number with at most 3 decimals", "a decimal string with at most 2 decimals"
TIMESTAMP = "an ISO 8601 timestamp with Z or an offset"
NOT_OF_TYPE = {  # field: (its type as the reason names it, JSON texts that are not of it)
    "product_id": (
        INTEGER,
        [
            "321.5",
            "1e3",
            "1E2",
            "1.0",
            "-0.0",
            '"0x44f"',
            '"1234"',
            '" 12"',
            '"12 "',
            "true",
            TWO_63,
            BIG,
            '{"id": 1}',
            "[1]",
        ],
    ),
    "quantity": (
        QUANTITY,
        [
            "1.0005",
            "1e-7",
            "1e21",
            '"2"',
            '"0x44f"',
            '" 12"',
            '"12 "',
            "true",
            TWO_63,
            BIG,
            "1000000000",
            "NaN",
            "Infinity",
            '{"n": 2}',
            "[2]",
        ],
    ),
    "amount": (
        AMOUNT,
        [
            "2450.00",
            "2450",
            '"2450.005"',
            '"1e3"',
            '"0x44f"',
            '" 12"',
            '"12 "',
            '"+5"',
            '".5"',
            '"5."',
            '"007"',
            '"1,5"',
            "true",
            '"' + TWO_63 + '"',
            '"' + BIG + '"',
            '{"amount": "1"}',
            '["1"]',
        ],
    ),
    "event_time": (
        TIMESTAMP,
        [
            '"2026-11-24"',
            '"2026-11-24 14:03:21Z"',
            '"2026-11-24T14:03:21"',
            '"2026-11-24t14:03:21z"',
            '"2026-11-24T24:00:00Z"',
            '"2026-12-31T23:59:60Z"',
            '"2026-02-30T10:00:00Z"',
            '"2026-11-24T14:03:21.1234567Z"',
            '"2026-11-24T14:03:21+24:00"',
            '"2026-11-24T14:03:21+0300"',
            '" 2026-11-24T14:03:21Z"',
            '"2026-11-24T14:03:21Z "',
            '"0000-01-01T00:00:00Z"',
            "1764000000",
            "true",
            '{"t": 1}',
            '["2026-11-24T14:03:21Z"]',
        ],
    ),
    "schema_version": (INTEGER, ['"1"', "1.0", "1e0", "true", '{"v": 1}', "[1]"]),
    **{
        f: (STRING, ["1234", "1.5", "true", "false", '{"id": "x"}', '["x"]'])
        for f in ("event_id", "branch_id", "channel", "payment_type", "status")
    },
}
REJECTED = [(f, v) for f, (_, values) in NOT_OF_TYPE.items() for v in values]


@pytest.mark.parametrize(("field", "text", "value"), READ, ids=[f"{f}={t}" for f, t, _ in READ])
def test_a_sale_event_value_of_its_documented_type_is_read_exactly(duck: DuckDBEngine, field: str, text: str, value):
    result = judge(duck, SALES, [with_value(SALE, field, text)])

    assert result.quarantined.num_rows == 0, result.quarantined.select(["_rule", "_reason"]).to_pylist()
    assert result.passed[field].to_pylist() == [value]


@pytest.mark.parametrize(("field", "text"), REJECTED, ids=[f"{f}={t}" for f, t in REJECTED])
def test_a_sale_event_value_of_another_type_is_quarantined_as_type_field(duck: DuckDBEngine, field: str, text: str):
    result = judge(duck, SALES, [with_value(SALE, field, text)])

    assert result.passed.num_rows == 0
    row = result.quarantined.to_pylist()[0]
    assert (row["_rule"], row["_reason"]) == (f"type:{field}", f"{field} is not {NOT_OF_TYPE[field][0]}")
    assert row[field] is None  # never a value read some other way
    assert row["_raw"] == with_value(SALE, field, text).decode()


@pytest.mark.parametrize("field", [f for f in SALE if f != "schema_version"])
def test_a_null_or_missing_sale_event_field_is_not_null_not_a_type_error(duck: DuckDBEngine, field: str):
    result = judge(duck, SALES, [with_value(SALE, field, "null"), with_value(SALE, field, None)])

    assert [(r["_rule"], r["_reason"]) for r in result.quarantined.to_pylist()] == [
        (f"not_null:{field}", f"{field} is null")
    ] * 2


def test_a_value_of_the_type_still_meets_the_range_rules(duck: DuckDBEngine):
    result = judge(
        duck,
        SALES,
        [
            with_value(SALE, "quantity", "-0"),
            with_value(SALE, "quantity", "-1.5"),
            with_value(SALE, "amount", '"-12.50"'),
            with_value(SALE, "schema_version", "99"),
        ],
    )

    assert [(r["_rule"], r["_reason"]) for r in result.quarantined.to_pylist()] == [
        ("range:quantity", "quantity = 0.000 is not > 0"),
        ("range:quantity", "quantity = -1.500 is not > 0"),
        ("range:amount", "amount = -12.50 is not >= 0"),
        ("allowed:schema_version", "schema_version = '99' is not one of 1"),
    ]


MESSAGE_NOT_OF_TYPE = {
    "schema_version": (INTEGER, ['"1"', "1.0", "true", '{"v": 1}', "[1]"]),
    "event_time": (
        TIMESTAMP,
        [
            '"2026-11-24"',
            '"2026-11-24 14:03:21Z"',
            '"2026-11-24T14:03:21"',
            '"2026-11-24T24:00:00Z"',
            '"2026-11-24T14:03:21.1234567Z"',
            '" 2026-11-24T14:03:21Z"',
            "1764000000",
            "true",
            '{"t": 1}',
        ],
    ),
    **{
        f: (STRING, ["1234", "1.5", "true", '{"id": "x"}', '["x"]'])
        for f in (
            "event_id",
            "type",
            "message_id",
            "client_id",
            "recipient",
            "country",
            "category",
            "template",
            "status",
        )
    },
}
MESSAGE_REJECTED = [(f, v) for f, (_, values) in MESSAGE_NOT_OF_TYPE.items() for v in values]


@pytest.mark.parametrize(("field", "text"), MESSAGE_REJECTED, ids=[f"{f}={t}" for f, t in MESSAGE_REJECTED])
def test_a_message_event_value_of_another_type_is_quarantined_as_type_field(duck: DuckDBEngine, field: str, text: str):
    result = judge(duck, MESSAGING, [with_value(MESSAGE, field, text)])

    assert result.passed.num_rows == 0
    row = result.quarantined.to_pylist()[0]
    assert (row["_rule"], row["_reason"]) == (f"type:{field}", f"{field} is not {MESSAGE_NOT_OF_TYPE[field][0]}")


def test_a_message_event_of_the_documented_types_is_read_exactly(duck: DuckDBEngine):
    status = {k: v for k, v in MESSAGE.items() if k not in ("recipient", "country", "category", "template")}
    result = judge(
        duck,
        MESSAGING,
        [
            json.dumps(MESSAGE).encode(),
            json.dumps(
                {
                    **status,
                    "event_id": "m-2",
                    "type": "status",
                    "status": "read",
                    "event_time": "2026-11-24T11:03:22-03:00",
                }
            ).encode(),
        ],
    )

    assert result.quarantined.num_rows == 0
    assert result.passed.select(["schema_version", "event_id", "event_time", "type", "status"]).to_pylist() == [
        {
            "schema_version": "1",
            "event_id": "m-1",
            "event_time": datetime(2026, 11, 24, 14, 3, 21, 123456, UTC),
            "type": "send",
            "status": None,
        },
        {
            "schema_version": "1",
            "event_id": "m-2",
            "event_time": datetime(2026, 11, 24, 14, 3, 22, tzinfo=UTC),
            "type": "status",
            "status": "read",
        },
    ]


def test_sixty_events_of_a_product_id_that_is_not_an_integer_never_reach_bronze_or_gold(world: StreamWorld):
    maker = world.maker()
    good = maker.events(200, world.start, world.start + timedelta(minutes=2))
    wrong = maker.events(60, world.start, world.start + timedelta(minutes=2))
    bad = [
        e.json().replace(f'"product_id": {e.product_id}', f'"product_id": {v}')
        for e, v in zip(wrong, ["321.5", '"0x44f"', "1e3"] * 20)
    ]
    world.write([e.json() for e in good] + bad)

    done = world.ingest()

    assert (done.read, done.written, done.quarantined) == (260, 200, 60)
    assert world.gold_totals() == totals(good)
    quarantine = world.lake.read("quarantine.sales_events")
    assert set(zip(quarantine["_rule"].to_pylist(), quarantine["_reason"].to_pylist())) == {
        ("type:product_id", "product_id is not a JSON integer")
    }
    bronze = world.lake.read("bronze.sales_events")
    assert not set(bronze["event_id"].to_pylist()) & {e.event_id for e in wrong}
    assert pc.sum(pc.is_in(bronze["product_id"], pa.array([322, 1103, 1000], pa.int64()))).as_py() == sum(
        e.product_id in (322, 1103, 1000) for e in good
    )
