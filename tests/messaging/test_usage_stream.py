"""Message events into bronze.message_events exactly once, and gold.usage_minute exact per minute."""

from __future__ import annotations

import json
import random
import signal

import pyarrow.compute as pc
import pytest

from almacen.domains.messaging.build import build_messaging, pending_statuses, usage_check
from almacen.domains.messaging.usage import UsageMinutes
from tests.messaging.conftest import MessagingWorld, lines, made, same_usage
from tests.stream.test_exactly_once import run_child


def test_usage_per_minute_equals_the_simulators_ledger(mworld: MessagingWorld):
    maker = mworld.maker()
    events = made(maker, 6_000)
    mworld.write(lines(events), file_events=500)

    done = mworld.ingest(max_batch_events=1_000)

    counts = maker.ledger.counts()
    assert done.read == len(events) == counts["events"]
    assert done.written == counts["valid"]
    assert done.quarantined == counts["duplicates"]
    assert mworld.lake.read("bronze.message_events").num_rows == counts["valid"]
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_usage_is_the_same_whatever_order_the_events_arrive_in(mworld: MessagingWorld):
    maker = mworld.maker()
    shuffled = lines(made(maker, 4_000))
    random.Random(11).shuffle(shuffled)
    mworld.write(shuffled, file_events=250)

    mworld.ingest(max_batch_events=300)

    assert same_usage(mworld.usage(), maker.ledger.usage_minute())
    kept, fresh = usage_check(mworld.settings)
    assert kept.equals(fresh)


def test_a_status_that_overtakes_its_send_waits_and_is_matched_when_the_send_arrives(mworld: MessagingWorld):
    maker = mworld.maker()
    events = lines(made(maker, 600))
    statuses = [e for e in events if '"type": "status"' in e]
    rest = [e for e in events if '"type": "status"' not in e]
    mworld.write(statuses, writer="a")
    mworld.ingest()
    assert pending_statuses(mworld.settings).num_rows == len({json.loads(e)["event_id"] for e in statuses})
    assert mworld.lake.read("gold.usage_minute") is None or pc.sum(mworld.usage()["billable"]).as_py() in (0, None)

    mworld.write(rest, writer="b")
    mworld.ingest()

    assert pending_statuses(mworld.settings).num_rows == 0
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_a_restart_resumes_where_the_lake_says_and_counts_every_message_once(mworld: MessagingWorld):
    maker = mworld.maker()
    events = lines(made(maker, 5_000))
    mworld.write(events[:2_500], writer="a", file_events=500)
    mworld.ingest(max_batch_events=700)
    mworld.write(events[2_500:], writer="b", file_events=500)

    done = mworld.ingest(max_batch_events=700)

    assert done.read == len(events) - 2_500
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_gold_left_behind_by_a_crash_after_the_bronze_commit_is_completed_from_bronze(
    mworld: MessagingWorld, monkeypatch
):
    maker = mworld.maker()
    events = lines(made(maker, 3_000))
    mworld.write(events[:1_500], writer="a")
    mworld.ingest()
    mworld.write(events[1_500:], writer="b")

    def crash(self, touched, positions, batch_max):
        raise KeyboardInterrupt("killed between the bronze and the gold commits")

    with monkeypatch.context() as m:
        m.setattr(UsageMinutes, "_commit", crash)
        with pytest.raises(KeyboardInterrupt):
            mworld.ingest()
    assert mworld.lake.read("bronze.message_events").num_rows == maker.ledger.counts()["valid"]

    done = mworld.ingest()

    assert done.read == 0
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())


def test_silver_keeps_one_row_per_message_with_its_final_status(mworld: MessagingWorld):
    maker = mworld.maker()
    shuffled = lines(made(maker, 3_000))
    random.Random(5).shuffle(shuffled)
    mworld.write(shuffled)
    mworld.ingest()

    counts = build_messaging(mworld.settings)

    truth = maker.ledger.messages()
    silver = mworld.lake.read("silver.messages").sort_by("message_id")
    assert counts["silver.messages"] == truth.num_rows
    expected = truth.sort_by("message_id")
    assert silver["message_id"].to_pylist() == expected["message_id"].to_pylist()
    assert silver["status"].to_pylist() == expected["status"].to_pylist()
    assert silver["kind"].to_pylist() == expected["kind"].to_pylist()
    assert "recipient" not in silver.column_names
    assert "recipient" not in mworld.lake.read("bronze.message_events").column_names


def test_a_status_for_a_message_already_dropped_from_memory_is_matched_from_bronze(mworld: MessagingWorld, monkeypatch):
    import almacen.domains.messaging.usage as usage

    monkeypatch.setattr(usage, "EVICT_EVERY_S", 0.0)  # evict after every batch
    messaging = mworld.settings.messaging.model_copy(update={"status_horizon_days": 1})
    mworld.settings = mworld.settings.model_copy(update={"messaging": messaging})
    maker = mworld.maker(per_second=0.02)  # about four days of traffic
    events = lines(made(maker, 2_000))
    sends = [e for e in events if '"type": "status"' not in e]
    statuses = [e for e in events if '"type": "status"' in e]
    mworld.write(sends, writer="a")
    mworld.ingest(max_batch_events=200)  # the sends of the first days are evicted as later ones arrive
    mworld.write(statuses, writer="b")

    mworld.ingest(max_batch_events=200)

    assert same_usage(mworld.usage(), maker.ledger.usage_minute())
    assert pending_statuses(mworld.settings).num_rows == 0


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_around_the_quarantine_commit_then_smaller_batches_quarantine_each_duplicate_once(
    mworld: MessagingWorld, tmp_path, when: str
):
    maker = mworld.maker()
    events = lines(made(maker, 4_000))
    mworld.write(events, file_events=250)
    configs = []
    for name, size in (("big", 1_000), ("small", 250)):  # the restart reads the killed batch cut smaller
        cfg = mworld.settings.messaging.stream.model_copy(update={"max_batch_events": size, "trigger_seconds": 0.3})
        settings = mworld.settings.model_copy(
            update={"messaging": mworld.settings.messaging.model_copy(update={"stream": cfg})}
        )
        configs.append(tmp_path / f"{name}.json")
        configs[-1].write_text(settings.model_dump_json())

    killed = run_child(configs[0], "messaging", "quarantine.message_events", "2", when)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    final = run_child(configs[1], "messaging")
    assert final.returncode == 0, final.stderr[-3000:]

    counts = maker.ledger.counts()
    quarantined = mworld.lake.read("quarantine.message_events")
    assert quarantined.num_rows == counts["duplicates"] > 0
    assert len(set(quarantined["_raw"].to_pylist())) == quarantined.num_rows  # no duplicate quarantined twice
    assert mworld.lake.read("bronze.message_events").num_rows == counts["valid"]
    assert same_usage(mworld.usage(), maker.ledger.usage_minute())
