"""Invoices: hand-worked examples (the one of docs/billing.md among them), and the SQL twin proven equal
to the Python reference, to the cent, on generated usage, rate cards and contracts."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from almacen.domains.messaging.billing import (INVOICE_SCHEMA, LINE_SCHEMA, InvoiceError, invoice_month_py,
                                               invoice_month_sql, register_inputs)
from almacen.domains.messaging.rates import (ClientAccount, Contract, RateCard, RateCardError, RatePeriod, Tier,
                                             clients_to_tables, contracts_from_table, load_clients, load_rate_card)
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES
from almacen.realtime.usage import USAGE_SCHEMA

SEPTEMBER = date(2026, 9, 1)
LOADED = datetime(2026, 9, 2, 8, 30, tzinfo=timezone.utc)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def usage(rows: list[tuple[datetime, str, str, str, int]]) -> pa.Table:
    """gold.usage_minute rows from (minute, client_id, category, country, billable)."""
    return pa.Table.from_pylist([
        {"minute": m, "day": m.date(), "client_id": c, "category": cat, "country": k, "sent": b + 1,
         "delivered": b, "read": b // 2, "failed": 1, "billable": b} for m, c, cat, k, b in rows], schema=USAGE_SCHEMA)


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
    return ClientAccount(client_id, client_id, tuple(
        Contract(client_id, s, nxt[0] if nxt else None, free, Decimal(pct).quantize(Decimal("0.01")))
        for (s, free, pct), nxt in zip(starts, [*starts[1:], None])))


def both(engine, rows: pa.Table, rate_card: RateCard, clients: list[ClientAccount], month: date = SEPTEMBER):
    """(invoices, lines) of the Python twin, asserted equal to the SQL twin's over the same stored versions
    (rate card version 2, contracts version 7); or the (type, text) of the error both raised."""
    card_table = rate_card.to_table(2, LOADED)
    contracts = clients_to_tables(clients, 7, LOADED)[1]
    py = outcome(lambda: invoice_month_py(rows, RateCard.from_table(card_table), contracts_from_table(contracts),
                                          month))
    register_inputs(engine, rows, card_table, contracts)
    sql = outcome(lambda: invoice_month_sql(engine, month))
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
EXAMPLE_PRICES = {("authentication", "BR"): '[[0, "0.0315"]]',
                  ("marketing", "AR"): '[[0, "0.0618"], [10000, "0.0580"], [50000, "0.0540"]]',
                  ("utility", "AR"): '[[0, "0.0265"], [10000, "0.0240"]]'}
CLIENTS_TOML = """[[client]]
id = "c00042"
name = "Farmacias del Sur"
[[client.contract]]
effective_from = "2026-08-01"
free_messages = 3000
discount_pct = "5.00"
"""


def test_the_worked_example_of_the_billing_doc(engine, tmp_path):
    flat = '[[0, "0.0500"]]'
    prices = "\n".join(f'[[period.price]]\ncategory = "{c}"\ncountry = "{k}"\n'
                       f"tiers = {EXAMPLE_PRICES.get((c, k), flat)}" for c in CATEGORIES for k in COUNTRIES)
    (tmp_path / "rates.toml").write_text(RATES_TOML.format(prices=prices))
    (tmp_path / "clients.toml").write_text(CLIENTS_TOML)
    rows = usage([
        (utc(2026, 9, 3, 14, 5), "c00042", "authentication", "BR", 1200),
        (utc(2026, 9, 20, 9, 0), "c00042", "authentication", "BR", 1150),
        (utc(2026, 9, 1, 0, 0), "c00042", "marketing", "AR", 12000),
        (utc(2026, 9, 30, 23, 59), "c00042", "marketing", "AR", 500),
        (utc(2026, 9, 12, 18, 30), "c00042", "utility", "AR", 1170),
        (utc(2026, 8, 31, 23, 59), "c00042", "marketing", "AR", 900),  # sent in August: billed in August
        (utc(2026, 10, 1, 0, 0), "c00042", "utility", "AR", 40),  # sent in October
    ])
    invoices, lines = both(engine, rows, load_rate_card(tmp_path / "rates.toml"),
                           load_clients(tmp_path / "clients.toml"))
    assert [(r["line_no"], r["category"], r["country"], r["tier"], r["tier_from"], r["unit_price"], r["quantity"],
             r["free_quantity"], r["amount"]) for r in lines.to_pylist()] == [
        (1, "authentication", "BR", 1, 0, Decimal("0.031500"), 2350, 2350, Decimal("0.00")),
        (2, "marketing", "AR", 1, 0, Decimal("0.061800"), 10000, 650, Decimal("577.83")),
        (3, "marketing", "AR", 2, 10000, Decimal("0.058000"), 2500, 0, Decimal("145.00")),
        (4, "utility", "AR", 1, 0, Decimal("0.026500"), 1170, 0, Decimal("31.01")),  # 31.005 rounds up
    ]
    [invoice] = invoices.to_pylist()
    assert invoice == {
        "invoice_id": "INV-2026-09-c00042", "client_id": "c00042", "month": SEPTEMBER, "kind": "invoice",
        "references": None, "status": "draft", "provisional": False, "rate_card_version": 2, "contract_version": 7,
        "currency": "USD", "subtotal": Decimal("753.84"), "discount": Decimal("37.69"), "total": Decimal("716.15"),
        "created_at": None, "issued_at": None}
    assert set(lines["invoice_id"].to_pylist()) == {"INV-2026-09-c00042"}


# -- hand-worked rules ----------------------------------------------------------------------------------

TIERED = card({SEPTEMBER: {("marketing", "AR"): [(0, "0.10"), (100, "0.05")]}})


@pytest.mark.parametrize("quantity, expected", [
    (99, [(1, 99, "9.90")]),
    (100, [(1, 100, "10.00")]),  # exactly at the second tier's start: all in the first
    (101, [(1, 100, "10.00"), (2, 1, "0.05")]),
    (250, [(1, 100, "10.00"), (2, 150, "7.50")]),
])
def test_tiers_are_graduated_and_a_tier_start_belongs_to_its_own_tier(engine, quantity, expected):
    rows = usage([(utc(2026, 9, 5), "c1", "marketing", "AR", quantity)])
    _, lines = both(engine, rows, TIERED, [account("c1", (SEPTEMBER, 0, "0"))])
    assert [(r["tier"], r["quantity"], str(r["amount"])) for r in lines.to_pylist()] == expected


def test_the_free_allowance_is_consumed_in_line_order_across_categories(engine):
    rows = usage([(utc(2026, 9, 5), "c1", "marketing", "AR", 250), (utc(2026, 9, 6), "c1", "authentication", "US", 30),
                  (utc(2026, 9, 7), "c1", "utility", "CL", 40)])
    invoices, lines = both(engine, rows, TIERED, [account("c1", (SEPTEMBER, 160, "0"))])
    assert [(r["category"], r["tier"], r["quantity"], r["free_quantity"], str(r["amount"]))
            for r in lines.to_pylist()] == [
        ("authentication", 1, 30, 30, "0.00"), ("marketing", 1, 100, 100, "0.00"),
        ("marketing", 2, 150, 30, "6.00"), ("utility", 1, 40, 0, "0.40")]
    assert invoices["subtotal"].to_pylist() == [Decimal("6.40")]


def test_amounts_and_discounts_round_half_up_to_the_cent(engine):
    half = card({SEPTEMBER: {("marketing", "AR"): [(0, "0.005")], ("utility", "AR"): [(0, "0.000125")]}})
    rows = usage([(utc(2026, 9, 5), "c1", "marketing", "AR", 1), (utc(2026, 9, 5), "c1", "utility", "AR", 20),
                  (utc(2026, 9, 5), "c2", "marketing", "AR", 3)])
    clients = [account("c1", (SEPTEMBER, 0, "50")), account("c2", (SEPTEMBER, 0, "50"))]
    invoices, lines = both(engine, rows, half, clients)
    assert [str(a) for a in lines["amount"].to_pylist()] == ["0.01", "0.00", "0.02"]  # 0.005, 0.0025, 0.015
    assert [(str(i["subtotal"]), str(i["discount"]), str(i["total"])) for i in invoices.to_pylist()] == [
        ("0.01", "0.01", "0.00"), ("0.02", "0.01", "0.01")]  # 0.005 and 0.01 of discount


def test_every_client_in_contract_is_invoiced_and_only_the_months_usage_counts(engine):
    rows = usage([(utc(2026, 8, 31, 23, 59), "c1", "marketing", "AR", 5),
                  (utc(2026, 10, 1), "c1", "marketing", "AR", 5),
                  (utc(2026, 9, 30, 23, 59), "c2", "marketing", "AR", 0)])
    clients = [account("c1", (SEPTEMBER, 0, "0")), account("c2", (date(2026, 8, 1), 0, "10")),
               account("c3", (date(2026, 10, 1), 0, "0")),
               account("c4", (date(2026, 7, 1), 0, "0"), (SEPTEMBER, 9, "1"))]
    invoices, lines = both(engine, rows, TIERED, clients)
    assert invoices["client_id"].to_pylist() == ["c1", "c2", "c4"]  # c3's contract starts in October
    assert invoices["total"].to_pylist() == [Decimal("0.00")] * 3 and lines.num_rows == 0
    assert invoices.schema == INVOICE_SCHEMA and lines.schema == LINE_SCHEMA


def test_the_highest_versions_are_used_and_created_at_is_written_as_given(engine):
    old_card = card({date(2026, 8, 1): {("marketing", "AR"): [(0, "9.99")]}}).to_table(1, LOADED)
    new_card = card({date(2026, 8, 1): {("marketing", "AR"): [(0, "0.10")]}}).to_table(3, LOADED)
    old_contracts = clients_to_tables([account("c1", (SEPTEMBER, 1000, "50"))], 4, LOADED)[1]
    new_contracts = clients_to_tables([account("c1", (SEPTEMBER, 0, "0"))], 5, LOADED)[1]
    register_inputs(engine, usage([(utc(2026, 9, 5), "c1", "marketing", "AR", 10)]),
                    pa.concat_tables([new_card, old_card]), pa.concat_tables([old_contracts, new_contracts]))
    at = utc(2026, 10, 2, 6)
    invoices, lines = invoice_month_sql(engine, SEPTEMBER, created_at=at)
    assert invoices.select(["rate_card_version", "contract_version", "total", "created_at"]).to_pylist() == [
        {"rate_card_version": 3, "contract_version": 5, "total": Decimal("1.00"), "created_at": at}]
    assert lines["rate_card_version"].to_pylist() == [3]


def test_usage_that_cannot_be_billed_stops_both_twins_with_the_same_message(engine):
    rows = usage([(utc(2026, 9, 5), "c9", "marketing", "AR", 1), (utc(2026, 9, 5), "c8", "utility", "AR", 1),
                  (utc(2026, 9, 5), "c1", "marketing", "ZZ", 0)])
    clients = [account("c1", (SEPTEMBER, 0, "0"))]
    assert both(engine, rows, TIERED, clients) == (
        InvoiceError, "invoice 2026-09: billable usage of clients c8, c9 but no contract in force on 2026-09-01")
    rows = usage([(utc(2026, 9, 5), "c1", "marketing", "ZZ", 2), (utc(2026, 9, 6), "c1", "promo", "AR", 1)])
    assert both(engine, rows, TIERED, clients) == (
        InvoiceError, "invoice 2026-09: billable usage of marketing/ZZ (client c1), promo/AR (client c1) "
                      "but no price in force on 2026-09-01 in rate card version 2")
    assert both(engine, rows, TIERED, clients, date(2026, 8, 1)) == (
        RateCardError, "rate card version 2: no period in force on 2026-08-01 (the first starts on 2026-09-01)")


def test_a_month_must_be_a_first_day(engine):
    with pytest.raises(ValueError, match="month must be the first day of a month"):
        invoice_month_sql(engine, date(2026, 9, 15))
    with pytest.raises(ValueError, match="month must be the first day of a month"):
        invoice_month_py(usage([]), TIERED, [], date(2026, 9, 15))


# -- the SQL twin equals the Python reference on generated months -----------------------------------------

MONTHS = [date(2026, 7, 1), date(2026, 8, 1), SEPTEMBER, date(2026, 10, 1)]
PAIRS = [("authentication", "BR"), ("marketing", "AR"), ("marketing", "BR"), ("utility", "AR")]
IDS = ["c1", "c10", "c2", "c2-b", "c2_a"]
MINUTES = [utc(2026, 8, 31, 23, 59), utc(2026, 9, 1), utc(2026, 9, 14, 12, 1), utc(2026, 9, 30, 23, 59),
           utc(2026, 10, 1)]
HALVES = st.sampled_from(["0.005", "0.015", "0.125", "0.0125", "0.0625", "0.000125"]).map(Decimal)  # x.xx5 amounts
prices = st.one_of(st.just(Decimal(0)), st.decimals(0, 5, places=2), st.decimals(0, 1, places=3), HALVES,
                   st.decimals(0, 1, places=6), st.decimals(0, Decimal("0.01"), places=6))
discounts = st.one_of(st.decimals(0, 100, places=2), st.sampled_from(["0", "2.5", "12.5", "50", "100"]).map(Decimal))


@st.composite
def tiers(draw) -> tuple[Tier, ...]:
    starts = [0]
    for gap in draw(st.lists(st.integers(1, 40), max_size=3)):
        starts.append(starts[-1] + gap)
    return tuple(Tier(s, draw(prices)) for s in starts)


@st.composite
def rate_cards(draw) -> RateCard:
    first = draw(st.sampled_from(MONTHS[:3])) if draw(st.integers(0, 15)) != 9 else MONTHS[3]  # now and then too late
    starts = sorted({first, *draw(st.lists(st.sampled_from(MONTHS), max_size=2))})
    periods = []
    for start, end in zip(starts, [*starts[1:], None]):
        priced = {pair: draw(tiers()) for pair in PAIRS if draw(st.integers(0, 40)) != 17}  # now and then one unpriced
        periods.append(RatePeriod(start, end, dict(sorted(priced.items()))))
    return RateCard("USD", tuple(periods))


@st.composite
def accounts(draw) -> list[ClientAccount]:
    out = []
    for client_id in draw(st.lists(st.sampled_from(IDS), max_size=4, unique=True)):
        first = draw(st.sampled_from(MONTHS[:3])) if draw(st.integers(0, 8)) != 5 else MONTHS[3]
        starts = sorted({first, *draw(st.lists(st.sampled_from(MONTHS), max_size=1))})
        out.append(account(client_id, *[(s, draw(st.one_of(st.integers(0, 60), st.integers(0, 10 ** 9))),
                                         str(draw(discounts))) for s in starts]))
    return out


@st.composite
def months(draw):
    """(usage, rate card table with an older version, contracts table with an older version)."""
    rate_card, clients = draw(rate_cards()), draw(accounts())
    ids = [a.client_id for a in clients]
    users = st.sampled_from(ids) if ids and draw(st.integers(0, 12)) != 6 else st.sampled_from(IDS)
    minute = st.one_of(st.sampled_from(MINUTES), st.integers(0, 30 * 24 * 60 - 1).map(
        lambda m: utc(2026, 9, 1) + timedelta(minutes=m)))
    rows = draw(st.lists(st.tuples(minute, users, st.sampled_from(PAIRS), st.integers(0, 60)), max_size=25))
    starts = sorted({t.start for p in rate_card.periods for ts in p.prices.values() for t in ts}) or [0]
    exact = draw(st.lists(st.tuples(st.sampled_from(starts), st.sampled_from([-1, 0, 0, 1]), users,
                                    st.sampled_from(PAIRS)), max_size=3))
    rows += [(utc(2026, 9, 2), c, pair, max(0, s + d)) for s, d, c, pair in exact]  # a quantity right at a tier start
    card_table = pa.concat_tables([draw(rate_cards()).to_table(1, LOADED), rate_card.to_table(2, LOADED)])
    contracts = pa.concat_tables([clients_to_tables(draw(accounts()), 1, LOADED)[1],
                                  clients_to_tables(clients, 2, LOADED)[1]])
    return usage([(m, c, cat, k, b) for m, c, (cat, k), b in rows]), card_table, contracts


@settings(max_examples=150, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(months())
def test_sql_and_python_give_identical_invoices_to_the_cent(engine, inputs):
    rows, card_table, contracts = inputs
    py = outcome(lambda: invoice_month_py(rows, RateCard.from_table(card_table), contracts_from_table(contracts),
                                          SEPTEMBER))
    register_inputs(engine, rows, card_table, contracts)
    sql = outcome(lambda: invoice_month_sql(engine, SEPTEMBER))
    if isinstance(py[0], type):
        assert sql == py
        return
    assert sql[0].equals(py[0]), (sql[0].to_pylist(), py[0].to_pylist())
    assert sql[1].equals(py[1]), (sql[1].to_pylist(), py[1].to_pylist())
    _assert_consistent(*py, rows, contracts_from_table(contracts))


def _assert_consistent(invoices: pa.Table, lines: pa.Table, rows: pa.Table, clients: list[ClientAccount]) -> None:
    """What any invoice must satisfy: lines add up, quantities are the month's, the allowance is not exceeded."""
    month = rows.filter(pc.and_(pc.greater_equal(rows["minute"], pa.scalar(utc(2026, 9, 1), rows["minute"].type)),
                                pc.less(rows["minute"], pa.scalar(utc(2026, 10, 1), rows["minute"].type))))
    billed: dict[tuple, int] = {}
    for r in month.to_pylist():
        key = (r["client_id"], r["category"], r["country"])
        billed[key] = billed.get(key, 0) + r["billable"]
    allowance = {a.client_id: c.free_messages for a in clients for c in a.contracts
                 if c.effective_from <= SEPTEMBER and (c.effective_to is None or SEPTEMBER < c.effective_to)}
    for invoice in invoices.to_pylist():
        mine = [r for r in lines.to_pylist() if r["invoice_id"] == invoice["invoice_id"]]
        assert [r["line_no"] for r in mine] == list(range(1, len(mine) + 1))
        assert sum((r["amount"] for r in mine), Decimal("0.00")) == invoice["subtotal"]
        assert invoice["total"] == invoice["subtotal"] - invoice["discount"]
        assert 0 <= invoice["discount"] <= invoice["subtotal"]
        quantity = sum(r["quantity"] for r in mine)
        assert sum(r["free_quantity"] for r in mine) == min(allowance[invoice["client_id"]], quantity)
        for (client_id, category, country), quantity in billed.items():
            if client_id == invoice["client_id"]:
                lined = sum(r["quantity"] for r in mine if (r["category"], r["country"]) == (category, country))
                assert lined == quantity


def test_the_worked_adjustment_of_the_billing_doc(tmp_path):
    """marketing/AR tier 1 repriced from 0.0618 to 0.0650 for September after the invoice was issued."""
    from almacen.domains.messaging.invoices import adjustment_note

    flat = '[[0, "0.0500"]]'
    rows = usage([(utc(2026, 9, 3, 14, 5), "c00042", "authentication", "BR", 2350),
                  (utc(2026, 9, 1, 0, 0), "c00042", "marketing", "AR", 12500),
                  (utc(2026, 9, 12, 18, 30), "c00042", "utility", "AR", 1170)])
    (tmp_path / "clients.toml").write_text(CLIENTS_TOML)
    clients = load_clients(tmp_path / "clients.toml")
    figures = []
    for version, marketing_ar in ((2, '[[0, "0.0618"], [10000, "0.0580"], [50000, "0.0540"]]'),
                                  (3, '[[0, "0.0650"], [10000, "0.0580"], [50000, "0.0540"]]')):
        prices = {**EXAMPLE_PRICES, ("marketing", "AR"): marketing_ar}
        text = "\n".join(f'[[period.price]]\ncategory = "{c}"\ncountry = "{k}"\ntiers = {prices.get((c, k), flat)}'
                         for c in CATEGORIES for k in COUNTRIES)
        (tmp_path / f"rates-{version}.toml").write_text(RATES_TOML.format(prices=text))
        card = RateCard.from_table(load_rate_card(tmp_path / f"rates-{version}.toml").to_table(version, LOADED))
        invoices, lines = invoice_month_py(rows, card, clients, SEPTEMBER)
        figures.append((invoices.to_pylist()[0], lines.to_pylist()))
    (issued, issued_lines), (fresh, fresh_lines) = figures
    assert issued["total"] == Decimal("716.15") and fresh["total"] == Decimal("744.57")

    note, note_lines = adjustment_note([{**issued, "status": "issued"}], issued_lines, fresh, fresh_lines)

    assert (note["invoice_id"], note["kind"], note["references"]) == ("INV-2026-09-c00042-A1", "debit",
                                                                      "INV-2026-09-c00042")
    assert (note["subtotal"], note["discount"], note["total"]) == (Decimal("29.92"), Decimal("1.50"), Decimal("28.42"))
    assert [(x["line_no"], x["category"], x["country"], x["tier"], x["quantity"], x["free_quantity"], x["unit_price"],
             x["amount"], x["rate_card_version"]) for x in note_lines] == [
        (1, "marketing", "AR", 1, 0, 0, Decimal("0.065000"), Decimal("29.92"), 3)]
    assert adjustment_note([{**issued, "status": "issued"}, note], issued_lines + note_lines, fresh, fresh_lines) is None
