"""Invoices: hand-worked examples (the one of docs/billing.md among them), and the SQL twin proven equal
to the Python reference, to the cent, on generated usage, rate cards and contracts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import event, given, seed, settings
from hypothesis import strategies as st

from almacen.domains.messaging.invoice import (
    INVOICE_SCHEMA,
    LINE_SCHEMA,
    InvoiceError,
    invoice_month_py,
    invoice_month_sql,
    register_inputs,
)
from almacen.domains.messaging.rates import (
    ClientAccount,
    Contract,
    RateCard,
    RateCardError,
    RatePeriod,
    Tier,
    clients_to_tables,
    contract_in_force,
    contracts_from_table,
    load_clients,
    load_rate_card,
)
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES
from almacen.domains.messaging.usage import USAGE_SCHEMA

SEPTEMBER = date(2026, 9, 1)
LOADED = datetime(2026, 9, 2, 8, 30, tzinfo=timezone.utc)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def usage(rows: list[tuple[datetime, str, str, str, int]]) -> pa.Table:
    """gold.usage_minute rows from (minute, client_id, category, country, billable)."""
    return pa.Table.from_pylist(
        [
            {
                "minute": m,
                "day": m.date(),
                "client_id": c,
                "category": cat,
                "country": k,
                "sent": b + 1,
                "delivered": b,
                "read": b // 2,
                "failed": 1,
                "billable": b,
            }
            for m, c, cat, k, b in rows
        ],
        schema=USAGE_SCHEMA,
    )


def card(periods: dict[date, dict[tuple[str, str], list[tuple[int, str]]]], default: str | None = "0.0100") -> RateCard:
    """Periods pricing the given pairs, and every other pair at one flat `default` tier (none when None)."""
    starts = sorted(periods)
    out = []
    for start, end in zip(starts, [*starts[1:], None]):
        prices = {(c, k): (Tier(0, Decimal(default)),) for c in CATEGORIES for k in COUNTRIES} if default else {}
        prices.update({key: tuple(Tier(s, Decimal(p)) for s, p in tiers) for key, tiers in periods[start].items()})
        out.append(RatePeriod(start, end, dict(sorted(prices.items()))))
    return RateCard("USD", tuple(out))


def account(client_id: str, *terms: tuple[date, int, str]) -> ClientAccount:
    """A client whose contracts start at each (effective_from, free_messages, discount_pct), each to the next."""
    starts = sorted(terms)
    return ClientAccount(
        client_id,
        client_id,
        tuple(
            Contract(client_id, s, nxt[0] if nxt else None, free, Decimal(pct).quantize(Decimal("0.01")))
            for (s, free, pct), nxt in zip(starts, [*starts[1:], None])
        ),
    )


def both(duck, rows: pa.Table, rate_card: RateCard, clients: list[ClientAccount], month: date = SEPTEMBER):
    """(invoices, lines) of the Python twin, asserted equal to the SQL twin's over the same stored versions
    (rate card version 2, contracts version 7); or the (type, text) of the error both raised."""
    card_table = rate_card.to_table(2, LOADED)
    contracts = clients_to_tables(clients, 7, LOADED)[1]
    py = outcome(
        lambda: invoice_month_py(rows, RateCard.from_table(card_table), contracts_from_table(contracts), month)
    )
    register_inputs(duck, rows, card_table, contracts)
    sql = outcome(lambda: invoice_month_sql(duck, month))
    if isinstance(py[0], type):
        assert sql == py
    else:
        assert sql[0].equals(py[0]) and sql[1].equals(py[1])
    return py


def outcome(run):
    """What a run gives: its tables, or the type and text of the error it raised."""
    try:
        return run()
    except (InvoiceError, RateCardError) as exc:
        return type(exc), str(exc)


# -- the worked example of docs/billing.md --------------------------------------------------------------

RATES_TOML = """currency = "USD"
[[period]]
effective_from = "2026-09-01"
{prices}
"""
EXAMPLE_PRICES = {
    ("authentication", "BR"): '[[0, "0.0315"]]',
    ("marketing", "AR"): '[[0, "0.0618"], [10000, "0.0580"], [50000, "0.0540"]]',
    ("utility", "AR"): '[[0, "0.0265"], [10000, "0.0240"]]',
}
CLIENTS_TOML = """[[client]]
id = "c00042"
name = "Farmacias del Sur"
[[client.contract]]
effective_from = "2026-08-01"
free_messages = 3000
discount_pct = "5.00"
"""


def test_the_worked_example_of_the_billing_doc(duck, tmp_path):
    flat = '[[0, "0.0500"]]'
    prices = "\n".join(
        f'[[period.price]]\ncategory = "{c}"\ncountry = "{k}"\ntiers = {EXAMPLE_PRICES.get((c, k), flat)}'
        for c in CATEGORIES
        for k in COUNTRIES
    )
    (tmp_path / "rates.toml").write_text(RATES_TOML.format(prices=prices))
    (tmp_path / "clients.toml").write_text(CLIENTS_TOML)
    rows = usage(
        [
            (utc(2026, 9, 3, 14, 5), "c00042", "authentication", "BR", 1200),
            (utc(2026, 9, 20, 9, 0), "c00042", "authentication", "BR", 1150),
            (utc(2026, 9, 1, 0, 0), "c00042", "marketing", "AR", 12000),
            (utc(2026, 9, 30, 23, 59), "c00042", "marketing", "AR", 500),
            (utc(2026, 9, 12, 18, 30), "c00042", "utility", "AR", 1170),
            (utc(2026, 8, 31, 23, 59), "c00042", "marketing", "AR", 900),  # sent in August: billed in August
            (utc(2026, 10, 1, 0, 0), "c00042", "utility", "AR", 40),  # sent in October
        ]
    )
    invoices, lines = both(duck, rows, load_rate_card(tmp_path / "rates.toml"), load_clients(tmp_path / "clients.toml"))
    assert [
        (
            r["line_no"],
            r["category"],
            r["country"],
            r["tier"],
            r["tier_from"],
            r["unit_price"],
            r["quantity"],
            r["free_quantity"],
            r["amount"],
        )
        for r in lines.to_pylist()
    ] == [
        (1, "authentication", "BR", 1, 0, Decimal("0.031500"), 2350, 2350, Decimal("0.00")),
        (2, "marketing", "AR", 1, 0, Decimal("0.061800"), 10000, 650, Decimal("577.83")),
        (3, "marketing", "AR", 2, 10000, Decimal("0.058000"), 2500, 0, Decimal("145.00")),
        (4, "utility", "AR", 1, 0, Decimal("0.026500"), 1170, 0, Decimal("31.01")),  # 31.005 rounds up
    ]
    [invoice] = invoices.to_pylist()
    assert invoice == {
        "invoice_id": "INV-2026-09-c00042",
        "client_id": "c00042",
        "month": SEPTEMBER,
        "kind": "invoice",
        "references": None,
        "status": "draft",
        "provisional": False,
        "rate_card_version": 2,
        "contract_version": 7,
        "currency": "USD",
        "subtotal": Decimal("753.84"),
        "discount": Decimal("37.69"),
        "total": Decimal("716.15"),
        "created_at": None,
        "issued_at": None,
    }
    assert set(lines["invoice_id"].to_pylist()) == {"INV-2026-09-c00042"}


# -- hand-worked rules ----------------------------------------------------------------------------------

TIERED = card({SEPTEMBER: {("marketing", "AR"): [(0, "0.10"), (100, "0.05")]}})


@pytest.mark.parametrize(
    "quantity, expected",
    [
        (99, [(1, 99, "9.90")]),
        (100, [(1, 100, "10.00")]),  # exactly at the second tier's start: all in the first
        (101, [(1, 100, "10.00"), (2, 1, "0.05")]),
        (250, [(1, 100, "10.00"), (2, 150, "7.50")]),
    ],
)
def test_tiers_are_graduated_and_a_tier_start_belongs_to_its_own_tier(duck, quantity, expected):
    rows = usage([(utc(2026, 9, 5), "c1", "marketing", "AR", quantity)])
    _, lines = both(duck, rows, TIERED, [account("c1", (SEPTEMBER, 0, "0"))])
    assert [(r["tier"], r["quantity"], str(r["amount"])) for r in lines.to_pylist()] == expected


def test_the_free_allowance_is_consumed_in_line_order_across_categories(duck):
    rows = usage(
        [
            (utc(2026, 9, 5), "c1", "marketing", "AR", 250),
            (utc(2026, 9, 6), "c1", "authentication", "US", 30),
            (utc(2026, 9, 7), "c1", "utility", "CL", 40),
        ]
    )
    invoices, lines = both(duck, rows, TIERED, [account("c1", (SEPTEMBER, 160, "0"))])
    assert [
        (r["category"], r["tier"], r["quantity"], r["free_quantity"], str(r["amount"])) for r in lines.to_pylist()
    ] == [
        ("authentication", 1, 30, 30, "0.00"),
        ("marketing", 1, 100, 100, "0.00"),
        ("marketing", 2, 150, 30, "6.00"),
        ("utility", 1, 40, 0, "0.40"),
    ]
    assert invoices["subtotal"].to_pylist() == [Decimal("6.40")]


def test_amounts_and_discounts_round_half_up_to_the_cent(duck):
    half = card({SEPTEMBER: {("marketing", "AR"): [(0, "0.005")], ("utility", "AR"): [(0, "0.000125")]}})
    rows = usage(
        [
            (utc(2026, 9, 5), "c1", "marketing", "AR", 1),
            (utc(2026, 9, 5), "c1", "utility", "AR", 20),
            (utc(2026, 9, 5), "c2", "marketing", "AR", 3),
        ]
    )
    clients = [account("c1", (SEPTEMBER, 0, "50")), account("c2", (SEPTEMBER, 0, "50"))]
    invoices, lines = both(duck, rows, half, clients)
    assert [str(a) for a in lines["amount"].to_pylist()] == ["0.01", "0.00", "0.02"]  # 0.005, 0.0025, 0.015
    assert [(str(i["subtotal"]), str(i["discount"]), str(i["total"])) for i in invoices.to_pylist()] == [
        ("0.01", "0.01", "0.00"),
        ("0.02", "0.01", "0.01"),
    ]  # 0.005 and 0.01 of discount


def test_every_client_in_contract_is_invoiced_and_only_the_months_usage_counts(duck):
    rows = usage(
        [
            (utc(2026, 8, 31, 23, 59), "c1", "marketing", "AR", 5),
            (utc(2026, 10, 1), "c1", "marketing", "AR", 5),
            (utc(2026, 9, 30, 23, 59), "c2", "marketing", "AR", 0),
        ]
    )
    clients = [
        account("c1", (SEPTEMBER, 0, "0")),
        account("c2", (date(2026, 8, 1), 0, "10")),
        account("c3", (date(2026, 10, 1), 0, "0")),
        account("c4", (date(2026, 7, 1), 0, "0"), (SEPTEMBER, 9, "1")),
    ]
    invoices, lines = both(duck, rows, TIERED, clients)
    assert invoices["client_id"].to_pylist() == ["c1", "c2", "c4"]  # c3's contract starts in October
    assert invoices["total"].to_pylist() == [Decimal("0.00")] * 3 and lines.num_rows == 0
    assert invoices.schema == INVOICE_SCHEMA and lines.schema == LINE_SCHEMA


def test_the_highest_versions_are_used_and_created_at_is_written_as_given(duck):
    old_card = card({date(2026, 8, 1): {("marketing", "AR"): [(0, "9.99")]}}).to_table(1, LOADED)
    new_card = card({date(2026, 8, 1): {("marketing", "AR"): [(0, "0.10")]}}).to_table(3, LOADED)
    old_contracts = clients_to_tables([account("c1", (SEPTEMBER, 1000, "50"))], 4, LOADED)[1]
    new_contracts = clients_to_tables([account("c1", (SEPTEMBER, 0, "0"))], 5, LOADED)[1]
    register_inputs(
        duck,
        usage([(utc(2026, 9, 5), "c1", "marketing", "AR", 10)]),
        pa.concat_tables([new_card, old_card]),
        pa.concat_tables([old_contracts, new_contracts]),
    )
    at = utc(2026, 10, 2, 6)
    invoices, lines = invoice_month_sql(duck, SEPTEMBER, created_at=at)
    assert invoices.select(["rate_card_version", "contract_version", "total", "created_at"]).to_pylist() == [
        {"rate_card_version": 3, "contract_version": 5, "total": Decimal("1.00"), "created_at": at}
    ]
    assert lines["rate_card_version"].to_pylist() == [3]


def test_usage_that_cannot_be_billed_stops_both_twins_with_the_same_message(duck):
    rows = usage(
        [
            (utc(2026, 9, 5), "c9", "marketing", "AR", 1),
            (utc(2026, 9, 5), "c8", "utility", "AR", 1),
            (utc(2026, 9, 5), "c1", "marketing", "ZZ", 0),
        ]
    )
    clients = [account("c1", (SEPTEMBER, 0, "0"))]
    assert both(duck, rows, TIERED, clients) == (
        InvoiceError,
        "invoice 2026-09: billable usage of clients c8, c9 but no contract in force on 2026-09-01",
    )
    rows = usage([(utc(2026, 9, 5), "c1", "marketing", "ZZ", 2), (utc(2026, 9, 6), "c1", "promo", "AR", 1)])
    assert both(duck, rows, TIERED, clients) == (
        InvoiceError,
        "invoice 2026-09: billable usage of marketing/ZZ (client c1), promo/AR (client c1) "
        "but no price in force on 2026-09-01 in rate card version 2",
    )
    assert both(duck, rows, TIERED, clients, date(2026, 8, 1)) == (
        RateCardError,
        "rate card version 2: no period in force on 2026-08-01 (the first starts on 2026-09-01)",
    )


def test_a_month_must_be_a_first_day(duck):
    with pytest.raises(ValueError, match="month must be the first day of a month"):
        invoice_month_sql(duck, date(2026, 9, 15))
    with pytest.raises(ValueError, match="month must be the first day of a month"):
        invoice_month_py(usage([]), TIERED, [], date(2026, 9, 15))


# -- the SQL twin equals the Python reference on generated months -----------------------------------------
#
# The generators aim at invoices that carry money: every example has one to four clients in contract,
# a rate card pricing every pair in force on the month, usage of those clients (at least one billable
# row inside the month, often rows on the minute either side of it, often a client's total brought to
# a tier start), allowances mostly of the size of the usage. What cannot be invoiced (TROUBLES) has a
# property of its own. Months vary, December -> January among them. Each test counts what its examples
# reached (also as hypothesis events: pytest --hypothesis-show-statistics) and fails when a kind of
# example it relies on became rare: a property run over empty invoices proves nothing.

INVOICE_MONTHS = [date(2026, 10, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)]
"""each property runs once per month (hypothesis would draw them unevenly): 31 days, December ->
January across a year, February's 28"""
PAIRS = [("authentication", "BR"), ("marketing", "AR"), ("marketing", "BR"), ("utility", "AR")]
IDS = ["c1", "c10", "c2", "c2-b", "c2_a"]
HALVES = st.sampled_from(["0.005", "0.015", "0.125", "0.0125", "0.0625", "0.000125"]).map(Decimal)  # x.xx5 amounts
# hypothesis favours the first strategy of a one_of and the first element of a sampled_from: those come first
prices = st.one_of(
    st.decimals("0.01", 5, places=2),
    st.decimals(0, 1, places=3),
    HALVES,
    st.decimals(0, 1, places=6),
    st.decimals(0, Decimal("0.01"), places=6),
    st.just(Decimal(0)),
)
discounts = st.one_of(st.decimals(0, 100, places=2), st.sampled_from(["0", "2.5", "12.5", "50", "100"]).map(Decimal))


def shifted(month: date, months: int) -> date:
    """The first day of the month `months` after (before, when negative) `month`."""
    year, index = divmod(month.year * 12 + month.month - 1 + months, 12)
    return date(year, index + 1, 1)


def month_edges(month: date) -> tuple[datetime, datetime]:
    start = datetime.combine(month, datetime.min.time(), timezone.utc)
    return start, datetime.combine(shifted(month, 1), datetime.min.time(), timezone.utc)


def rarely(draw, one_in: int) -> bool:
    """True about once in `one_in` draws (not on 0 or the bounds, which hypothesis draws far more often)."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


@st.composite
def tiers(draw) -> tuple[Tier, ...]:
    starts = [0]
    for gap in draw(st.lists(st.integers(1, 40), max_size=3)):
        starts.append(starts[-1] + gap)
    return tuple(Tier(s, draw(prices)) for s in starts)


@st.composite
def rate_cards(draw, month: date) -> RateCard:
    """A card with one to three periods, one of them in force on `month`, each pricing every pair."""
    first = shifted(month, draw(st.sampled_from([-2, -1, 0])))
    starts = sorted({first, *draw(st.lists(st.sampled_from([shifted(month, d) for d in (-1, 0, 1)]), max_size=2))})
    return RateCard(
        "USD",
        tuple(
            RatePeriod(start, end, {pair: draw(tiers()) for pair in PAIRS})
            for start, end in zip(starts, [*starts[1:], None])
        ),
    )


@st.composite
def accounts(draw, month: date) -> list[ClientAccount]:
    """One to four clients in contract on `month`, some with a contract before or after the one in force."""
    out = []
    for client_id in draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True)):
        first = shifted(month, draw(st.sampled_from([-2, -1, 0])))
        starts = sorted({first, *draw(st.lists(st.sampled_from([shifted(month, d) for d in (-1, 0, 1)]), max_size=1))})
        allowance = st.integers(10**6, 10**9) if rarely(draw, 15) else st.one_of(st.integers(0, 25), st.just(0))
        out.append(account(client_id, *[(s, draw(allowance), str(draw(discounts))) for s in starts]))
    return out


def usage_rows(month: date, users) -> st.SearchStrategy:
    """Usage rows of `users`, inside the month and on the minutes either side of its edges."""
    start, end = month_edges(month)
    inside = int((end - start).total_seconds() // 60)
    minute = st.one_of(
        st.integers(0, inside - 1).map(lambda m: start + timedelta(minutes=m)),
        st.sampled_from([start, end - timedelta(minutes=1), start - timedelta(minutes=1), end]),
    )
    billable = st.one_of(st.integers(1, 60), st.just(0))
    return st.lists(st.tuples(minute, users, st.sampled_from(PAIRS), billable), min_size=1, max_size=25)


@dataclass
class Month:
    month: date
    rows: list[tuple]
    """usage as (minute, client_id, (category, country), billable)"""
    card_table: pa.Table
    contracts: pa.Table

    @property
    def usage(self) -> pa.Table:
        return usage([(m, c, cat, k, b) for m, c, (cat, k), b in self.rows])


TROUBLES = ("no period in force", "a pair unpriced", "a client out of contract", "a client never contracted")


@st.composite
def months(draw, month: date, trouble: str | None = None) -> Month:
    """A month's usage of clients in contract, its rate card table and contracts table (each with an
    older version beneath); with `trouble`, one reason the month cannot be invoiced (TROUBLES)."""
    rate_card, clients = draw(rate_cards(month)), draw(accounts(month))
    ids = [a.client_id for a in clients]
    start, end = month_edges(month)
    rows = draw(usage_rows(month, st.sampled_from(ids)))
    # at least one billable row inside the month; usage on the minute before it and on the first one after
    rows.append(
        (
            start + timedelta(minutes=draw(st.integers(0, 60 * 24 * 28 - 1))),
            draw(st.sampled_from(ids)),
            draw(st.sampled_from(PAIRS)),
            draw(st.integers(1, 100)),
        )
    )
    if draw(st.booleans()):
        rows += [
            (minute, draw(st.sampled_from(ids)), draw(st.sampled_from(PAIRS)), draw(st.integers(1, 60)))
            for minute in (start - timedelta(minutes=1), end)
        ]
    # a client's month total of a pair brought right to a tier start, one below or one above
    uppers = sorted({(pair, t.start) for pair, ts in rate_card.period_for(month).prices.items() for t in ts[1:]})
    if uppers:
        for (pair, tier_start), off, client in draw(
            st.lists(st.tuples(st.sampled_from(uppers), st.sampled_from([0, -1, 1]), st.sampled_from(ids)), max_size=2)
        ):
            so_far = sum(b for minute, c, k, b in rows if c == client and k == pair and start <= minute < end)
            if tier_start + off > so_far:
                rows.append((start + timedelta(days=1), client, pair, tier_start + off - so_far))
    day = start + timedelta(days=draw(st.integers(0, 27)))
    if trouble == "no period in force":
        rate_card = RateCard(
            "USD", tuple(RatePeriod(shifted(month, 1), p.effective_to, p.prices) for p in rate_card.periods[-1:])
        )
    elif trouble == "a pair unpriced":
        pair = draw(st.sampled_from(PAIRS))
        rate_card = RateCard(
            "USD",
            tuple(
                RatePeriod(p.effective_from, p.effective_to, {k: v for k, v in p.prices.items() if k != pair})
                for p in rate_card.periods
            ),
        )
        rows.append((day, draw(st.sampled_from(ids)), pair, draw(st.integers(1, 60))))
    elif trouble == "a client out of contract":
        late = draw(st.sampled_from(sorted(set(IDS) - set(ids))))
        clients = [*clients, account(late, (shifted(month, 1), 0, "0"))]
        rows.append((day, late, draw(st.sampled_from(PAIRS)), draw(st.integers(1, 60))))
    elif trouble == "a client never contracted":
        rows.append(
            (
                day,
                draw(st.sampled_from(sorted(set(IDS) - set(ids)))),
                draw(st.sampled_from(PAIRS)),
                draw(st.integers(1, 60)),
            )
        )
    card_table = pa.concat_tables([draw(rate_cards(month)).to_table(1, LOADED), rate_card.to_table(2, LOADED)])
    contracts = pa.concat_tables(
        [clients_to_tables(draw(accounts(month)), 1, LOADED)[1], clients_to_tables(clients, 2, LOADED)[1]]
    )
    return Month(month, rows, card_table, contracts)


def twins(duck, m: Month, card_table: pa.Table | None = None, rows: list[tuple] | None = None):
    """Both twins' outcome on `m` (or on a later rate card table / usage), asserted equal; the Python one."""
    m = Month(
        m.month, m.rows if rows is None else rows, m.card_table if card_table is None else card_table, m.contracts
    )
    py = outcome(
        lambda: invoice_month_py(m.usage, RateCard.from_table(m.card_table), contracts_from_table(m.contracts), m.month)
    )
    register_inputs(duck, m.usage, m.card_table, m.contracts)
    sql = outcome(lambda: invoice_month_sql(duck, m.month))
    if isinstance(py[0], type):
        assert sql == py
    else:
        assert sql[0].equals(py[0]), (sql[0].to_pylist(), py[0].to_pylist())
        assert sql[1].equals(py[1]), (sql[1].to_pylist(), py[1].to_pylist())
    return py


def reached(m: Month, invoices: pa.Table, lines: pa.Table) -> set[str]:
    """What an invoiced example exercised, as labels (also recorded as hypothesis events)."""
    start, end = month_edges(m.month)
    tiers_of = RateCard.from_table(m.card_table).period_for(m.month).prices
    held: dict[tuple, int] = defaultdict(int)
    for line in lines.to_pylist():
        held[(line["invoice_id"], line["category"], line["country"])] += line["quantity"]
    labels = set()
    labels |= {"money"} if any(t > 0 for t in invoices["total"].to_pylist()) else set()
    labels |= {"discount"} if any(d > 0 for d in invoices["discount"].to_pylist()) else set()
    labels |= {"upper tier charged"} if any(x["tier"] > 1 and x["amount"] > 0 for x in lines.to_pylist()) else set()
    labels |= (
        {"allowance runs out inside a line"}
        if any(0 < x["free_quantity"] < x["quantity"] for x in lines.to_pylist())
        else set()
    )
    labels |= (
        {"at a tier start (-1, 0, +1)"}
        if any(abs(q - t.start) <= 1 for (_, c, k), q in held.items() for t in tiers_of[(c, k)][1:])
        else set()
    )
    labels |= (
        {"usage just outside the month"}
        if any(b and (minute == start - timedelta(minutes=1) or minute == end) for minute, _, _, b in m.rows)
        else set()
    )
    return labels


def _record(seen: list[set[str]], labels: set[str]) -> None:
    seen.append(labels)
    for label in sorted(labels):
        event(label)


def _share(seen: list[set[str]], label: str) -> float:
    return sum(label in labels for labels in seen) / len(seen)


def test_sql_and_python_give_identical_invoices_to_the_cent(duck):
    seen: dict[date, list[set[str]]] = {month: [] for month in INVOICE_MONTHS}

    def same_invoices(m: Month):
        invoices, lines = twins(duck, m)
        _assert_consistent(invoices, lines, m)
        _record(seen[m.month], reached(m, invoices, lines))

    for month in INVOICE_MONTHS:  # other examples for each month, the same on every run
        seed(month.toordinal())(
            settings(max_examples=40, deadline=None, database=None)(given(months(month))(same_invoices))
        )()
    every = [labels for month in INVOICE_MONTHS for labels in seen[month]]
    assert len(every) >= 4 * 35
    # measured with hypothesis 6.170 (4 x 40 examples): money 78 %, a discount 61 %, an upper tier charged 55 %,
    # the allowance running out inside a line 49 %, a client's total within 1 of a tier start 44 %, billable
    # usage on the minute either side of the month 57 %; per month, money 70-88 %. The least shares below
    # leave room for another hypothesis version drawing differently.
    for label, least in (
        ("money", 0.6),
        ("discount", 0.35),
        ("upper tier charged", 0.35),
        ("at a tier start (-1, 0, +1)", 0.25),
        ("allowance runs out inside a line", 0.3),
        ("usage just outside the month", 0.35),
    ):
        assert _share(every, label) >= least, (label, _share(every, label))
    for month in INVOICE_MONTHS:  # December's usage of January 1st, January's of December 31st among them
        for label, least in (("money", 0.5), ("usage just outside the month", 0.25)):
            assert _share(seen[month], label) >= least, (month, label, _share(seen[month], label))


def test_what_cannot_be_invoiced_is_refused_alike_by_both_twins(duck):
    """Usage of a pair without a price, of a client out of contract or never contracted, or a month no
    period covers: both twins stop with the same error naming it (twins() compares them)."""
    expected = {
        "no period in force": (RateCardError, "rate card version 2: no period in force on {month}"),
        "a pair unpriced": (InvoiceError, "but no price in force on {month} in rate card version 2"),
        "a client out of contract": (InvoiceError, "but no contract in force on {month}"),
        "a client never contracted": (InvoiceError, "but no contract in force on {month}"),
    }
    seen: dict[str, int] = defaultdict(int)

    def refused(m: Month, trouble: str):
        kind, text = twins(duck, m)
        assert kind is expected[trouble][0] and expected[trouble][1].format(month=m.month) in text, (trouble, text)
        seen[trouble] += 1

    for month in INVOICE_MONTHS:
        seed(month.toordinal())(
            settings(max_examples=12, deadline=None, database=None)(
                given(st.sampled_from(TROUBLES).flatmap(lambda t, month=month: months(month, t).map(lambda m: (m, t))))(
                    lambda case: refused(*case)
                )
            )
        )()
    assert sorted(seen) == sorted(TROUBLES) and min(seen.values()) >= 4, dict(seen)


def _assert_consistent(invoices: pa.Table, lines: pa.Table, m: Month) -> None:
    """What any invoice must satisfy: one per client in contract, lines add up, quantities are the
    month's, the allowance is not exceeded."""
    start, end = month_edges(m.month)
    billed: dict[tuple, int] = defaultdict(int)
    for minute, client_id, (category, country), billable in m.rows:
        if start <= minute < end and billable:
            billed[(client_id, category, country)] += billable
    allowance = {
        a.client_id: c.free_messages
        for a in contracts_from_table(m.contracts)
        if (c := contract_in_force(a.contracts, a.client_id, m.month))
    }
    assert invoices["client_id"].to_pylist() == sorted(allowance)
    assert set(invoices["month"].to_pylist()) <= {m.month}
    all_lines = lines.to_pylist()
    for invoice in invoices.to_pylist():
        mine = [r for r in all_lines if r["invoice_id"] == invoice["invoice_id"]]
        assert invoice["invoice_id"] == f"INV-{m.month:%Y-%m}-{invoice['client_id']}"
        assert [r["line_no"] for r in mine] == list(range(1, len(mine) + 1))
        assert sum((r["amount"] for r in mine), Decimal("0.00")) == invoice["subtotal"]
        assert invoice["total"] == invoice["subtotal"] - invoice["discount"]
        assert 0 <= invoice["discount"] <= invoice["subtotal"]
        assert sum(r["free_quantity"] for r in mine) == min(
            allowance[invoice["client_id"]], sum(r["quantity"] for r in mine)
        )
        lined: dict[tuple, int] = defaultdict(int)
        for r in mine:
            lined[(invoice["client_id"], r["category"], r["country"])] += r["quantity"]
        assert lined == {k: q for k, q in billed.items() if k[0] == invoice["client_id"]}
    assert len(all_lines) == sum(
        len([r for r in all_lines if r["invoice_id"] == i]) for i in invoices["invoice_id"].to_pylist()
    )  # no line without its invoice


# -- an issued invoice plus its notes equals the invoice computed fresh ---------------------------------


@st.composite
def repricings(draw, month: date) -> tuple[Month, list[tuple[RateCard, list[tuple]]]]:
    """A billable month, then two later changes: a new rate card, then another one with late usage."""
    m = draw(months(month))
    ids = sorted({c for _, c, _, _ in m.rows})
    late = draw(usage_rows(m.month, st.sampled_from(ids)))
    return m, [(draw(rate_cards(m.month)), []), (draw(rate_cards(m.month)), late)]


def _per_tier(lines: list[dict]) -> dict[tuple, tuple]:
    """Quantity, free quantity and amount per (category, country, tier), leaving out what sums to nothing."""
    totals: dict[tuple, list] = defaultdict(lambda: [0, 0, Decimal("0.00")])
    for line in lines:
        t = totals[(line["category"], line["country"], line["tier"])]
        t[0], t[1], t[2] = t[0] + line["quantity"], t[1] + line["free_quantity"], t[2] + line["amount"]
    return {k: tuple(v) for k, v in sorted(totals.items()) if any(v)}


def test_an_issued_invoice_plus_its_notes_equals_the_invoice_computed_fresh_under_the_new_rates(duck):
    from almacen.domains.messaging.ledger import adjustment_note

    seen: dict[date, list[set[str]]] = {month: [] for month in INVOICE_MONTHS}
    money = ("subtotal", "discount", "total")

    def notes_close_the_gap(case):
        m, changes = case
        invoices, lines = twins(duck, m)
        docs = {i["client_id"]: [{**i, "status": "issued"}] for i in invoices.to_pylist()}
        billed: dict[str, list[dict]] = defaultdict(list)
        for line in lines.to_pylist():
            billed[line["client_id"]].append(line)
        labels = reached(m, invoices, lines)
        card_table, rows = m.card_table, m.rows
        for version, (new_card, late) in enumerate(changes, start=3):
            card_table, rows = pa.concat_tables([card_table, new_card.to_table(version, LOADED)]), rows + late
            fresh, fresh_lines = twins(duck, m, card_table, rows)
            assert sorted(fresh["client_id"].to_pylist()) == sorted(docs)
            for doc in fresh.to_pylist():
                client, mine = (
                    doc["client_id"],
                    [x for x in fresh_lines.to_pylist() if x["client_id"] == doc["client_id"]],
                )
                made = adjustment_note(docs[client], billed[client], doc, mine)
                if made is not None:
                    note, note_lines = made
                    original = docs[client][0]["invoice_id"]
                    assert (note["invoice_id"], note["references"]) == (f"{original}-A{len(docs[client])}", original)
                    assert note["kind"] == ("credit" if note["total"] < 0 else "debit")
                    assert note["rate_card_version"] == version
                    assert [x["line_no"] for x in note_lines] == list(range(1, len(note_lines) + 1))
                    assert sum((x["amount"] for x in note_lines), Decimal("0.00")) == note["subtotal"]
                    assert {x["invoice_id"] for x in note_lines} <= {note["invoice_id"]}
                    docs[client].append(note)
                    billed[client] += note_lines
                    labels |= {f"{note['kind']} note", f"note after change {version - 2}"}
                    labels |= {"note changes quantities"} if any(x["quantity"] for x in note_lines) else set()
                    labels |= {"second note"} if len(docs[client]) == 3 else set()
                # the property: what was issued for the invoice, notes included, is the fresh invoice
                assert {k: sum((d[k] for d in docs[client]), Decimal("0.00")) for k in money} == {
                    k: doc[k] for k in money
                }
                assert _per_tier(billed[client]) == _per_tier(mine)
                assert adjustment_note(docs[client], billed[client], doc, mine) is None  # nothing left to adjust
        _record(seen[m.month], labels)

    for month in INVOICE_MONTHS:
        seed(month.toordinal())(
            settings(max_examples=20, deadline=None, database=None)(given(repricings(month))(notes_close_the_gap))
        )()
    every = [labels for month in INVOICE_MONTHS for labels in seen[month]]
    assert len(every) >= 4 * 18
    # measured (hypothesis 6.170, 4 x 20 examples): a note after the first change 81 %, after the second 94 %,
    # two notes on one invoice 81 %, credit notes 60 %, debit notes 93 %, notes that change quantities 94 %
    for label, least in (
        ("money", 0.5),
        ("note after change 1", 0.6),
        ("note after change 2", 0.7),
        ("second note", 0.6),
        ("credit note", 0.4),
        ("debit note", 0.6),
        ("note changes quantities", 0.7),
    ):
        assert _share(every, label) >= least, (label, _share(every, label))
    for month in INVOICE_MONTHS:
        assert _share(seen[month], "note after change 1") >= 0.5, month


def test_the_worked_adjustment_of_the_billing_doc(tmp_path):
    """marketing/AR tier 1 repriced from 0.0618 to 0.0650 for September after the invoice was issued."""
    from almacen.domains.messaging.ledger import adjustment_note

    flat = '[[0, "0.0500"]]'
    rows = usage(
        [
            (utc(2026, 9, 3, 14, 5), "c00042", "authentication", "BR", 2350),
            (utc(2026, 9, 1, 0, 0), "c00042", "marketing", "AR", 12500),
            (utc(2026, 9, 12, 18, 30), "c00042", "utility", "AR", 1170),
        ]
    )
    (tmp_path / "clients.toml").write_text(CLIENTS_TOML)
    clients = load_clients(tmp_path / "clients.toml")
    figures = []
    for version, marketing_ar in (
        (2, '[[0, "0.0618"], [10000, "0.0580"], [50000, "0.0540"]]'),
        (3, '[[0, "0.0650"], [10000, "0.0580"], [50000, "0.0540"]]'),
    ):
        prices = {**EXAMPLE_PRICES, ("marketing", "AR"): marketing_ar}
        text = "\n".join(
            f'[[period.price]]\ncategory = "{c}"\ncountry = "{k}"\ntiers = {prices.get((c, k), flat)}'
            for c in CATEGORIES
            for k in COUNTRIES
        )
        (tmp_path / f"rates-{version}.toml").write_text(RATES_TOML.format(prices=text))
        card = RateCard.from_table(load_rate_card(tmp_path / f"rates-{version}.toml").to_table(version, LOADED))
        invoices, lines = invoice_month_py(rows, card, clients, SEPTEMBER)
        figures.append((invoices.to_pylist()[0], lines.to_pylist()))
    (issued, issued_lines), (fresh, fresh_lines) = figures
    assert issued["total"] == Decimal("716.15") and fresh["total"] == Decimal("744.57")

    note, note_lines = adjustment_note([{**issued, "status": "issued"}], issued_lines, fresh, fresh_lines)

    assert (note["invoice_id"], note["kind"], note["references"]) == (
        "INV-2026-09-c00042-A1",
        "debit",
        "INV-2026-09-c00042",
    )
    assert (note["subtotal"], note["discount"], note["total"]) == (Decimal("29.92"), Decimal("1.50"), Decimal("28.42"))
    assert [
        (
            x["line_no"],
            x["category"],
            x["country"],
            x["tier"],
            x["quantity"],
            x["free_quantity"],
            x["unit_price"],
            x["amount"],
            x["rate_card_version"],
        )
        for x in note_lines
    ] == [(1, "marketing", "AR", 1, 0, 0, Decimal("0.065000"), Decimal("29.92"), 3)]
    assert (
        adjustment_note([{**issued, "status": "issued"}, note], issued_lines + note_lines, fresh, fresh_lines) is None
    )
