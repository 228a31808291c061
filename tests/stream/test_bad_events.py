"""Each kind of bad event is quarantined with its rule and reason; the stream goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from almacen.simulate.events import BAD_KINDS
from tests.stream.conftest import StreamWorld, totals

EXPECTED = {
    "malformed_json": ("parsed", "the payload is not a JSON object (malformed JSON)"),
    "unknown_version": ("allowed:schema_version", "schema_version = '99' is not one of 1"),
    "missing_field": ("not_null:payment_type", "payment_type is null"),
    "wrong_type": ("type:quantity", "quantity is not a JSON number with at most 3 decimals"),
    "negative_amount": ("range:amount", "amount = -{amount} is not >= 0"),
    "unknown_branch": ("references:branch_id", "branch_id = sucursal_inexistente is not a branch in the config"),
    "future_time": ("not_future:event_time", "event_time = {future} is in the future"),
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_bad_event_is_quarantined_with_its_reason_and_the_good_ones_land(world: StreamWorld, kind: str):
    maker = world.maker()
    good = maker.events(20, world.start, world.start + timedelta(minutes=1))
    victim = maker.events(1, world.start, world.start + timedelta(seconds=1))[0]
    bad_line = maker.bad_line(kind, victim)
    world.write([e.json() for e in good[:10]] + [bad_line] + [e.json() for e in good[10:]])

    done = world.ingest()

    assert (done.read, done.written, done.quarantined) == (21, 20, 1)
    assert world.gold_totals() == totals(good)
    row = world.lake.read("quarantine.sales_events").to_pylist()[0]
    rule, reason = EXPECTED[kind]
    future = (victim.event_time + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    assert (row["_rule"], row["_reason"]) == (rule, reason.format(amount=victim.amount, future=future))
    assert row["_raw"] == bad_line
    assert row["_batch_id"] == "file:sim-000000000001.jsonl"


def test_every_kind_of_bad_event_is_covered():
    assert set(EXPECTED) | {"duplicate_id"} == set(BAD_KINDS)


def test_a_payload_that_is_not_utf8_is_quarantined(world: StreamWorld):
    good = world.maker().events(5, world.start, world.start + timedelta(minutes=1))
    world.landing.mkdir(parents=True, exist_ok=True)
    (world.landing / "raw-000000000001.jsonl").write_bytes(
        b"\n".join([good[0].json().encode(), b'{"event_id": "\xff\xfe"}', *(e.json().encode() for e in good[1:])])
        + b"\n"
    )

    done = world.ingest()

    assert (done.written, done.quarantined) == (5, 1)
    row = world.lake.read("quarantine.sales_events").to_pylist()[0]
    assert (row["_rule"], row["_reason"]) == ("parsed", "the payload is not valid UTF-8 text")
    assert row["_raw"] == '{"event_id": "\\xff\\xfe"}'  # the bytes kept, escaped


def test_duplicates_inside_one_batch_are_counted_once(world: StreamWorld):
    maker = world.maker()
    lines = maker.lines(400, world.start, world.start + timedelta(minutes=2), bad_fraction=0.0)
    events = maker.events(1, world.start, world.start + timedelta(seconds=1))
    world.write([line for _, line in lines] + [events[0].json()] * 3)

    done = world.ingest()

    assert (done.written, done.quarantined) == (401, 2)
