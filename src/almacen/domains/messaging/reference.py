"""Client accounts, contracts and rate cards loaded from files into the lake, each load a new version.

Every load validates the whole file first (nothing is written when any part is wrong) and appends
it as version n + 1 of `silver.clients` + `silver.contracts` or `silver.rate_cards`: the highest
version is in force, and every earlier one stays so an invoice can be traced to the one it used.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pyarrow.compute as pc

from almacen.domains.messaging.accounts import CLIENTS
from almacen.domains.messaging.rates import clients_to_tables, load_clients, load_rate_card
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
    clients, contracts = clients_to_tables(accounts, version, now or datetime.now(timezone.utc))
    lake.append(CONTRACTS, contracts)
    lake.append(CLIENTS, clients)  # last: a version of clients always has its contracts
    return version, clients.num_rows


def store_rate_card(lake: Lake, path: Path, now: datetime | None = None) -> tuple[int, int]:
    """Validate `rates.toml` and append it as a new version; returns (version, priced rows)."""
    card = load_rate_card(path)
    version = next_version(lake, RATE_CARDS)
    table = card.to_table(version, now or datetime.now(timezone.utc))
    lake.append(RATE_CARDS, table)
    return version, table.num_rows
