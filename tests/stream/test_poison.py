"""No message stops the stream: every payload becomes an event or a quarantined row with its own reason.

A Kafka tombstone (a null value) in a batch that also held bytes that are not UTF-8 crashed the
payload decoding on every restart, so nothing after it was ever ingested. Here: each kind of poison
payload with its exact reason, for both kinds of event; a property over arbitrary batches of
arbitrary bytes; the landing folder's empty lines and files that are not UTF-8; and a real Kafka
topic of the simulator's poison messages among valid events, consumed across a restart.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pyarrow.compute as pc
import pytest
from confluent_kafka import Consumer, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from almacen.config import KafkaSettings
from almacen.config.stream import MAX_PAYLOAD_BYTES
from almacen.engine import DuckDBEngine
from almacen.domains.messaging import MESSAGING
from almacen.domains.sales import SALES
from almacen.ingest.kinds import StreamKind
from almacen.simulate.events import KAFKA_ONLY, POISON_KINDS, Event, parse_kinds
from almacen.sources.kafka import KafkaSink, ensure_topic
from tests.stream.conftest import BRANCHES as CHAIN
from tests.stream.conftest import StreamWorld, totals
from tests.stream.test_types import MESSAGE, NOT_OF_TYPE, SALE, judge, with_value

TOMBSTONE = ("parsed", "no payload: a null value (a Kafka tombstone)")
EMPTY = ("parsed", "the payload is empty")
NOT_UTF8 = ("parsed", "the payload is not valid UTF-8 text")
MALFORMED = ("parsed", "the payload is not a JSON object (malformed JSON)")
TOO_LARGE = ("parsed", f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")


def got(what: str) -> tuple[str, str]:
    return ("parsed", f"the payload is not a JSON object: got {what}")


REASONS = {  # the simulator's poison kinds (null_key: a valid event without a key, it lands)
    "tombstone": TOMBSTONE,
    "empty": EMPTY,
    "binary": NOT_UTF8,
    "invalid_utf8": NOT_UTF8,
    "json_array": got("an array"),
    "json_scalar": got("a string"),
    "oversized": TOO_LARGE,
}


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as duck:
        yield duck


def poison(event: dict) -> list[tuple[bytes | None, tuple[str, str]]]:
    """Every kind of payload that is no event, with the rule and reason it must be quarantined with."""
    text = json.dumps(event)
    return [
        (None, TOMBSTONE),
        (b"", EMPTY),
        (b"\x00\x00\x00\x00\x07\xc3\x28\xff\xfe binary", NOT_UTF8),
        ((text[:-1] + ', "nota": "ma\xf1ana"}').encode("latin-1"), NOT_UTF8),
        (b"\xef\xbb\xbf" + text.encode(), MALFORMED),  # a BOM is not JSON (the landing source drops a file's)
        (f"[{text}]".encode(), got("an array")),
        (b"[]", got("an array")),
        (json.dumps(text).encode(), got("a string")),
        (b"42", got("a number")),
        (b"-1.5e3", got("a number")),
        (b"true", got("a boolean")),
        (b"null", got("null")),
        (b"{", MALFORMED),
        (text[:-1].encode(), MALFORMED),
        (text.encode() + b" {}", MALFORMED),
        (b"   ", MALFORMED),
        (b"\x00", MALFORMED),
        (b"{" * 100_000, MALFORMED),
        ((text[:-1] + ', "relleno": "' + "x" * MAX_PAYLOAD_BYTES + '"}').encode(), TOO_LARGE),
    ]


@pytest.mark.parametrize("kind", [SALES, MESSAGING], ids=["sales", "messaging"])
def test_every_poison_payload_in_one_batch_is_quarantined_with_its_own_reason(duck: DuckDBEngine, kind: StreamKind):
    event = SALE if kind is SALES else MESSAGE
    bad = poison(event)
    good = [json.dumps({**event, "event_id": f"ok-{i}"}).encode() for i in range(3)]
    payloads = [good[0], *[p for p, _ in bad[:8]], good[1], *[p for p, _ in bad[8:]], good[2]]

    result = judge(duck, kind, payloads)

    assert result.passed["event_id"].to_pylist() == ["ok-0", "ok-1", "ok-2"]
    assert [(r["_rule"], r["_reason"]) for r in result.quarantined.to_pylist()] == [r for _, r in bad]
    assert result.quarantined["_raw"].to_pylist() == [
        None if p is None else p.decode("utf-8", errors="backslashreplace") for p, _ in bad
    ]


def test_a_payload_of_exactly_the_limit_is_read_and_one_byte_more_is_not(duck: DuckDBEngine):
    head = json.dumps(SALE)[:-1] + ', "relleno": "'
    at_limit = (head + "x" * (500 - len(head) - 2) + '"}').encode()
    over = (head + "x" * (501 - len(head) - 2) + '"}').encode()
    assert (len(at_limit), len(over)) == (500, 501)

    result = judge(duck, SALES, [at_limit, over.replace(b'"e-1"', b'"e-2"')], max_payload_bytes=500)

    assert result.passed["event_id"].to_pylist() == ["e-1"]
    assert [(r["_rule"], r["_reason"]) for r in result.quarantined.to_pylist()] == [
        ("parsed", "the payload is larger than 500 bytes")
    ]


# -- any bytes at all ------------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(sorted({v for _, values in NOT_OF_TYPE.values() for v in values})).map(json.loads),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
TEXTS = [v for _, values in NOT_OF_TYPE.values() for v in values]


def _events(event: dict) -> st.SearchStrategy[bytes]:
    """The kind's valid event with one field missing, replaced by any JSON value, or by a tricky text."""
    fields = st.sampled_from(sorted(event))
    return st.one_of(
        st.just(json.dumps(event).encode()),
        st.builds(lambda f, v: json.dumps({**event, f: v}).encode(), fields, JSON_VALUES),
        st.builds(lambda f, t: with_value(event, f, t), fields, st.sampled_from(TEXTS) | st.none()),
    )


def _payloads(event: dict) -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.just(b""),
        st.binary(max_size=48),
        st.text(max_size=24).map(lambda t: t.encode()),
        JSON_VALUES.map(lambda v: json.dumps(v).encode()),
        _events(event),
        _events(event).map(lambda b: b[: len(b) // 2] + b"\xff" + b[len(b) // 2 :]),
    )


def _holds_for(duck: DuckDBEngine, kind: StreamKind, payloads: list[bytes | None]) -> None:
    """In = passed + quarantined, each payload once; every quarantined row names a rule and a reason;
    a passed row is a complete event; a null payload is a tombstone, never anything else."""
    result = judge(duck, kind, payloads)
    rows = result.passed.num_rows + result.quarantined.num_rows
    assert rows == len(payloads)
    positions = result.passed["_position"].to_pylist() + result.quarantined["_position"].to_pylist()
    assert sorted(positions) == list(range(len(payloads)))
    assert result.quarantined["_rule"].null_count == result.quarantined["_reason"].null_count == 0
    assert result.passed["_parse_error"].null_count == result.passed.num_rows
    assert pc.sum(pc.list_value_length(result.passed["_untyped"])).as_py() in (None, 0)
    assert all(result.passed[f].null_count == 0 for f in ("event_id", "event_time"))
    tombstones = {i for i, p in enumerate(payloads) if p is None}
    got_tombstones = {r["_position"] for r in result.quarantined.to_pylist() if r["_reason"] == TOMBSTONE[1]}
    assert got_tombstones == tombstones
    for position in result.passed["_position"].to_pylist():  # Python's JSON reader agrees on every type
        event = json.loads(payloads[position])
        assert all(_of_type(event.get(f), t) for f, t in TYPES[kind.name].items()), event


TYPES = {  # each field's JSON type, as Python reads it (None: absent, allowed where the rules allow it)
    "sales": {
        "schema_version": int,
        "event_id": str,
        "event_time": str,
        "branch_id": str,
        "channel": str,
        "product_id": int,
        "quantity": (int, float),
        "amount": str,
        "payment_type": str,
        "status": str,
    },
    "messaging": {"schema_version": int, **{f: str for f in MESSAGE if f != "schema_version"}, "status": str},
}


def _of_type(value: object, types: type | tuple[type, ...]) -> bool:
    return value is None or (isinstance(value, types) and not isinstance(value, bool))


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(payloads=st.lists(_payloads(SALE), max_size=30))
def test_any_batch_of_any_bytes_parses_and_judges_without_losing_a_sale_event(duck: DuckDBEngine, payloads):
    _holds_for(duck, SALES, payloads)


@settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(payloads=st.lists(_payloads(MESSAGE), max_size=30))
def test_any_batch_of_any_bytes_parses_and_judges_without_losing_a_message_event(duck: DuckDBEngine, payloads):
    _holds_for(duck, MESSAGING, payloads)


# -- the landing folder --------------------------------------------------------------------------
def test_empty_lines_and_lines_that_are_not_utf8_in_a_landing_file_are_quarantined(world: StreamWorld):
    good = world.maker().events(6, world.start, world.start + timedelta(minutes=1))
    latin1 = (good[5].json()[:-1] + ', "nota": "mañana"}').encode("latin-1")
    world.landing.mkdir(parents=True, exist_ok=True)
    (world.landing / "pos-000000000001.jsonl").write_bytes(
        b"\n".join([good[0].json().encode(), b"", good[1].json().encode(), b"", b"", latin1]) + b"\n"
    )
    (world.landing / "pos-000000000002.jsonl").write_bytes(  # a Windows tool: BOM and CRLF
        b"\xef\xbb\xbf" + b"\r\n".join([good[2].json().encode(), b"", good[3].json().encode()]) + b"\r\n"
    )
    (world.landing / "pos-000000000003.jsonl").write_bytes(good[4].json().encode())  # no final newline

    done = world.ingest()

    assert (done.read, done.written, done.quarantined) == (10, 5, 5)
    assert world.gold_totals() == totals(good[:5])
    rows = world.lake.read("quarantine.sales_events").sort_by([("_batch_id", "ascending")]).to_pylist()
    assert [(r["_batch_id"], r["_rule"], r["_reason"]) for r in rows] == [
        ("file:pos-000000000001.jsonl", *EMPTY)
    ] * 3 + [("file:pos-000000000001.jsonl", *NOT_UTF8), ("file:pos-000000000002.jsonl", *EMPTY)]
    assert rows[3]["_raw"] == latin1.decode("utf-8", errors="backslashreplace")


def test_the_configured_payload_limit_is_the_one_the_stream_applies(world: StreamWorld):
    """`stream.max_payload_bytes` reaches the ingestor: a line one byte over it is quarantined, not parsed."""
    good = world.maker().events(2, world.start, world.start + timedelta(minutes=1))
    limit = len(good[0].json().encode())
    world.write([good[0].json(), good[1].json()[:-1] + ', "nota": "' + "x" * limit + '"}'])

    done = world.ingest(max_payload_bytes=limit)

    assert (done.read, done.written, done.quarantined) == (2, 1, 1)
    assert world.gold_totals() == totals(good[:1])
    rows = world.lake.read("quarantine.sales_events").to_pylist()
    assert [(r["_rule"], r["_reason"]) for r in rows] == [("parsed", f"the payload is larger than {limit} bytes")]


def test_the_simulator_writes_every_landing_poison_kind_and_its_ledger_is_the_truth(world: StreamWorld):
    kinds = parse_kinds("poison", kafka=False)
    assert set(kinds) == set(POISON_KINDS) - KAFKA_ONLY
    maker = world.maker()
    lines = maker.lines(2_000, world.start, world.start + timedelta(minutes=5), bad_fraction=0.02, kinds=kinds)
    world.write([line for _, line in lines])

    done = world.ingest()

    ledger = maker.ledger
    assert all(ledger.messages[k] >= 3 for k in kinds)
    assert (done.read, done.written, done.quarantined) == (len(lines), ledger.events, ledger.quarantined)
    quarantine = world.lake.read("quarantine.sales_events")
    expected = Counter({REASONS[k]: n for k, n in ledger.messages.items() if k in REASONS and k != "binary"})
    expected[NOT_UTF8] += ledger.messages["binary"]
    assert Counter(zip(quarantine["_rule"].to_pylist(), quarantine["_reason"].to_pylist())) == expected
    bronze = world.lake.read("bronze.sales_events")
    assert (bronze.num_rows, pc.sum(bronze["amount"]).as_py()) == (ledger.events, ledger.amount)


# -- a real Kafka broker -------------------------------------------------------------------------
@pytest.fixture
def kworld(world: StreamWorld, kafka_bootstrap: str) -> StreamWorld:
    """The world reading a fresh three-partition topic."""
    kafka = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic=f"t.{uuid.uuid4().hex[:10]}")
    ensure_topic(kafka, partitions=3)
    stream = world.settings.stream.model_copy(update={"source": "kafka", "kafka": kafka, "max_batch_events": 500})
    world.settings = world.settings.model_copy(update={"stream": stream})
    return world


def _produce(world: StreamWorld, messages: list) -> None:
    sink = KafkaSink(world.settings.stream.kafka)
    sink.write(messages)
    sink.close()


def _ends(world: StreamWorld) -> dict[int, int]:
    """The last offset of each partition holding messages, as the broker says."""
    kafka = world.settings.stream.kafka
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": "poison-test"})
    try:
        marks = {p: consumer.get_watermark_offsets(TopicPartition(kafka.topic, p), timeout=10) for p in range(3)}
    finally:
        consumer.close()
    return {p: high - 1 for p, (_, high) in marks.items() if high > 0}


def test_poison_messages_from_kafka_are_quarantined_and_the_stream_goes_past_them_across_restarts(kworld: StreamWorld):
    maker = kworld.maker()
    good = maker.events(600, kworld.start, kworld.start + timedelta(minutes=4))
    victims = maker.events(len(POISON_KINDS), kworld.start, kworld.start + timedelta(minutes=4))
    bad = {
        kind: ((None if kind == "null_key" else e.branch_id), maker.bad_line(kind, e))
        for kind, e in zip(POISON_KINDS, victims)
    }
    assert len(bad["oversized"][1]) == MAX_PAYLOAD_BYTES + 1
    messages = [(e.branch_id, e.json()) for e in good]
    for i, kind in enumerate(POISON_KINDS):  # among the valid events, and last of all
        messages.insert(70 * i + 35, bad[kind])
    messages += [(b, bad["tombstone"][1]) for b in CHAIN] + [(b, b"\xff\xfe") for b in CHAIN]
    _produce(kworld, messages)

    first = kworld.ingest()

    valid = good + [victims[POISON_KINDS.index("null_key")]]
    n_bad = len(POISON_KINDS) - 1 + 2 * len(CHAIN)
    assert (first.read, first.written, first.quarantined) == (len(messages), len(valid), n_bad)
    _check_lake(
        kworld,
        valid,
        [v for k, (_, v) in bad.items() if k != "null_key"] + [None] * len(CHAIN) + [b"\xff\xfe"] * len(CHAIN),
    )
    topic = kworld.settings.stream.kafka.topic
    ends = _ends(kworld)
    for p, last in ends.items():  # the positions are past the last message, poison or not
        assert kworld.lake.transaction_version("bronze.sales_events", f"almacen-stream:kafka:{topic}:{p}") == last

    # restart: the next ingestor resumes past the poison, and reads what came since
    more = maker.lines(
        400,
        kworld.start + timedelta(minutes=4),
        kworld.start + timedelta(minutes=7),
        bad_fraction=0.05,
        kinds=POISON_KINDS,
    )
    _produce(kworld, more)
    second = kworld.ingest()
    third = kworld.ingest()

    ledger = maker.ledger
    assert (second.read, second.written, second.quarantined) == (len(more), ledger.events, ledger.quarantined)
    assert ledger.messages["tombstone"] > 0 and ledger.messages["oversized"] > 0
    assert (third.read, third.written, third.quarantined) == (0, 0, 0)
    bronze = kworld.lake.read("bronze.sales_events")
    assert bronze.num_rows == len(set(bronze["event_id"].to_pylist())) == len(valid) + ledger.events
    assert kworld.gold_totals() == (len(valid) + ledger.events, totals(valid)[1] + ledger.amount)
    quarantine = kworld.lake.read("quarantine.sales_events")
    assert quarantine.num_rows == n_bad + ledger.quarantined


def _check_lake(world: StreamWorld, valid: list[Event], poisoned: list[bytes | str | None]) -> None:
    """Bronze holds exactly the valid events; quarantine exactly the poison, each with its reason and raw."""
    bronze = world.lake.read("bronze.sales_events")
    assert sorted(bronze["event_id"].to_pylist()) == sorted(e.event_id for e in valid)
    assert world.gold_totals() == totals(valid)
    quarantine = world.lake.read("quarantine.sales_events")
    raw = [
        None if v is None else v.decode("utf-8", errors="backslashreplace") if isinstance(v, bytes) else v
        for v in poisoned
    ]
    expected = Counter(
        zip(
            raw,
            [REASONS[k][1] for k in POISON_KINDS if k != "null_key"]
            + [TOMBSTONE[1]] * len(CHAIN)
            + [NOT_UTF8[1]] * len(CHAIN),
        )
    )
    assert Counter(zip(quarantine["_raw"].to_pylist(), quarantine["_reason"].to_pylist())) == expected
    assert set(quarantine["_rule"].to_pylist()) == {"parsed"}
