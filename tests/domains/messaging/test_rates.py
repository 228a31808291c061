"""Rate cards and contracts: read from TOML, every fault rejected with a message naming file, item and fault."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from almacen.domains.messaging.rates import (
    CLIENTS_SCHEMA,
    CONTRACTS_SCHEMA,
    RATE_CARDS_SCHEMA,
    ClientAccount,
    Contract,
    ContractError,
    RateCard,
    RateCardError,
    Tier,
    clients_to_tables,
    contract_for,
    contracts_from_table,
    load_clients,
    load_rate_card,
)
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES

LOADED = datetime(2026, 9, 2, 8, 30, tzinfo=timezone.utc)


def rates_toml(periods: dict[str, dict[tuple[str, str], str]] | None = None, currency: str = '"USD"') -> str:
    """A rates.toml pricing every (category, country) at one flat tier, with per-period replacements
    given as `tiers` TOML text (or "" to leave a pair out)."""
    periods = periods if periods is not None else {"2026-08-01": {}}
    out = [f"currency = {currency}"]
    for start, overrides in periods.items():
        out += ["[[period]]", f'effective_from = "{start}"' if start else ""]
        for category in CATEGORIES:
            for country in COUNTRIES:
                tiers = overrides.get((category, country), '[[0, "0.0100"]]')
                if tiers:
                    out += [
                        "[[period.price]]",
                        f'category = "{category}"',
                        f'country = "{country}"',
                        f"tiers = {tiers}",
                    ]
    return "\n".join(out) + "\n"


def clients_toml(*clients: str) -> str:
    return "\n".join(clients) + "\n"


def client(cid: str = "c00001", name: str = '"Supermercados Norte"', contracts: tuple[str, ...] | None = None) -> str:
    contracts = contracts if contracts is not None else (contract(),)
    return "\n".join(["[[client]]", f'id = "{cid}"', f"name = {name}", *contracts])


def contract(start: str = '"2026-08-01"', free: str = "1000", discount: str = '"10.00"') -> str:
    return f"[[client.contract]]\neffective_from = {start}\nfree_messages = {free}\ndiscount_pct = {discount}"


@pytest.fixture
def write(tmp_path):
    def _write(name: str, text: str):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


# -- rate cards -----------------------------------------------------------------------------------------


def test_a_valid_rate_card_loads_with_contiguous_periods(write):
    path = write(
        "rates.toml",
        rates_toml({"2026-10-01": {("marketing", "AR"): '[[0, "0.0618"], [100000, "0.058"]]'}, "2026-08-01": {}}),
    )
    card = load_rate_card(path)
    assert card.currency == "USD" and card.version is None
    assert [(p.effective_from, p.effective_to) for p in card.periods] == [
        (date(2026, 8, 1), date(2026, 10, 1)),
        (date(2026, 10, 1), None),
    ]
    assert card.periods[1].prices[("marketing", "AR")] == (Tier(0, Decimal("0.0618")), Tier(100000, Decimal("0.058")))
    assert len(card.periods[0].prices) == len(CATEGORIES) * len(COUNTRIES)
    assert card.period_for(date(2026, 9, 1)) is card.periods[0]
    assert card.period_for(date(2026, 10, 1)) is card.periods[1]
    assert card.period_for(date(2030, 1, 1)) is card.periods[1]


def test_a_month_before_the_first_period_names_the_month(write):
    card = load_rate_card(write("rates.toml", rates_toml()))
    with pytest.raises(RateCardError) as err:
        card.period_for(date(2026, 7, 1))
    assert str(err.value) == "rate card: no period in force on 2026-07-01 (the first starts on 2026-08-01)"


def test_a_rate_card_round_trips_through_its_table_and_the_highest_version_is_read(write):
    text = rates_toml({"2026-08-01": {("utility", "PE"): '[[0, "1"], [5, "0.5"]]'}})
    card = load_rate_card(write("rates.toml", text))
    old = load_rate_card(write("old.toml", rates_toml({"2026-01-01": {}})))
    table = pa.concat_tables([card.to_table(2, LOADED), old.to_table(1, LOADED)])
    assert table.schema == RATE_CARDS_SCHEMA
    back = RateCard.from_table(table)
    assert back == RateCard(card.currency, card.periods, version=2)
    rows = card.to_table(2, LOADED).filter(pa.compute.equal(pa.compute.field("category"), "utility")).to_pylist()
    assert [(r["country"], r["tier"], r["tier_from"], r["unit_price"]) for r in rows if r["country"] == "PE"] == [
        ("PE", 1, 0, Decimal("1.000000")),
        ("PE", 2, 5, Decimal("0.500000")),
    ]


def test_an_empty_rate_card_table_is_named():
    with pytest.raises(RateCardError, match="silver.rate_cards is empty"):
        RateCard.from_table(RATE_CARDS_SCHEMA.empty_table())


@pytest.mark.parametrize(
    "periods, currency, message",
    [
        (
            {"2026-10-01": {("marketing", "AR"): '[[5, "0.06"]]'}},
            '"USD"',
            "period 2026-10-01: marketing/AR: tiers must start at 0",
        ),
        ({"2026-09-01": {}, "2026-09-01 ": {}}, '"USD"', "overlapping periods 2026-09-01 and 2026-09-01"),
        ({"2026-10-01": {("utility", "PE"): ""}}, '"USD"', "period 2026-10-01 does not price utility/PE (missing)"),
        (
            {"2026-10-01": {("utility", "PE"): '[[0, "0.02"], [10, "-0.01"]]'}},
            '"USD"',
            "period 2026-10-01: utility/PE: tier 2: negative price -0.01",
        ),
        ({"2026-09-15": {}}, '"USD"', "period 1: effective_from 2026-09-15 is not the first day of a month"),
        (
            {"2026-10-01": {("marketing", "AR"): '[[0, "0.06"], [100, "0.05"], [100, "0.04"]]'}},
            '"USD"',
            "period 2026-10-01: marketing/AR: tier 3 starts at 100, not after tier 2 at 100 "
            "(tiers must start in strictly increasing order)",
        ),
        (
            {"2026-10-01": {("marketing", "AR"): '[[0, "0.0612345"]]'}},
            '"USD"',
            "period 2026-10-01: marketing/AR: tier 1: price 0.0612345 has more than 6 decimals",
        ),
        (
            {"2026-10-01": {("marketing", "AR"): "[[0, 0.06]]"}},
            '"USD"',
            'period 2026-10-01: marketing/AR: tier 1: price must be a decimal string like "0.0618", got 0.06',
        ),
        (
            {"2026-10-01": {("marketing", "AR"): '[[0, "cheap"]]'}},
            '"USD"',
            "period 2026-10-01: marketing/AR: tier 1: price 'cheap' is not a decimal number",
        ),
        (
            {"2026-10-01": {("marketing", "AR"): '[[0, "0.06"], [-3, "0.05"]]'}},
            '"USD"',
            "period 2026-10-01: marketing/AR: tier 2: from must be a whole number >= 0, got -3",
        ),
        ({"2026-10-01": {("marketing", "AR"): "[]"}}, '"USD"', "period 2026-10-01: marketing/AR: no tiers"),
        ({"2026-10-01": {}}, '"usd"', "currency must be a 3-letter code like \"USD\", got 'usd'"),
        ({}, '"USD"', "no [[period]]"),
        ({"": {}}, '"USD"', "period 1: effective_from is missing"),
        ({"2026-13-01": {}}, '"USD"', "period 1: effective_from '2026-13-01' is not a date (YYYY-MM-DD)"),
    ],
)
def test_each_fault_of_a_rate_card_is_named(write, periods, currency, message):
    path = write("rates.toml", rates_toml(periods, currency).replace('"2026-09-01 "', '"2026-09-01"'))
    with pytest.raises(RateCardError) as err:
        load_rate_card(path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            'category = "promo"\ncountry = "AR"\ntiers = [[0, "1"]]',
            "period 2026-10-01: price 22: unknown category 'promo' (expected one of authentication, marketing, utility)",
        ),
        (
            'category = "utility"\ncountry = "UY"\ntiers = [[0, "1"]]',
            "period 2026-10-01: price 22: unknown country 'UY' (expected one of AR, BR, CL, CO, MX, PE, US)",
        ),
        ('category = "utility"\ncountry = "AR"\ntiers = [[0, "1"]]', "period 2026-10-01: utility/AR: priced twice"),
        (
            'category = "utility"\ncountry = "AR"\ntier = [[0, "1"]]',
            "period 2026-10-01: price 22: unknown key 'tier' (expected category, country, tiers)",
        ),
    ],
)
def test_unknown_or_repeated_prices_are_named(write, entry, message):
    path = write("rates.toml", rates_toml({"2026-10-01": {}}) + f"[[period.price]]\n{entry}\n")
    with pytest.raises(RateCardError) as err:
        load_rate_card(path)
    assert str(err.value) == f"{path}: {message}"


def test_unreadable_rate_card_files_are_named(write, tmp_path):
    with pytest.raises(RateCardError, match=r"rates.toml: not valid TOML: "):
        load_rate_card(write("rates.toml", "currency = \n"))
    with pytest.raises(RateCardError, match=r"nowhere.toml: cannot be read: No such file or directory"):
        load_rate_card(tmp_path / "nowhere.toml")


# -- clients and contracts ------------------------------------------------------------------------------


def test_valid_clients_load_with_contiguous_contracts(write):
    path = write(
        "clients.toml",
        clients_toml(
            client("c00002", contracts=(contract('"2026-10-01"', "0", '"0"'), contract('"2026-08-01"', "500", "5"))),
            client("c00001"),
        ),
    )
    accounts = load_clients(path)
    assert accounts == [
        ClientAccount(
            "c00001", "Supermercados Norte", (Contract("c00001", date(2026, 8, 1), None, 1000, Decimal("10.00")),)
        ),
        ClientAccount(
            "c00002",
            "Supermercados Norte",
            (
                Contract("c00002", date(2026, 8, 1), date(2026, 10, 1), 500, Decimal("5.00")),
                Contract("c00002", date(2026, 10, 1), None, 0, Decimal("0.00")),
            ),
        ),
    ]
    assert contract_for(accounts[1].contracts, "c00002", date(2026, 9, 1)).free_messages == 500
    assert contract_for(accounts[1].contracts, "c00002", date(2026, 10, 1)).free_messages == 0
    with pytest.raises(ContractError) as err:
        contract_for(accounts[1].contracts, "c00002", date(2026, 7, 1))
    assert str(err.value) == "client c00002 has no contract in force on 2026-07-01"


def test_clients_round_trip_through_their_tables_and_the_highest_version_is_read(write):
    accounts = load_clients(write("clients.toml", clients_toml(client("c1"), client("c2", '"Dos"'))))
    old = load_clients(write("old.toml", clients_toml(client("c9", '"Old"'))))
    clients, contracts = clients_to_tables(accounts, 4, LOADED)
    old_clients, old_contracts = clients_to_tables(old, 3, LOADED)
    assert clients.schema == CLIENTS_SCHEMA and contracts.schema == CONTRACTS_SCHEMA
    back = contracts_from_table(pa.concat_tables([old_contracts, contracts]), pa.concat_tables([clients, old_clients]))
    assert back == [ClientAccount(a.client_id, a.name, a.contracts, version=4) for a in accounts]
    assert contracts_from_table(CONTRACTS_SCHEMA.empty_table()) == []


@pytest.mark.parametrize(
    "text, message",
    [
        (client("c1") + "\n" + client("c1"), "duplicate client id c1 (clients 1 and 2)"),
        (client("C 1"), "client 1: id must match ^[a-z0-9_-]+$, got 'C 1'"),
        (client(name='""'), "client c00001: name must be a non-empty string, got ''"),
        (
            client(contracts=(contract(discount='"100.5"'),)),
            "client c00001: contract 2026-08-01: discount_pct 100.5 is outside 0..100",
        ),
        (
            client(contracts=(contract(discount='"-1"'),)),
            "client c00001: contract 2026-08-01: discount_pct -1 is outside 0..100",
        ),
        (
            client(contracts=(contract(discount='"10.125"'),)),
            "client c00001: contract 2026-08-01: discount_pct 10.125 has more than 2 decimals",
        ),
        (
            client(contracts=(contract(discount="10.5"),)),
            'client c00001: contract 2026-08-01: discount_pct must be a decimal string like "10.00", got 10.5',
        ),
        (
            client(contracts=(contract(free="-1"),)),
            "client c00001: contract 2026-08-01: free_messages must be a whole number >= 0, got -1",
        ),
        (
            client(contracts=(contract(free='"many"'),)),
            "client c00001: contract 2026-08-01: free_messages must be a whole number >= 0, got 'many'",
        ),
        (
            client(contracts=(contract('"2026-08-15"'),)),
            "client c00001: contract 1: effective_from 2026-08-15 is not the first day of a month",
        ),
        (client(contracts=(contract(), contract())), "client c00001: overlapping contracts 2026-08-01 and 2026-08-01"),
        (client(contracts=()), "client c00001: no [[client.contract]]"),
        ("[[customer]]\nid = 'c1'", "unknown key 'customer' (expected client)"),
        ("", "no [[client]]"),
    ],
)
def test_each_fault_of_a_clients_file_is_named(write, text, message):
    path = write("clients.toml", text + "\n")
    with pytest.raises(ContractError) as err:
        load_clients(path)
    assert str(err.value) == f"{path}: {message}"


def test_trailing_zeros_do_not_count_as_decimals(write):
    text = rates_toml({"2026-08-01": {("marketing", "AR"): '[[0, "0.06180000"]]'}})
    assert load_rate_card(write("rates.toml", text)).periods[0].prices[("marketing", "AR")] == (
        Tier(0, Decimal("0.0618")),
    )
    accounts = load_clients(write("clients.toml", client(contracts=(contract(discount='"12.5000"'),))))
    assert accounts[0].contracts[0].discount_pct == Decimal("12.50")


def test_a_toml_date_literal_is_accepted(write):
    accounts = load_clients(write("clients.toml", client(contracts=(contract("2026-08-01"),))))
    assert accounts[0].contracts[0].effective_from == date(2026, 8, 1)
