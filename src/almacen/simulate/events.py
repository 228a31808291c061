"""Sale events of the simulated chain, as the stores, web shop and app would publish them.

One event is one newline-free JSON object (schema version 1, see docs/streaming.md):
  {"schema_version": 1, "event_id": "...", "event_time": "2026-11-24T14:03:21.123456Z",
   "branch_id": "palermo", "channel": "tienda", "product_id": 1234, "quantity": 2,
   "amount": "2450.00", "payment_type": "debito", "status": "aprobada"}
Amounts travel as decimal strings: a JSON float cannot carry pesos exactly.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from almacen.simulate.catalog import build_catalog
from almacen.simulate.plan import CHANNELS, PAYMENTS

SCHEMA_VERSION = 1
STATUSES = {"aprobada": 0.90, "rechazada": 0.04, "pendiente": 0.06}
BAD_KINDS = ("malformed_json", "unknown_version", "missing_field", "wrong_type", "negative_amount",
             "duplicate_id", "unknown_branch", "future_time")


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
        return (f'{{"schema_version": {SCHEMA_VERSION}, "event_id": "{self.event_id}", '
                f'"event_time": "{self.event_time.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%S.%fZ}", '
                f'"branch_id": "{self.branch_id}", "channel": "{self.channel}", "product_id": {self.product_id}, '
                f'"quantity": {self.quantity}, "amount": "{self.amount}", "payment_type": "{self.payment_type}", '
                f'"status": "{self.status}"}}')


class EventMaker:
    """Deterministic events for a seed: the same seed and times give the same events."""

    def __init__(self, branches: list[str], seed: int = 7, run: str | None = None) -> None:
        if not branches:
            raise ValueError("no branches to simulate events for")
        self.branches = branches
        self.rng = random.Random(seed)
        self.products = [(p.product_id, p.price) for p in build_catalog()]
        self.weights = [p.weight for p in build_catalog()]
        self.run = run or f"s{seed}"
        self.seq = 0
        self.bad = 0

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
            out.append(Event(f"{self.run}-{self.seq:010d}", start + step * i, branches[i], channels[i], product_id,
                             quantity, price * quantity, payments[i], statuses[i]))
        return out

    def bad_line(self, kind: str, good: Event) -> str:
        """A defective event of `kind` (one of BAD_KINDS), made from a good one."""
        line = good.json()
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
        raise ValueError(f"unknown kind of bad event {kind!r}; known: {', '.join(BAD_KINDS)}")

    def lines(self, n: int, start: datetime, end: datetime, bad_fraction: float = 0.0) -> list[tuple[str, str]]:
        """(key, JSON line) pairs: `n` events, about `bad_fraction` of them defective (kinds in turn)."""
        out = []
        for e in self.events(n, start, end):
            if bad_fraction and self.rng.random() < bad_fraction:
                kind = BAD_KINDS[self.bad % len(BAD_KINDS)]
                self.bad += 1
                if kind == "duplicate_id":
                    out.append((e.branch_id, e.json()))  # the same event twice: counted once
                    out.append((e.branch_id, e.json()))
                    continue
                out.append((e.branch_id, self.bad_line(kind, e)))
            else:
                out.append((e.branch_id, e.json()))
        return out


def parse_rate(rate: str) -> float:
    """Events per second from `2/s`, `100000/s`, `30/min` or `1/5s` (one event every five seconds)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d*(?:\.\d+)?)\s*(s|sec|m|min|h)\s*", rate)
    if not m:
        raise ValueError(f"rate {rate!r} is not like 2/s, 30/min or 1/5s")
    per = float(m.group(2) or 1) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[m.group(3)]
    value = float(m.group(1)) / per
    if value <= 0:
        raise ValueError(f"rate {rate!r} must be above zero")
    return value


def emit(maker: EventMaker, send: Callable[[list[tuple[str, str]]], None], rate: float, duration: float,
         *, bad_fraction: float = 0.0, clock: Callable[[], float] = time.time,
         stop: Callable[[], bool] = lambda: False) -> int:
    """Send events at `rate` per second for `duration` seconds, stamped with the time they are made.

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
            lines = maker.lines(due, t0, t0 + timedelta(seconds=tick), bad_fraction)
            send(lines)
            sent += due
        time.sleep(max(0.0, began + elapsed + tick - clock()))
    return sent


def stream_lines(maker: EventMaker, n: int, start: datetime, per_second: float) -> Iterator[list[tuple[str, str]]]:
    """`n` events at `per_second` of event time from `start`, in chunks of up to 10,000 (pre-produced data)."""
    done = 0
    while done < n:
        k = min(10_000, n - done)
        t0 = start + timedelta(seconds=done / per_second)
        yield maker.lines(k, t0, t0 + timedelta(seconds=k / per_second))
        done += k
