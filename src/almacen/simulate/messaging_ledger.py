"""The simulated messaging platform's truth: its client accounts and rate card, and a ledger of the
valid events the simulator emitted (almacen.simulate.messaging makes the events).

The ledger is written as events leave the simulator, so it holds exactly what was emitted so far (a
status still held back does not count), each event once (a duplicate is only counted), without the
defective ones: what the lake's silver.messages and gold.usage_minute are checked against.
"""

from __future__ import annotations

import itertools
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from almacen.clock import month_after
from almacen.domains.messaging.rates import ClientAccount, Contract, RateCard, RatePeriod, Tier
from almacen.domains.messaging.reference import clients_toml, rate_card_toml
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES, STATUS_RANK
from almacen.errors import UsageError

BASE_PRICES = {  # USD per delivered template, first tier
    "authentication": {
        "AR": "0.0230",
        "BR": "0.0068",
        "CL": "0.0200",
        "CO": "0.0008",
        "MX": "0.0085",
        "PE": "0.0200",
        "US": "0.0135",
    },
    "marketing": {
        "AR": "0.0618",
        "BR": "0.0625",
        "CL": "0.0889",
        "CO": "0.0125",
        "MX": "0.0305",
        "PE": "0.0703",
        "US": "0.0250",
    },
    "utility": {
        "AR": "0.0260",
        "BR": "0.0068",
        "CL": "0.0200",
        "CO": "0.0008",
        "MX": "0.0085",
        "PE": "0.0200",
        "US": "0.0040",
    },
}
TIERS = ((0, Decimal("1")), (10_000, Decimal("0.94")), (100_000, Decimal("0.88")))
"""graduated tiers: (from unit, factor on the first tier's price)"""
_TRADES = (  # (trade, category shares authentication/marketing/utility, chance of a chatbot)
    ("Supermercados", (0.05, 0.65, 0.30), 0.5),
    ("Farmacias", (0.05, 0.45, 0.50), 0.6),
    ("Banco", (0.60, 0.10, 0.30), 0.8),
    ("Financiera", (0.55, 0.20, 0.25), 0.6),
    ("Seguros", (0.25, 0.25, 0.50), 0.7),
    ("Tiendas", (0.05, 0.70, 0.25), 0.4),
    ("Distribuidora", (0.05, 0.35, 0.60), 0.3),
    ("Clínica", (0.10, 0.15, 0.75), 0.7),
    ("Transportes", (0.05, 0.15, 0.80), 0.4),
    ("Inmobiliaria", (0.05, 0.55, 0.40), 0.5),
    ("Librería", (0.05, 0.70, 0.25), 0.2),
    ("Ferretería", (0.05, 0.60, 0.35), 0.2),
    ("Óptica", (0.05, 0.40, 0.55), 0.3),
    ("Electrodomésticos", (0.10, 0.55, 0.35), 0.5),
    ("Telecomunicaciones", (0.30, 0.30, 0.40), 0.9),
    ("Universidad", (0.20, 0.30, 0.50), 0.6),
    ("Gimnasios", (0.05, 0.50, 0.45), 0.3),
    ("Viajes", (0.15, 0.50, 0.35), 0.6),
    ("Restaurantes", (0.05, 0.60, 0.35), 0.4),
    ("Moda", (0.05, 0.75, 0.20), 0.4),
)
_PLACES = (
    "Norte",
    "del Sur",
    "del Plata",
    "Andina",
    "Patagonia",
    "Los Andes",
    "San Martín",
    "La Esperanza",
    "Pampeana",
    "del Litoral",
    "Río Grande",
    "Central",
    "del Pacífico",
    "Cuyo",
    "Austral",
    "La Estrella",
    "El Sol",
    "Belgrano",
    "Mitre",
    "Rivadavia",
    "Sarmiento",
    "Santa Fe",
    "Mendoza",
    "Córdoba",
    "Rosario",
    "Salta",
    "Tucumán",
    "Bariloche",
    "Valparaíso",
    "Medellín",
    "Guadalajara",
    "Cusco",
    "Monterrey",
    "Bogotá",
    "Lima",
    "Santiago",
    "Porto Alegre",
    "Curitiba",
    "Miami",
    "Montevideo",
)
_FORMS = {
    "AR": ("S.A.", "S.R.L."),
    "BR": ("Ltda.",),
    "CL": ("SpA",),
    "CO": ("S.A.S.",),
    "MX": ("S.A. de C.V.",),
    "PE": ("S.A.C.",),
    "US": ("Inc.", "LLC"),
}


@dataclass(frozen=True)
class Client:
    """A business account: its contracts and the shape of its traffic."""

    client_id: str
    name: str
    contracts: tuple[Contract, ...]
    """its terms, as billing reads them (`domains.messaging.rates.Contract`)"""
    countries: tuple[tuple[str, float], ...]
    """(country, share of its recipients)"""
    categories: tuple[tuple[str, float], ...]
    """(category, share of its templates)"""
    volume: float
    """relative share of the platform's traffic"""
    chatbot: bool
    audience: int
    """how many customer phones it writes to"""


@dataclass(frozen=True)
class World:
    """The platform's reference data: client accounts and the rate card."""

    start: date
    clients: tuple[Client, ...]
    rate_card: RateCard

    def accounts(self) -> list[ClientAccount]:
        """The client accounts as billing reads them."""
        return [ClientAccount(c.client_id, c.name, c.contracts) for c in self.clients]


def _client(rng: random.Random, i: int, start: date, names: set[str]) -> Client:
    """Client number `i` (0-based; the first writes to every country)."""
    trade, shares, chatbot = rng.choice(_TRADES)
    home = "AR" if i == 0 or rng.random() < 0.7 else rng.choice(COUNTRIES[1:])
    others = [c for c in COUNTRIES if c != home]
    abroad = others if i == 0 else rng.sample(others, rng.choice((0, 0, 1, 1, 2, 3)))
    home_share = 0.4 if i == 0 else (rng.uniform(0.6, 0.95) if abroad else 1.0)
    rest = [rng.uniform(0.5, 1.5) for _ in abroad]
    countries = [(home, home_share)] + [(c, (1 - home_share) * w / sum(rest)) for c, w in zip(abroad, rest)]
    name = base = f"{trade} {rng.choice(_PLACES)} {rng.choice(_FORMS[home])}"
    n = 1
    while name in names:
        n += 1
        name = f"{base} ({n})"
    names.add(name)
    terms = [(rng.choice((0, 500, 1000, 1000, 5000)), rng.choice(("0.00", "0.00", "5.00", "10.00")))]
    if rng.random() < 0.4:
        terms.append((rng.choice((0, 1000, 2000, 5000)), rng.choice(("0.00", "5.00", "7.50", "12.00"))))
    client_id = f"c{i + 1:05d}"
    starts = [month_after(start, 0 if k == 0 else k + rng.randrange(2)) for k in range(len(terms))]
    contracts = tuple(
        Contract(client_id, day, nxt, free, Decimal(pct))
        for day, nxt, (free, pct) in zip(starts, [*starts[1:], None], terms)
    )
    volume = min(200.0, rng.paretovariate(1.2)) * (5 if i == 0 else 1)
    return Client(
        client_id,
        name,
        contracts,
        tuple(countries),
        tuple(zip(CATEGORIES, shares)),
        volume,
        i == 0 or rng.random() < chatbot,
        int(min(20_000, 40 + volume * 150)),
    )


def _price(base: str, factor: Decimal) -> Decimal:
    """A unit price: 4 decimals, or 6 for prices under a cent."""
    exact = Decimal(base) * factor
    return exact.quantize(Decimal("0.000001" if exact < Decimal("0.01") else "0.0001"), ROUND_HALF_UP)


def build_world(clients: int, seed: int = 7, start: date = date(2026, 8, 1)) -> World:
    """Deterministic client accounts `c00001`… and a rate card with a price change two months in."""
    if clients < 1 or clients > 99_999:
        raise UsageError(f"clients (--clients) must be 1..99999, not {clients}")
    if start.day != 1:
        raise ValueError(f"start {start} must be the first day of a month (contracts and rates start on one)")
    rng = random.Random(seed)
    names: set[str] = set()
    accounts = tuple(_client(rng, i, start, names) for i in range(clients))
    tiers = {(ca, co): TIERS[: rng.choice((1, 2, 2, 3))] for ca in CATEGORIES for co in COUNTRIES}
    change = {key: Decimal(rng.choice(("0.95", "1", "1.03", "1.08"))) for key in tiers}
    periods = []
    change_day = month_after(start, 2)
    for day, until, moved in ((start, change_day, False), (change_day, None, True)):
        prices = {
            (ca, co): tuple(
                Tier(f, _price(BASE_PRICES[ca][co], k * (change[ca, co] if moved else Decimal(1))))
                for f, k in tiers[ca, co]
            )
            for ca, co in tiers
        }
        periods.append(RatePeriod(day, until, prices))
    return World(start, accounts, RateCard("USD", tuple(periods)))


def write_reference(world: World, folder: Path) -> tuple[Path, Path]:
    """`clients.toml` and `rates.toml` in the contract's formats, for `almacen billing clients|rates load`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "clients.toml", folder / "rates.toml"
    paths[0].write_text(clients_toml(world.accounts()), encoding="utf-8")
    paths[1].write_text(rate_card_toml(world.rate_card), encoding="utf-8")
    return paths


KINDS = ("template", "inbound", "reply")
TEMPLATE, INBOUND, REPLY = 0, 1, 2
NO_CATEGORY = 255
_TS = pa.timestamp("us", tz="UTC")
_MINUTE_US = 60_000_000
_STATUS_NAMES = sorted(STATUS_RANK, key=STATUS_RANK.__getitem__) + ["received"]  # by rank, then inbound's


def message_id(run: str, seq: int) -> str:
    """The id of the simulator's `seq`-th valid message of run `run`."""
    return f"{run}-m{seq}"


def _int64(values: array) -> pa.Array:
    """An array('q') as an int64 Arrow array, without a Python object per element."""
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(values)])


class Ledger:
    """Valid messages emitted (one row each) and the status events emitted for them.

    The simulator appends to `messages_emitted` (seq, client, recipient, country, category, kind,
    sent_at µs; indices into the client list and the vocabulary) and `statuses_emitted` (seq,
    STATUS_RANK) as events leave it; `compact()`, which every reader calls first, folds them into
    columns. Those two lists are only ever cleared in place: the simulator keeps their `append`.
    """

    def __init__(self, client_ids: Sequence[str], run: str, bad_kinds: Sequence[str]) -> None:
        self.client_ids = list(client_ids)
        self.run = run
        self.messages_emitted: list[tuple] = []
        self.statuses_emitted: list[tuple[int, int]] = []
        self.emitted = 0
        self.duplicates = 0
        self.bad = dict.fromkeys(bad_kinds, 0)
        self._seq, self._client, self._sent = array("q"), array("i"), array("q")
        self._recipients: list[tuple[str, ...]] = []
        """in chunks: a tuple of strings is not tracked by the garbage collector, a long list would be"""
        self._country, self._category, self._kind = bytearray(), bytearray(), bytearray()
        self._status_seq, self._status_rank = array("q"), bytearray()

    def duplicate(self, _record: object = None) -> None:
        """An event emitted a second time (same event_id): counted, not recorded."""
        self.duplicates += 1

    def defective(self, kind: str) -> None:
        """A defective event emitted: counted by kind, not recorded."""
        self.bad[kind] += 1

    def compact(self) -> None:
        """Fold the appended records into columns."""
        if self.messages_emitted:
            seq, client, recipient, country, category, kind, sent = zip(*self.messages_emitted)
            self.messages_emitted.clear()
            self._seq.extend(seq)
            self._client.extend(client)
            self._recipients.append(recipient)
            self._country.extend(country)
            self._category.extend(category)
            self._kind.extend(kind)
            self._sent.extend(sent)
        if self.statuses_emitted:
            seq, rank = zip(*self.statuses_emitted)
            self.statuses_emitted.clear()
            self._status_seq.extend(seq)
            self._status_rank.extend(rank)

    def __len__(self) -> int:
        self.compact()
        return len(self._seq)

    def _rows(self, recipients: bool = False) -> pa.Table:
        """The message rows (in no order), with `rank`: the best status emitted for the message (0: none)."""
        self.compact()
        extra = (
            {"recipient": pa.array(itertools.chain.from_iterable(self._recipients), pa.string(), size=len(self._seq))}
            if recipients
            else {}
        )
        rows = pa.table(
            {
                **extra,
                "seq": _int64(self._seq),
                "client": pa.array(self._client, pa.int32()),
                "country": pa.array(self._country, pa.uint8()),
                "category": pa.array(self._category, pa.uint8()),
                "kind": pa.array(self._kind, pa.uint8()),
                "sent": _int64(self._sent),
            }
        )
        statuses = pa.table({"seq": _int64(self._status_seq), "rank": pa.array(self._status_rank, pa.uint8())})
        best = statuses.group_by("seq", use_threads=False).aggregate([("rank", "max")])
        rows = rows.join(best, "seq", join_type="left outer", use_threads=False)
        return rows.set_column(rows.schema.get_field_index("rank_max"), "rank", pc.fill_null(rows["rank_max"], 0))

    def messages(self) -> pa.Table:
        """One row per valid message emitted, by (sent_at, message_id): silver.messages's columns, with
        the raw `recipient` phone in place of its pseudonym `recipient_key`."""
        rows = self._rows(recipients=True)
        kind, category = rows["kind"], rows["category"]
        status = pc.if_else(
            pc.equal(kind, TEMPLATE),
            rows["rank"],
            pc.if_else(pc.equal(kind, INBOUND), len(_STATUS_NAMES) - 1, STATUS_RANK["sent"]),
        )
        table = pa.table(
            {
                "message_id": pc.binary_join_element_wise(
                    message_id(self.run, 0)[:-1], rows["seq"].cast(pa.string()), ""
                ),
                "client_id": pa.array(self.client_ids, pa.string()).take(rows["client"]),
                "recipient": rows["recipient"],
                "country": pa.array(COUNTRIES, pa.string()).take(rows["country"]),
                "category": pa.array(CATEGORIES, pa.string()).take(
                    pc.if_else(pc.equal(category, NO_CATEGORY), pa.scalar(None, pa.uint8()), category)
                ),
                "kind": pa.array(KINDS, pa.string()).take(kind),
                "sent_at": rows["sent"].cast(_TS),
                "status": pa.array(_STATUS_NAMES, pa.string()).take(status),
            }
        )
        return table.sort_by([("sent_at", "ascending"), ("message_id", "ascending")])

    def usage_minute(self) -> pa.Table:
        """gold.usage_minute of the templates emitted: per send minute × client × category × country,
        sent / delivered (final delivered or read) / read / failed / billable (= delivered)."""
        rows = self._rows().filter(pc.field("kind") == TEMPLATE)
        rank = rows["rank"]
        flags = {
            "delivered": pc.greater_equal(rank, STATUS_RANK["delivered"]),
            "read": pc.equal(rank, STATUS_RANK["read"]),
            "failed": pc.equal(rank, STATUS_RANK["failed"]),
        }
        keys = ["minute", "client", "category", "country"]
        grouped = (
            pa.table(
                {
                    "minute": pc.multiply(pc.divide(rows["sent"], _MINUTE_US), _MINUTE_US),  # the times are positive
                    "client": rows["client"],
                    "category": rows["category"],
                    "country": rows["country"],
                    **{k: v.cast(pa.int64()) for k, v in flags.items()},
                }
            )
            .group_by(keys, use_threads=False)
            .aggregate([("minute", "count")] + [(k, "sum") for k in flags])
        )
        grouped = grouped.sort_by([(k, "ascending") for k in keys])  # indices sort as the names they stand for
        minutes = grouped["minute"].cast(_TS)
        delivered = grouped["delivered_sum"].cast(pa.int64())
        return pa.table(
            {
                "minute": minutes,
                "day": minutes.cast(pa.date32()),
                "client_id": pa.array(self.client_ids, pa.string()).take(grouped["client"]),
                "category": pa.array(CATEGORIES, pa.string()).take(grouped["category"]),
                "country": pa.array(COUNTRIES, pa.string()).take(grouped["country"]),
                "sent": grouped["minute_count"].cast(pa.int64()),
                "delivered": delivered,
                "read": grouped["read_sum"].cast(pa.int64()),
                "failed": grouped["failed_sum"].cast(pa.int64()),
                "billable": delivered,
            }
        )

    def counts(self) -> dict[str, object]:
        """Events emitted, the valid ones (each once), messages, duplicates, defective by kind, orphans."""
        bad = sum(self.bad.values())
        return {
            "events": self.emitted,
            "valid": self.emitted - self.duplicates - bad,
            "messages": len(self),
            "duplicates": self.duplicates,
            "bad": dict(self.bad),
            "orphans": self.bad.get("orphan_status", 0),
        }
