"""What a client's system can get wrong in a message event is quarantined with its reason, never dropped."""

from __future__ import annotations

import pyarrow.compute as pc

from almacen.domains.messaging.build import pending_statuses
from tests.messaging.conftest import MessagingWorld, lines, made, same_usage

REASONS = {
    "malformed_json": ("parsed", "the payload is not a JSON object (malformed JSON)"),
    "unknown_version": ("allowed:schema_version", "schema_version = '99' is not one of 1"),
    "unknown_client": ("references:client_id", "client_id = c_desconocido is not a known client account"),
    "unknown_country": ("allowed:country", "country = 'XX' is not one of AR, BR, CL, CO, MX, PE, US"),
    "unknown_category": ("allowed:category", "category = 'promocion' is not one of authentication, marketing, utility"),
    "missing_field": ("not_null:category", "category is null (required when type = 'send')"),
    "future_time": ("not_future:event_time", None),
}


def test_every_defective_event_is_quarantined_with_the_rule_and_reason_it_failed(mworld: MessagingWorld):
    maker = mworld.maker(bad_fraction=0.05)
    events = made(maker, 4_000)
    mworld.write(lines(events))

    done = mworld.ingest()

    counts = maker.ledger.counts()
    quarantine = mworld.lake.read("quarantine.message_events")
    by_rule = dict(zip(*quarantine.group_by("_rule").aggregate([("_rule", "count")]).to_pydict().values()))
    for kind, (rule, reason) in REASONS.items():
        assert counts["bad"][kind] > 0, kind
        rows = quarantine.filter(pc.equal(quarantine["_rule"], rule))
        assert rows.num_rows == counts["bad"][kind], kind
        if reason:
            assert set(rows["_reason"].to_pylist()) == {reason}
    assert by_rule["unique:event_id"] + by_rule.get("not_seen:event_id", 0) == counts["duplicates"]
    assert done.read == done.written + done.quarantined
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_a_status_for_a_message_never_sent_is_kept_pending_and_reported(mworld: MessagingWorld):
    maker = mworld.maker(bad_fraction=0.05)
    mworld.write(lines(made(maker, 2_000)))
    mworld.ingest()

    pending = pending_statuses(mworld.settings)

    assert pending.num_rows == maker.ledger.counts()["orphans"] > 0
    assert set(pending["status"].to_pylist()) == {"delivered"}
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_a_duplicate_event_arriving_in_a_later_batch_is_quarantined_as_already_loaded(mworld: MessagingWorld):
    maker = mworld.maker()
    events = lines(made(maker, 500))
    mworld.write(events, writer="a")
    mworld.ingest()
    mworld.write(events[:50], writer="b")

    done = mworld.ingest()

    assert (done.read, done.written, done.quarantined) == (50, 0, 50)
    rules = set(mworld.lake.read("quarantine.message_events")["_rule"].to_pylist())
    assert "not_seen:event_id" in rules
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_the_raw_phone_number_never_reaches_the_lake_outside_quarantine(mworld: MessagingWorld):
    maker = mworld.maker()
    mworld.write(lines(made(maker, 300)))
    mworld.ingest()

    bronze = mworld.lake.read("bronze.message_events")
    phones = set(maker.ledger.messages()["recipient"].to_pylist())
    assert "recipient" not in bronze.column_names
    keys = set(bronze["recipient_key"].drop_null().to_pylist())
    assert len(keys) == len(phones) and not keys & phones
