"""The messaging simulator: deterministic reference data, events out of order, a ledger that matches them."""

import json
import re
import time
import tomllib
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from almacen.domains.messaging.rates import Tier
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES, STATUS_RANK
from almacen.simulate.messaging import BAD_KINDS, MessageMaker, build_world, emit_messaging, write_reference

START = datetime(2026, 8, 1, tzinfo=timezone.utc)
CODES = {"AR": "+54", "BR": "+55", "CL": "+56", "CO": "+57", "MX": "+52", "PE": "+51", "US": "+1"}
HORIZON = "2026-09"  # the tests' traffic stays in August; "future_time" events are a year ahead


@pytest.fixture(scope="module")
def world():
    return build_world(40)


def _maker(world, **kw) -> MessageMaker:
    return MessageMaker(world, seed=kw.pop("seed", 11), start=START, per_second=kw.pop("per_second", 20.0), **kw)


def _valid(lines: list[tuple[str, str]], world) -> list[dict]:
    """The events a consumer would accept, each event_id once, in arrival order."""
    clients = {c.client_id for c in world.clients}
    seen, out = set(), []
    for _, line in lines:
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if e.get("schema_version") != 1 or e.get("client_id") not in clients or e["event_time"] >= HORIZON:
            continue
        if e["type"] in ("send", "inbound", "reply") and (e.get("country") not in COUNTRIES or not e.get("recipient")):
            continue
        if e["type"] == "send" and e.get("category") not in CATEGORIES:
            continue
        if e["event_id"] not in seen:
            seen.add(e["event_id"])
            out.append(e)
    return out


def _recount(lines, world) -> tuple[list[dict], list[dict]]:
    """silver.messages and gold.usage_minute recomputed from the JSON lines, plainly."""
    events = _valid(lines, world)
    best: dict[str, int] = {}
    for e in events:
        if e["type"] == "status":
            best[e["message_id"]] = max(best.get(e["message_id"], 0), STATUS_RANK[e["status"]])
    names = {rank: name for name, rank in STATUS_RANK.items()}
    messages, usage = [], Counter()
    for e in events:
        if e["type"] == "status":
            continue
        sent_at = datetime.fromisoformat(e["event_time"])
        kind = "template" if e["type"] == "send" else e["type"]
        status = {"inbound": "received", "reply": "sent"}.get(e["type"]) or names[best.get(e["message_id"], 0)]
        messages.append(
            {
                "message_id": e["message_id"],
                "client_id": e["client_id"],
                "recipient": e["recipient"],
                "country": e["country"],
                "category": e.get("category"),
                "kind": kind,
                "sent_at": sent_at,
                "status": status,
            }
        )
        if kind == "template":
            key = (sent_at.replace(second=0, microsecond=0), e["client_id"], e["category"], e["country"])
            usage[key + ("sent",)] += 1
            usage[key + ("delivered",)] += status in ("delivered", "read")
            usage[key + ("read",)] += status == "read"
            usage[key + ("failed",)] += status == "failed"
    keys = sorted({k[:4] for k in usage})
    rows = [
        {
            "minute": m,
            "day": m.date(),
            "client_id": c,
            "category": ca,
            "country": co,
            **{f: usage[(m, c, ca, co, f)] for f in ("sent", "delivered", "read", "failed")},
            "billable": usage[(m, c, ca, co, "delivered")],
        }
        for m, c, ca, co in keys
    ]
    return sorted(messages, key=lambda m: (m["sent_at"], m["message_id"])), rows


def test_the_same_seed_makes_the_same_events_however_they_are_asked_for(world):
    a, b, c = _maker(world, bad_fraction=0.02), _maker(world, bad_fraction=0.02), _maker(world, seed=12)
    whole = a.events(2000) + a.flush()
    assert b.events(700) + b.events(1) + b.events(1299) + b.flush() == whole
    assert c.events(2000) != whole[:2000]
    assert a.ledger.usage_minute() == b.ledger.usage_minute()
    assert build_world(40) == world and build_world(40, seed=8) != world


def test_events_gives_exactly_n_and_counts_them(world):
    m = _maker(world)
    assert [len(m.events(k)) for k in (0, 1, 17, 5000)] == [0, 1, 17, 5000]
    assert m.ledger.counts()["events"] == 5018


def test_the_ledger_equals_a_recount_of_the_lines_emitted_so_far_and_after_flush(world):
    m = _maker(world, bad_fraction=0.03)
    lines = m.events(8000)
    messages, usage = _recount(lines, world)
    assert m.ledger.messages().to_pylist() == messages
    assert m.ledger.usage_minute().to_pylist() == usage
    before = Counter(r["status"] for r in messages if r["kind"] == "template")
    lines += m.flush()
    messages, usage = _recount(lines, world)
    assert m.ledger.messages().to_pylist() == messages
    assert m.ledger.usage_minute().to_pylist() == usage
    after = Counter(r["status"] for r in messages if r["kind"] == "template")
    assert after["read"] > before["read"]  # reads still on their way were not counted before the flush
    counts = m.ledger.counts()
    assert counts["events"] == len(lines)
    assert counts["valid"] == len(_valid(lines, world)) - counts["orphans"]  # orphans look valid but are not
    assert counts["messages"] == len(messages)


def test_usage_minute_has_the_contract_columns_sorted(world):
    m = _maker(world)
    m.events(4000)
    usage = m.ledger.usage_minute()
    assert usage.column_names == [
        "minute",
        "day",
        "client_id",
        "category",
        "country",
        "sent",
        "delivered",
        "read",
        "failed",
        "billable",
    ]
    assert [str(t) for t in usage.schema.types] == [
        "timestamp[us, tz=UTC]",
        "date32[day]",
        "string",
        "string",
        "string",
    ] + ["int64"] * 5
    rows = usage.to_pylist()
    assert rows
    keys = [(r["minute"], r["client_id"], r["category"], r["country"]) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert all(r["billable"] == r["delivered"] >= r["read"] and r["sent"] >= r["delivered"] + r["failed"] for r in rows)


def test_after_flush_statuses_are_final_and_in_the_expected_shares(world):
    m = _maker(world, chatbot_share=0.0)
    m.events(15_000)
    m.flush()
    assert m.flush() == [] and not m._pending and not m._future
    shares = Counter(m.ledger.messages()["status"].to_pylist())
    total = sum(shares.values())
    assert abs(shares["read"] / total - 0.92 * 0.6) < 0.02
    assert abs(shares["delivered"] / total - 0.92 * 0.4) < 0.02
    assert abs(shares["failed"] / total - 0.04) < 0.01
    assert abs(shares["sent"] / total - 0.04) < 0.01


def test_arrival_is_not_time_order(world):
    m = _maker(world)
    events = [json.loads(line) for _, line in m.events(10_000) + m.flush()]
    times = [e["event_time"] for e in events]
    assert times != sorted(times)
    first: dict[tuple[str, str], int] = {}
    for i, e in enumerate(events):
        first.setdefault((e["message_id"], e.get("status", e["type"])), i)
    before_send = [
        mid for (mid, what), i in first.items() if what in ("delivered", "read", "failed") and first[(mid, "send")] > i
    ]
    read_first = [mid for (mid, what), i in first.items() if what == "read" and first[(mid, "delivered")] > i]
    assert before_send and read_first


def test_duplicates_repeat_the_same_event(world):
    m = _maker(world)
    lines = m.events(10_000) + m.flush()
    ids = Counter(json.loads(line)["event_id"] for _, line in lines)
    repeated = {i for i, k in ids.items() if k > 1}
    assert len(repeated) == m.ledger.counts()["duplicates"] > 0
    assert all(k == 2 for k in ids.values() if k > 1)
    text = Counter(line for _, line in lines)
    assert sum(k - 1 for k in text.values()) == len(repeated)  # the very same line, not just the id
    assert 0.002 < len(repeated) / len(lines) < 0.01


def test_every_bad_kind_appears_and_stays_out_of_the_ledger(world):
    m = _maker(world, bad_fraction=0.05)
    lines = m.events(8000) + m.flush()
    counts = m.ledger.counts()
    assert set(counts["bad"]) == set(BAD_KINDS) and all(counts["bad"][k] >= 10 for k in BAD_KINDS)
    assert counts["orphans"] == counts["bad"]["orphan_status"]
    seen = Counter()
    parsed = []
    for _, line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            seen["malformed_json"] += 1
    sent = {e["message_id"] for e in parsed if e["type"] == "send"}
    for e in parsed:
        seen["unknown_version"] += e["schema_version"] == 99
        seen["unknown_client"] += e["client_id"] == "c_desconocido"
        seen["unknown_country"] += e.get("country") == "XX"
        seen["unknown_category"] += e.get("category") == "promocion"
        seen["missing_field"] += e["type"] == "send" and "category" not in e
        seen["future_time"] += e["event_time"] >= "2027-08"
        seen["orphan_status"] += e["type"] == "status" and e["message_id"] not in sent
    assert dict(seen) == counts["bad"]
    ledger_ids = set(m.ledger.messages()["message_id"].to_pylist())
    assert ledger_ids == {e["message_id"] for e in _valid(lines, world) if e["type"] != "status"}
    assert counts["valid"] == len(_valid(lines, world)) - counts["orphans"]
    assert counts["events"] == counts["valid"] + counts["duplicates"] + sum(counts["bad"].values())


def test_recipients_are_phones_of_their_country_and_come_back(world):
    m = _maker(world)
    m.events(8000)
    rows = m.ledger.messages().to_pylist()
    assert rows
    assert all(
        re.fullmatch(r"\+\d{11,13}", r["recipient"]) and r["recipient"].startswith(CODES[r["country"]]) for r in rows
    )
    per_phone = Counter((r["client_id"], r["recipient"]) for r in rows)
    assert max(per_phone.values()) >= 5
    assert {r["country"] for r in rows} == set(COUNTRIES)
    assert Counter(r["country"] for r in rows).most_common(1)[0][0] == "AR"


def test_chatbot_conversations_continue_and_reopen(world):
    m = _maker(world, chatbot_share=1.0, per_second=0.5)
    m.events(3000)
    m.flush()
    rows = [r for r in m.ledger.messages().to_pylist() if r["kind"] == "inbound"]
    assert {r["category"] for r in m.ledger.messages().to_pylist()} == {None}
    last: dict[tuple[str, str], datetime] = {}
    gaps = []
    for r in rows:
        key = (r["client_id"], r["recipient"])
        if key in last:
            gaps.append(r["sent_at"] - last[key])
        last[key] = r["sent_at"]
    assert any(g < timedelta(hours=24) for g in gaps) and any(g >= timedelta(hours=24) for g in gaps)
    replies = Counter(r["kind"] for r in m.ledger.messages().to_pylist())
    assert 1 <= replies["reply"] / replies["inbound"] <= 3


def test_the_world_has_the_promised_shape(world):
    ids = [c.client_id for c in world.clients]
    assert ids == [f"c{i:05d}" for i in range(1, 41)] and len({c.name for c in world.clients}) == 40
    assert {co for c in world.clients for co, _ in c.countries} == set(COUNTRIES)
    assert sum(c.countries[0][0] == "AR" for c in world.clients) > 20
    assert all(c.contracts[0].effective_from == date(2026, 8, 1) and 1 <= len(c.contracts) <= 2 for c in world.clients)
    assert any(len(c.contracts) == 2 for c in world.clients)
    assert [p.effective_from for p in world.rate_card.periods] == [date(2026, 8, 1), date(2026, 10, 1)]
    first = world.rate_card.periods[0].prices
    assert first["marketing", "AR"][0] == Tier(0, Decimal("0.0618"))
    assert first["utility", "AR"][0] == Tier(0, Decimal("0.0260"))
    assert first["authentication", "AR"][0] == Tier(0, Decimal("0.0230"))
    assert {len(t) for t in first.values()} == {1, 2, 3}
    with pytest.raises(ValueError, match="first day of a month"):
        build_world(3, start=date(2026, 8, 2))


def test_write_reference_writes_the_contracts_toml(world, tmp_path):
    clients_path, rates_path = write_reference(world, tmp_path / "ref")
    assert (clients_path.name, rates_path.name) == ("clients.toml", "rates.toml")
    clients = tomllib.loads(clients_path.read_text(encoding="utf-8"))
    assert list(clients) == ["client"] and len(clients["client"]) == 40
    for c, expected in zip(clients["client"], world.clients):
        assert set(c) == {"id", "name", "contract"} and re.fullmatch(r"[a-z0-9_-]+", c["id"])
        assert (c["id"], c["name"]) == (expected.client_id, expected.name)
        for k, kept in zip(c["contract"], expected.contracts, strict=True):
            assert set(k) == {"effective_from", "free_messages", "discount_pct"}
            assert k["effective_from"] == kept.effective_from.isoformat() and k["effective_from"].endswith("-01")
            assert isinstance(k["free_messages"], int) and re.fullmatch(r"\d{1,3}\.\d\d", k["discount_pct"])
    rates = tomllib.loads(rates_path.read_text(encoding="utf-8"))
    assert set(rates) == {"currency", "period"} and rates["currency"] == "USD"
    assert [p["effective_from"] for p in rates["period"]] == ["2026-08-01", "2026-10-01"]
    for period in rates["period"]:
        pairs = {(p["category"], p["country"]) for p in period["price"]}
        assert pairs == {(a, b) for a in CATEGORIES for b in COUNTRIES}
        for p in period["price"]:
            froms = [f for f, _ in p["tiers"]]
            assert froms[0] == 0 and froms == sorted(set(froms))
            assert all(isinstance(u, str) and re.fullmatch(r"\d+\.\d{1,6}", u) for _, u in p["tiers"])
            prices = [Decimal(u) for _, u in p["tiers"]]
            assert prices == sorted(prices, reverse=True) and prices[-1] > 0
    ar = next(p for p in rates["period"][0]["price"] if (p["category"], p["country"]) == ("marketing", "AR"))
    assert ar["tiers"][0] == [0, "0.0618"]


def test_emit_messaging_paces_events_by_the_wall_clock(world):
    m = MessageMaker(world, seed=3, start=None)
    batches: list[list[tuple[str, str]]] = []
    began = time.time()
    sent = emit_messaging(m, batches.append, 2000.0, 0.3)
    lines = [line for batch in batches for _, line in batch]
    assert sent == len(lines) == m.ledger.counts()["events"] and 500 <= sent <= 600
    times = [datetime.fromisoformat(json.loads(line)["event_time"]) for line in lines]
    began, now = datetime.fromtimestamp(began, timezone.utc), datetime.now(timezone.utc)
    assert all(began - timedelta(seconds=1) <= t <= now + timedelta(seconds=1) for t in times)


def test_the_reference_files_load_back_as_the_worlds_own_rate_card_and_accounts(world, tmp_path):
    from almacen.domains.messaging.rates import load_clients, load_rate_card

    clients_path, rates_path = write_reference(world, tmp_path / "ref")

    assert load_rate_card(rates_path) == world.rate_card
    assert load_clients(clients_path) == world.accounts()
