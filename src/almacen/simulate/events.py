"""Sale events of the simulated chain, as the stores, web shop and app would publish them.

One event is one newline-free JSON object (schema version 1, see docs/streaming.md):
  {"schema_version": 1, "event_id": "...", "event_time": "2026-11-24T14:03:21.123456Z",
   "branch_id": "palermo", "channel": "tienda", "product_id": 1234, "quantity": 2,
   "amount": "2450.00", "payment_type": "debito", "status": "aprobada"}
Amounts travel as decimal strings: a JSON float cannot carry pesos exactly.

Besides good events it makes defective ones on request: BAD_KINDS, JSON a producer got wrong, and
POISON_KINDS, messages that are no event at all (a Kafka tombstone, nothing, binary, text that is
not UTF-8, a JSON array or string, more than the ingestor's size limit) or an event without a key.
Its `Ledger` keeps the truth of what `lines` produced, for checking the lake against.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from almacen.config.stream import MAX_PAYLOAD_BYTES
from almacen.errors import UsageError
from almacen.simulate.catalog import build_catalog
from almacen.simulate.plan import CHANNELS, PAYMENTS

SCHEMA_VERSION = 1
STATUSES = {"aprobada": 0.90, "rechazada": 0.04, "pendiente": 0.06}
BAD_KINDS = (
    "malformed_json",
    "unknown_version",
    "missing_field",
    "wrong_type",
    "negative_amount",
    "duplicate_id",
    "unknown_branch",
    "future_time",
)
"""defects of content: JSON text a producer got wrong (any transport)"""
POISON_KINDS = ("tombstone", "null_key", "empty", "binary", "invalid_utf8", "json_array", "json_scalar", "oversized")
"""messages a stream must get past: no value, no key (a valid event still), nothing, binary, not
UTF-8, a JSON array, a JSON string (the event encoded twice), one byte over the size limit"""
KAFKA_ONLY = frozenset({"tombstone", "null_key"})
"""kinds a landing file cannot hold: it has no keys and no null lines"""
VALID_KINDS = frozenset({"null_key"})
"""defective messages whose event is valid and lands in bronze"""
Message = tuple[str | None, str | bytes | None]
"""(key, value) as a producer sends it: the key is the branch; None is a null key or value"""


@dataclass
class Ledger:
    """What `EventMaker.lines` produced: every message by kind, and the events the lake must hold.

    `messages` counts each message once by kind: "event" for a good one, else its kind of defect (a
    duplicate counts as one "event" and one "duplicate_id"). `events` and `amount` are what bronze
    and gold must hold: each valid event once. Every other message must be in quarantine.
    """

    messages: Counter[str] = field(default_factory=Counter)
    events: int = 0
    amount: Decimal = Decimal("0")

    def landed(self, event: Event) -> None:
        """Count a valid event that bronze must hold once."""
        self.events += 1
        self.amount += event.amount

    @property
    def quarantined(self) -> int:
        """Messages that must be quarantined: all but one per valid event."""
        return sum(self.messages.values()) - self.events


@dataclass(frozen=True)
class Event:
    """One sale event, before it is written as JSON."""

    event_id: str
    event_time: datetime
    branch_id: str
    channel: str
    product_id: int
    quantity: int
    amount: Decimal
    payment_type: str
    status: str

    def json(self) -> str:
        return (
            f'{{"schema_version": {SCHEMA_VERSION}, "event_id": "{self.event_id}", '
            f'"event_time": "{self.event_time.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%S.%fZ}", '
            f'"branch_id": "{self.branch_id}", "channel": "{self.channel}", "product_id": {self.product_id}, '
            f'"quantity": {self.quantity}, "amount": "{self.amount}", "payment_type": "{self.payment_type}", '
            f'"status": "{self.status}"}}'
        )


class EventMaker:
    """Deterministic events for a seed: the same seed and times give the same events."""

    def __init__(
        self, branches: list[str], seed: int = 7, run: str | None = None, max_payload_bytes: int = MAX_PAYLOAD_BYTES
    ) -> None:
        if not branches:
            raise UsageError("no branches to simulate events for: the config enables none")
        self.branches = branches
        self.rng = random.Random(seed)
        self.products = [(p.product_id, p.price) for p in build_catalog()]
        self.weights = [p.weight for p in build_catalog()]
        self.run = run or f"s{seed}"
        self.max_payload_bytes = max_payload_bytes
        """the ingestor's `stream.max_payload_bytes`: an "oversized" message is one byte more"""
        self.seq = 0
        self.bad = 0
        self.ledger = Ledger()

    def events(self, n: int, start: datetime, end: datetime) -> list[Event]:
        """`n` events with times spread evenly over [start, end)."""
        rng = self.rng
        step = (end - start) / max(n, 1)
        products = rng.choices(self.products, self.weights, k=n)
        channels = rng.choices(list(CHANNELS), list(CHANNELS.values()), k=n)
        payments = rng.choices(list(PAYMENTS), list(PAYMENTS.values()), k=n)
        statuses = rng.choices(list(STATUSES), list(STATUSES.values()), k=n)
        branches = rng.choices(self.branches, k=n)
        out = []
        for i in range(n):
            self.seq += 1
            quantity = 1 + int(rng.random() ** 3 * 4)
            product_id, price = products[i]
            out.append(
                Event(
                    f"{self.run}-{self.seq:010d}",
                    start + step * i,
                    branches[i],
                    channels[i],
                    product_id,
                    quantity,
                    price * quantity,
                    payments[i],
                    statuses[i],
                )
            )
        return out

    def bad_line(self, kind: str, good: Event) -> str | bytes | None:
        """A defective message of `kind` (of BAD_KINDS but duplicate_id, which `lines` makes by sending
        an event twice, or of POISON_KINDS), made from a good event: text, bytes where it is not
        UTF-8, None for a tombstone."""
        line = good.json()
        if kind in POISON_KINDS:
            return self._poison(kind, good, line)
        if kind == "malformed_json":
            return line[: len(line) // 2]
        if kind == "unknown_version":
            return line.replace(f'"schema_version": {SCHEMA_VERSION}', '"schema_version": 99')
        if kind == "missing_field":
            return re.sub(r', "payment_type": "[^"]*"', "", line)
        if kind == "wrong_type":
            return re.sub(r'"quantity": \d+', '"quantity": "dos"', line)
        if kind == "negative_amount":
            return line.replace(f'"amount": "{good.amount}"', f'"amount": "-{good.amount}"')
        if kind == "unknown_branch":
            return line.replace(f'"branch_id": "{good.branch_id}"', '"branch_id": "sucursal_inexistente"')
        if kind == "future_time":
            later = good.event_time + timedelta(days=2)
            return line.replace(f"{good.event_time:%Y-%m-%dT%H:%M:%S.%fZ}", f"{later:%Y-%m-%dT%H:%M:%S.%fZ}")
        raise ValueError(f"unknown kind of bad event {kind!r}; known: {', '.join(BAD_KINDS + POISON_KINDS)}")

    def _poison(self, kind: str, good: Event, line: str) -> str | bytes | None:
        """The message of a POISON_KINDS kind made from `good` (whose JSON is `line`)."""
        if kind == "tombstone":
            return None
        if kind == "null_key":
            return line  # the event is valid: only its key is missing
        if kind == "empty":
            return ""
        if kind == "binary":  # like a schema-registry Avro record: magic byte, schema id, binary body
            body = bytes(self.rng.randrange(128, 256) for _ in range(24))
            return b"\x00\x00\x00\x00\x07" + body + b"\xff"
        if kind == "invalid_utf8":  # a valid event with a note written in Latin-1, not UTF-8
            return (line[:-1] + ', "nota": "entrega mañana"}').encode("latin-1")
        if kind == "json_array":
            return f"[{line}]"
        if kind == "json_scalar":  # the event encoded twice: a JSON string
            return json.dumps(line)
        # oversized: a valid event padded to one byte over the limit
        head = line[:-1] + ', "relleno": "'
        return head + "x" * (self.max_payload_bytes + 1 - len(head) - 2) + '"}'

    def lines(
        self, n: int, start: datetime, end: datetime, bad_fraction: float = 0.0, kinds: Sequence[str] = BAD_KINDS
    ) -> list[Message]:
        """(key, value) messages: `n` events, about `bad_fraction` of them replaced by defective
        messages of `kinds` in turn (BAD_KINDS by default; POISON_KINDS too). Kept in the ledger."""
        unknown = set(kinds) - set(BAD_KINDS) - set(POISON_KINDS)
        if unknown or not kinds:
            raise ValueError(
                f"unknown kinds of bad event {sorted(unknown)}; known: {', '.join(BAD_KINDS + POISON_KINDS)}"
            )
        out: list[Message] = []
        ledger = self.ledger
        for e in self.events(n, start, end):
            if bad_fraction and self.rng.random() < bad_fraction:
                kind = kinds[self.bad % len(kinds)]
                self.bad += 1
                ledger.messages[kind] += 1
                if kind == "duplicate_id":
                    out.append((e.branch_id, e.json()))  # the same event twice: counted once
                    out.append((e.branch_id, e.json()))
                    ledger.messages["event"] += 1
                    ledger.landed(e)
                    continue
                if kind in VALID_KINDS:
                    ledger.landed(e)
                out.append((None if kind == "null_key" else e.branch_id, self.bad_line(kind, e)))
            else:
                out.append((e.branch_id, e.json()))
                ledger.messages["event"] += 1
                ledger.landed(e)
        return out


def parse_kinds(spec: str, kafka: bool) -> tuple[str, ...]:
    """Kinds of defective message from `bad` (BAD_KINDS), `poison` (POISON_KINDS), `all`, or names
    separated by commas; for a landing folder (`kafka` false) the Kafka-only kinds are left out of
    `poison` and `all`, and refused by name."""
    groups = {"bad": BAD_KINDS, "poison": POISON_KINDS, "all": BAD_KINDS + POISON_KINDS}
    names = [k.strip() for k in spec.split(",") if k.strip()]
    kinds: list[str] = []
    for name in names:
        if name in groups:
            kinds += [k for k in groups[name] if kafka or k not in KAFKA_ONLY]
        elif name in BAD_KINDS or name in POISON_KINDS:
            if not kafka and name in KAFKA_ONLY:
                raise UsageError(f"--kinds: {name} needs Kafka (a landing file has no keys and no null lines)")
            kinds.append(name)
        else:
            raise UsageError(
                f"--kinds: {name!r} is not a kind of bad event; give bad, poison, all or some of "
                f"{', '.join(BAD_KINDS + POISON_KINDS)}"
            )
    if not kinds:
        raise UsageError("--kinds: give bad, poison, all or names of kinds of bad event")
    return tuple(dict.fromkeys(kinds))


def parse_rate(rate: str) -> float:
    """Events per second from `2/s`, `100000/s`, `30/min` or `1/5s` (one event every five seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d*(?:\.\d+)?)\s*(s|sec|m|min|h)\s*", rate)
    if not m:
        raise UsageError(f"rate {rate!r} is not like 2/s, 30/min or 1/5s")
    per = float(m.group(2) or 1) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(3)]
    if per == 0:
        raise UsageError(f"rate {rate!r}: the period must be above zero")
    value = float(m.group(1)) / per
    if value <= 0:
        raise UsageError(f"rate {rate!r} must be above zero")
    return value


def emit(
    maker: EventMaker,
    send: Callable[[list[Message]], None],
    rate: float,
    duration: float,
    *,
    bad_fraction: float = 0.0,
    kinds: Sequence[str] = BAD_KINDS,
    clock: Callable[[], float] = time.time,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Send events at `rate` per second for `duration` seconds, stamped with the time they are made,
    about `bad_fraction` of them defective messages of `kinds` (kept in `maker.ledger`).

    Events go out in small bursts (every 50 ms, or one at a time when slower); returns how many.
    """
    sent, began = 0, clock()
    tick = max(0.05, min(1.0, 1.0 / rate))
    while not stop():
        now = clock()
        elapsed = now - began
        if elapsed >= duration:
            break
        due = int(min(elapsed + tick, duration) * rate) - sent
        if due > 0:
            t0 = datetime.fromtimestamp(now, timezone.utc)
            lines = maker.lines(due, t0, t0 + timedelta(seconds=tick), bad_fraction, kinds)
            send(lines)
            sent += due
        time.sleep(max(0.0, began + elapsed + tick - clock()))
    return sent


def stream_lines(maker: EventMaker, n: int, start: datetime, per_second: float) -> Iterator[list[Message]]:
    """`n` events at `per_second` of event time from `start`, in chunks of up to 10,000 (pre-produced data)."""
    done = 0
    while done < n:
        k = min(10_000, n - done)
        t0 = start + timedelta(seconds=done / per_second)
        yield maker.lines(k, t0, t0 + timedelta(seconds=k / per_second))
        done += k
