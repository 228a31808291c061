"""Client accounts, contracts and rate cards: written to and loaded from files, stored in the lake.

The files' formats (docs/messaging-contract.md) are read by `rates.load_*` and written here. Every load validates the whole file first (nothing is written when any part is wrong) and appends
it as version n + 1 of `silver.clients` + `silver.contracts` or `silver.rate_cards`: the highest
version is in force, and every earlier one stays so an invoice can be traced to the one it used.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pyarrow.compute as pc

from almacen.clock import utc_now
from almacen.domains.messaging.accounts import CLIENTS
from almacen.domains.messaging.rates import ClientAccount, RateCard, clients_to_tables, load_clients, load_rate_card
from almacen.lake import Lake

CONTRACTS = "silver.contracts"
RATE_CARDS = "silver.rate_cards"


def next_version(lake: Lake, table: str) -> int:
    """One more than the highest version the table holds (1 for the first load)."""
    data = lake.read(table, ["version"])
    return 1 if data is None or data.num_rows == 0 else int(pc.max(data["version"]).as_py()) + 1


def store_clients(lake: Lake, path: Path, now: datetime | None = None) -> tuple[int, int]:
    """Validate `clients.toml` and append it as a new version; returns (version, clients)."""
    accounts = load_clients(path)
    version = max(next_version(lake, CLIENTS), next_version(lake, CONTRACTS))
    clients, contracts = clients_to_tables(accounts, version, now or utc_now())
    lake.append(CONTRACTS, contracts)
    lake.append(CLIENTS, clients)  # last: a version of clients always has its contracts
    return version, clients.num_rows


def store_rate_card(lake: Lake, path: Path, now: datetime | None = None) -> tuple[int, int]:
    """Validate `rates.toml` and append it as a new version; returns (version, priced rows)."""
    card = load_rate_card(path)
    version = next_version(lake, RATE_CARDS)
    table = card.to_table(version, now or utc_now())
    lake.append(RATE_CARDS, table)
    return version, table.num_rows


def clients_toml(accounts: Iterable[ClientAccount]) -> str:
    """`clients.toml` text for `accounts`, as `load_clients` reads it back."""
    out = ["# client accounts and their contracts (docs/messaging-contract.md)\n"]
    for a in accounts:
        out.append(f"[[client]]\nid = {_toml(a.client_id)}\nname = {_toml(a.name)}\n")
        for c in a.contracts:
            out.append(
                f'[[client.contract]]\neffective_from = "{c.effective_from}"\n'
                f'free_messages = {c.free_messages}\ndiscount_pct = "{c.discount_pct}"\n'
            )
    return "\n".join(out)


def rate_card_toml(card: RateCard) -> str:
    """`rates.toml` text for `card`, as `load_rate_card` reads it back."""
    out = [f"# rate card in {card.currency} per delivered template message\ncurrency = {_toml(card.currency)}\n"]
    for period in card.periods:
        out.append(f'[[period]]\neffective_from = "{period.effective_from}"\n')
        for (category, country), tiers in period.prices.items():
            listed = ", ".join(f'[{t.start}, "{t.unit_price}"]' for t in tiers)
            out.append(f'[[period.price]]\ncategory = "{category}"\ncountry = "{country}"\ntiers = [{listed}]\n')
    return "\n".join(out)


def _toml(text: str) -> str:
    """A TOML basic string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
