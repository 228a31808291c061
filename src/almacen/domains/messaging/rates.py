"""Billing reference data: rate cards and client contracts, read from TOML, validated, kept as versions.

A rate card prices each (category, country) with graduated tiers for periods that each run from their
first day of a month to the next period's; a client's contracts give a monthly free allowance and a
discount the same way. Loading rejects a file with any fault, naming the file, the item and the fault,
so a bad file never reaches an invoice. `to_table` / `from_table` give the lake's `silver.rate_cards`,
`silver.clients` and `silver.contracts` shapes (one version per load, the highest in force).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES
from almacen.errors import AlmacenError

_TS = pa.timestamp("us", tz="UTC")
RATE_CARDS_SCHEMA = pa.schema(
    [
        ("version", pa.int64()),
        ("loaded_at", _TS),
        ("currency", pa.string()),
        ("effective_from", pa.date32()),
        ("effective_to", pa.date32()),
        ("category", pa.string()),
        ("country", pa.string()),
        ("tier", pa.int32()),
        ("tier_from", pa.int64()),
        ("unit_price", pa.decimal128(18, 6)),
    ]
)
CLIENTS_SCHEMA = pa.schema(
    [("version", pa.int64()), ("loaded_at", _TS), ("client_id", pa.string()), ("name", pa.string())]
)
CONTRACTS_SCHEMA = pa.schema(
    [
        ("version", pa.int64()),
        ("loaded_at", _TS),
        ("client_id", pa.string()),
        ("effective_from", pa.date32()),
        ("effective_to", pa.date32()),
        ("free_messages", pa.int64()),
        ("discount_pct", pa.decimal128(5, 2)),
    ]
)
CLIENT_ID = re.compile(r"^[a-z0-9_-]+$")
_MAX_PRICE = Decimal(10) ** 12  # decimal(18, 6) holds 12 integer digits
_MAX_INT64 = 2**63 - 1


class RateCardError(AlmacenError, ValueError):
    """A rate card that cannot be used: the message names the file (or table), the item and the fault."""


class ContractError(AlmacenError, ValueError):
    """Clients or contracts that cannot be used: the message names the file, the client and the fault."""


@dataclass(frozen=True)
class Tier:
    start: int
    """the first unit of the month priced at this tier (0 for the first tier)"""
    unit_price: Decimal


@dataclass(frozen=True)
class RatePeriod:
    effective_from: date
    effective_to: date | None
    """the next period's first day (exclusive); None for the last, open-ended period"""
    prices: dict[tuple[str, str], tuple[Tier, ...]]
    """(category, country) -> tiers, ascending by start"""


@dataclass(frozen=True)
class RateCard:
    currency: str
    periods: tuple[RatePeriod, ...]
    version: int | None = None
    """the `silver.rate_cards` version it was read from; None when read from a file"""

    def period_for(self, month: date) -> RatePeriod:
        """The period in force on `month` (any day of it); RateCardError naming the month when none is."""
        for period in self.periods:
            if period.effective_from <= month and (period.effective_to is None or month < period.effective_to):
                return period
        first = min((p.effective_from for p in self.periods), default=None)
        raise RateCardError(no_period_message(self.version, month, first))

    def to_table(self, version: int, loaded_at: datetime) -> pa.Table:
        """The card as version `version` of `silver.rate_cards`: one row per period, category, country and tier."""
        rows = [
            {
                "version": version,
                "loaded_at": loaded_at,
                "currency": self.currency,
                "effective_from": p.effective_from,
                "effective_to": p.effective_to,
                "category": category,
                "country": country,
                "tier": i,
                "tier_from": tier.start,
                "unit_price": tier.unit_price,
            }
            for p in sorted(self.periods, key=lambda p: p.effective_from)
            for (category, country), tiers in sorted(p.prices.items())
            for i, tier in enumerate(tiers, start=1)
        ]
        return pa.Table.from_pylist(rows, schema=RATE_CARDS_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table) -> RateCard:
        """The card in force in a `silver.rate_cards` table: its highest version."""
        if table.num_rows == 0:
            raise RateCardError("silver.rate_cards is empty: load a rate card first")
        version = pc.max(table["version"]).as_py()
        periods: dict[tuple[date, date | None], dict[tuple[str, str], list[tuple[int, Tier]]]] = {}
        currency = ""
        for row in table.filter(pc.equal(table["version"], version)).to_pylist():
            currency = row["currency"]
            prices = periods.setdefault((row["effective_from"], row["effective_to"]), {})
            prices.setdefault((row["category"], row["country"]), []).append(
                (row["tier"], Tier(row["tier_from"], row["unit_price"]))
            )
        return cls(
            currency,
            tuple(
                RatePeriod(
                    start,
                    end,
                    {
                        key: tuple(t for _, t in sorted(tiers, key=lambda x: x[0]))
                        for key, tiers in sorted(prices.items())
                    },
                )
                for (start, end), prices in sorted(periods.items(), key=lambda kv: kv[0][0])
            ),
            version,
        )


def no_period_message(version: int | None, month: date, first: date | None) -> str:
    """The one wording, in Python and in SQL checks, of a month no rate card period covers."""
    card = "rate card" if version is None else f"rate card version {version}"
    where = "it has no periods" if first is None else f"the first starts on {first}"
    return f"{card}: no period in force on {month} ({where})"


@dataclass(frozen=True)
class Contract:
    client_id: str
    effective_from: date
    effective_to: date | None
    """the client's next contract's first day (exclusive); None for the last, open-ended one"""
    free_messages: int
    """billable messages free each month, taken from the invoice's first lines on"""
    discount_pct: Decimal
    """percent off the subtotal, 0..100, two decimals"""


@dataclass(frozen=True)
class ClientAccount:
    client_id: str
    name: str
    contracts: tuple[Contract, ...]
    version: int | None = None
    """the `silver.contracts` version it was read from; None when read from a file"""


def contract_for(contracts: Iterable[Contract], client_id: str, month: date) -> Contract:
    """The client's contract in force on `month`; ContractError naming the client and the month when none is."""
    found = contract_in_force(contracts, client_id, month)
    if found is None:
        raise ContractError(f"client {client_id} has no contract in force on {month}")
    return found


def contract_in_force(contracts: Iterable[Contract], client_id: str, month: date) -> Contract | None:
    """The client's contract in force on `month`, or None."""
    for c in contracts:
        in_force = c.effective_from <= month and (c.effective_to is None or month < c.effective_to)
        if c.client_id == client_id and in_force:
            return c
    return None


def clients_to_tables(clients: Iterable[ClientAccount], version: int, loaded_at: datetime) -> tuple[pa.Table, pa.Table]:
    """Version `version` of `silver.clients` and `silver.contracts`."""
    clients = sorted(clients, key=lambda a: a.client_id)
    accounts = [{"version": version, "loaded_at": loaded_at, "client_id": a.client_id, "name": a.name} for a in clients]
    contracts = [
        {
            "version": version,
            "loaded_at": loaded_at,
            "client_id": a.client_id,
            "effective_from": c.effective_from,
            "effective_to": c.effective_to,
            "free_messages": c.free_messages,
            "discount_pct": c.discount_pct,
        }
        for a in clients
        for c in sorted(a.contracts, key=lambda c: c.effective_from)
    ]
    return (
        pa.Table.from_pylist(accounts, schema=CLIENTS_SCHEMA),
        pa.Table.from_pylist(contracts, schema=CONTRACTS_SCHEMA),
    )


def contracts_from_table(contracts: pa.Table, clients: pa.Table | None = None) -> list[ClientAccount]:
    """The accounts in force (highest versions) of `silver.contracts`, named from `silver.clients` when given
    (a client without a name there is named by its id), sorted by client id."""
    names: dict[str, str] = {}
    if clients is not None and clients.num_rows:
        current = clients.filter(pc.equal(clients["version"], pc.max(clients["version"])))
        names = dict(zip(current["client_id"].to_pylist(), current["name"].to_pylist()))
    version = pc.max(contracts["version"]).as_py() if contracts.num_rows else None
    by_client: dict[str, list[Contract]] = {client_id: [] for client_id in names}
    if version is not None:
        for row in contracts.filter(pc.equal(contracts["version"], version)).to_pylist():
            by_client.setdefault(row["client_id"], []).append(
                Contract(
                    row["client_id"],
                    row["effective_from"],
                    row["effective_to"],
                    row["free_messages"],
                    row["discount_pct"],
                )
            )
    return [
        ClientAccount(
            client_id, names.get(client_id, client_id), tuple(sorted(found, key=lambda c: c.effective_from)), version
        )
        for client_id, found in sorted(by_client.items())
    ]


def load_rate_card(path: str | Path) -> RateCard:
    """The rate card of a `rates.toml` file, validated whole; RateCardError naming what is wrong."""
    return parse_rate_card(_read_toml(path, RateCardError), str(path))


def load_clients(path: str | Path) -> list[ClientAccount]:
    """The client accounts of a `clients.toml` file, validated whole; ContractError naming what is wrong."""
    return parse_clients(_read_toml(path, ContractError), str(path))


def parse_rate_card(data: dict, source: str = "rates.toml") -> RateCard:
    """A rate card from parsed TOML; `source` names the file in errors."""

    def fail(*where: str) -> RateCardError:
        return RateCardError(": ".join((source, *where)))

    _known_keys(data, {"currency", "period"}, fail)
    currency = data.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise fail(f'currency must be a 3-letter code like "USD", got {currency!r}')
    raw = data.get("period")
    if not isinstance(raw, list) or not raw:
        raise fail("no [[period]]")
    starts: dict[date, dict] = {}
    for i, period in enumerate(raw, start=1):
        at = lambda *w, i=i: fail(f"period {i}", *w)  # noqa: E731
        if not isinstance(period, dict):
            raise at("must be a table")
        _known_keys(period, {"effective_from", "price"}, at)
        start = _first_of_month(period.get("effective_from"), at)
        if start in starts:
            raise fail(f"overlapping periods {start} and {start}")
        starts[start] = period
    ordered = sorted(starts)
    periods = []
    for start, end in zip(ordered, [*ordered[1:], None]):
        prices = _prices(starts[start].get("price"), lambda *w, s=start: fail(f"period {s}", *w))
        missing = [f"{c}/{k}" for c in CATEGORIES for k in COUNTRIES if (c, k) not in prices]
        if missing:
            raise fail(f"period {start} does not price {', '.join(missing)} (missing)")
        periods.append(RatePeriod(start, end, dict(sorted(prices.items()))))
    return RateCard(currency, tuple(periods))


def parse_clients(data: dict, source: str = "clients.toml") -> list[ClientAccount]:
    """Client accounts from parsed TOML, sorted by id; `source` names the file in errors."""

    def fail(*where: str) -> ContractError:
        return ContractError(": ".join((source, *where)))

    _known_keys(data, {"client"}, fail)
    raw = data.get("client")
    if not isinstance(raw, list) or not raw:
        raise fail("no [[client]]")
    seen: dict[str, int] = {}
    accounts = []
    for i, client in enumerate(raw, start=1):
        if not isinstance(client, dict):
            raise fail(f"client {i}", "must be a table")
        _known_keys(client, {"id", "name", "contract"}, lambda *w, i=i: fail(f"client {i}", *w))
        client_id = client.get("id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise fail(f"client {i}", f"id must match {CLIENT_ID.pattern}, got {client_id!r}")
        if client_id in seen:
            raise fail(f"duplicate client id {client_id} (clients {seen[client_id]} and {i})")
        seen[client_id] = i
        at = lambda *w, c=client_id: fail(f"client {c}", *w)  # noqa: E731
        name = client.get("name")
        if not isinstance(name, str) or not name.strip():
            raise at(f"name must be a non-empty string, got {name!r}")
        accounts.append(ClientAccount(client_id, name, _contracts(client_id, client.get("contract"), at)))
    return sorted(accounts, key=lambda a: a.client_id)


def _contracts(client_id: str, raw: object, fail: Callable[..., ValueError]) -> tuple[Contract, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("no [[client.contract]]")
    terms: dict[date, tuple[int, Decimal]] = {}
    for j, contract in enumerate(raw, start=1):
        at = lambda *w, j=j: fail(f"contract {j}", *w)  # noqa: E731
        if not isinstance(contract, dict):
            raise at("must be a table")
        _known_keys(contract, {"effective_from", "free_messages", "discount_pct"}, at)
        start = _first_of_month(contract.get("effective_from"), at)
        if start in terms:
            raise fail(f"overlapping contracts {start} and {start}")
        at = lambda *w, s=start: fail(f"contract {s}", *w)  # noqa: E731
        free = contract.get("free_messages")
        if isinstance(free, bool) or not isinstance(free, int) or not 0 <= free <= _MAX_INT64:
            raise at(f"free_messages must be a whole number >= 0, got {free!r}")
        terms[start] = (free, _discount(contract.get("discount_pct"), at))
    ordered = sorted(terms)
    return tuple(Contract(client_id, start, end, *terms[start]) for start, end in zip(ordered, [*ordered[1:], None]))


def _discount(value: object, fail: Callable[..., ValueError]) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail(f'discount_pct must be a decimal string like "10.00", got {value!r}')
    pct = _decimal(str(value), "discount_pct", fail)
    if not 0 <= pct <= 100:
        raise fail(f"discount_pct {value} is outside 0..100")
    if pct != pct.quantize(Decimal("0.01")):
        raise fail(f"discount_pct {value} has more than 2 decimals")
    return pct.quantize(Decimal("0.01"))


def _prices(raw: object, fail: Callable[..., ValueError]) -> dict[tuple[str, str], tuple[Tier, ...]]:
    if not isinstance(raw, list) or not raw:
        raise fail("no [[period.price]]")
    prices: dict[tuple[str, str], tuple[Tier, ...]] = {}
    for j, price in enumerate(raw, start=1):
        at = lambda *w, j=j: fail(f"price {j}", *w)  # noqa: E731
        if not isinstance(price, dict):
            raise at("must be a table")
        _known_keys(price, {"category", "country", "tiers"}, at)
        category, country = price.get("category"), price.get("country")
        if category not in CATEGORIES:
            raise at(f"unknown category {category!r} (expected one of {', '.join(CATEGORIES)})")
        if country not in COUNTRIES:
            raise at(f"unknown country {country!r} (expected one of {', '.join(COUNTRIES)})")
        label = f"{category}/{country}"
        if (category, country) in prices:
            raise fail(label, "priced twice")
        prices[(category, country)] = _tiers(price.get("tiers"), lambda *w, label=label: fail(label, *w))
    return prices


def _tiers(raw: object, fail: Callable[..., ValueError]) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("no tiers")
    tiers: list[Tier] = []
    for k, item in enumerate(raw, start=1):
        if not isinstance(item, list) or len(item) != 2:
            raise fail(f'tier {k} must be [from, "price"], got {item!r}')
        start, price = item
        if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start <= _MAX_INT64:
            raise fail(f"tier {k}: from must be a whole number >= 0, got {start!r}")
        if k == 1 and start != 0:
            raise fail("tiers must start at 0")
        if tiers and start <= tiers[-1].start:
            raise fail(
                f"tier {k} starts at {start}, not after tier {k - 1} at {tiers[-1].start} "
                "(tiers must start in strictly increasing order)"
            )
        tiers.append(Tier(start, _price(price, lambda *w, k=k: fail(f"tier {k}", *w))))
    return tuple(tiers)


def _price(value: object, fail: Callable[..., ValueError]) -> Decimal:
    if not isinstance(value, str):
        raise fail(f'price must be a decimal string like "0.0618", got {value!r}')
    price = _decimal(value, "price", fail)
    if price < 0:
        raise fail(f"negative price {value}")
    if price >= _MAX_PRICE:
        raise fail(f"price {value} is too large (decimal(18,6) holds 12 integer digits)")
    if price != price.quantize(Decimal("0.000001")):
        raise fail(f"price {value} has more than 6 decimals")
    return price.quantize(Decimal("0.000001"))


def _decimal(text: str, what: str, fail: Callable[..., ValueError]) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise fail(f"{what} {text!r} is not a decimal number")
    return value


def _first_of_month(value: object, fail: Callable[..., ValueError]) -> date:
    if value is None:
        raise fail("effective_from is missing")
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            raise fail(f"effective_from {value!r} is not a date (YYYY-MM-DD)") from None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise fail(f"effective_from {value!r} is not a date (YYYY-MM-DD)")
    if value.day != 1:
        raise fail(f"effective_from {value} is not the first day of a month")
    return value


def _known_keys(table: dict, known: set[str], fail: Callable[..., ValueError]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise fail(f"unknown key {unknown[0]!r} (expected {', '.join(sorted(known))})")


def _read_toml(path: str | Path, error: type[ValueError]) -> dict:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from None
