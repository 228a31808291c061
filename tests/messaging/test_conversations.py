"""gold.conversations from the stream equals the 24-hour rule applied to the simulator's own messages,
whatever order the messages arrived in."""

from __future__ import annotations

import random

import pyarrow as pa

from almacen.domains.messaging.build import build_messaging
from almacen.domains.messaging.conversations import conversations_py
from almacen.security.pseudonym import pseudonymise
from tests.messaging.conftest import MessagingWorld, lines, made


def _truth(mworld: MessagingWorld, maker) -> pa.Table:
    """The ledger's messages with the recipient pseudonymised as the lake holds it, through the Python rule."""
    messages = maker.ledger.messages()
    keyed = messages.set_column(
        messages.schema.get_field_index("recipient"),
        "recipient_key",
        pseudonymise(messages["recipient"], mworld.settings.key()),
    )
    return conversations_py(keyed)


def test_conversations_equal_the_rule_over_the_simulators_messages_under_shuffled_arrival(mworld: MessagingWorld):
    maker = mworld.maker(per_second=0.05, chatbot_share=0.6)  # days of traffic: windows close and reopen
    shuffled = lines(made(maker, 3_000))
    random.Random(17).shuffle(shuffled)
    mworld.write(shuffled, file_events=300)
    mworld.ingest(max_batch_events=600)

    counts = build_messaging(mworld.settings)

    truth = _truth(mworld, maker)
    gold = mworld.lake.read("gold.conversations").sort_by("conversation_id")
    assert counts["gold.conversations"] == truth.num_rows
    assert gold.select(truth.column_names).cast(truth.schema).equals(truth.sort_by("conversation_id"))
    assert {"service", "marketing", "utility"} <= set(gold["category"].to_pylist())
    assert sum(gold["messages"].to_pylist()) > gold.num_rows  # windows hold several messages


def test_daily_and_monthly_conversations_add_up_to_the_conversations(mworld: MessagingWorld):
    maker = mworld.maker(per_second=0.05, chatbot_share=0.6)
    mworld.write(lines(made(maker, 2_000)))
    mworld.ingest()

    build_messaging(mworld.settings)

    conversations = mworld.lake.read("gold.conversations")
    daily, monthly = mworld.lake.read("gold.conversations_daily"), mworld.lake.read("gold.conversations_monthly")
    assert (
        sum(daily["conversations"].to_pylist()) == sum(monthly["conversations"].to_pylist()) == conversations.num_rows
    )
    assert sum(daily["messages"].to_pylist()) == sum(conversations["messages"].to_pylist())
