"""A branch's day of sales as a plan of timed events: a pure function of the seed and the inputs.

Sales follow the rhythm of an Argentine store: shops open 9–21 Buenos Aires time (UTC-3), web and
app all day but quiet at night, Saturdays busy, Sundays quiet, paydays (days 1–5) busier. Some
sales start `pendiente` and settle hours later; a few approved ones are voided.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from almacen.simulate.catalog import Product
from almacen.simulate.customers import Customer

BASE_SALES_PER_DAY = 2500
AR_OFFSET = timedelta(hours=3)  # Buenos Aires is UTC-3 all year
WEEKDAY_FACTOR = (0.9, 0.85, 0.9, 0.95, 1.1, 1.35, 0.7)
STORE_HOURS = {9: 4, 10: 6, 11: 8, 12: 10, 13: 9, 14: 6, 15: 5, 16: 6, 17: 8, 18: 10, 19: 11, 20: 8}
ONLINE_HOURS = {h: w for h, w in enumerate((3, 2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 9, 8, 7, 7, 8, 9, 10, 11, 10, 8, 5))}
CHANNELS = {"tienda": 0.70, "web": 0.18, "app": 0.12}
PAYMENTS = {"efectivo": 0.25, "debito": 0.30, "credito": 0.22, "mercado_pago_qr": 0.18, "transferencia": 0.05}
LINES = {1: 18, 2: 20, 3: 18, 4: 14, 5: 11, 6: 8, 7: 6, 8: 5}
DEFECTS = ("negative_quantity", "unknown_product", "unknown_payment", "future_sold_at", "duplicate_line")
"""the defects a POS without a key on its lines can produce; one with such a key gets `null_payment` instead"""
CENT = Decimal("0.01")


@dataclass
class Line:
    line_no: int
    product: Product
    quantity: Decimal
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.unit_price).quantize(CENT)


@dataclass
class Sale:
    sale_id: int
    sold_at: datetime
    channel: str
    payment_type: str | None
    status: str
    customer: Customer | None
    lines: list[Line]
    updates: list[tuple[datetime, str]] = field(default_factory=list)
    """(when, new status), applied in order"""
    defect: str | None = None
    recorded_sold_at: datetime | None = None
    """what the POS wrote as the sale time when its clock was wrong (else `sold_at`)"""

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def branch_factor(branch_id: str) -> float:
    """A stable size for each branch (0.6–1.4), so branches differ but never change."""
    return 0.6 + int(hashlib.sha256(branch_id.encode()).hexdigest()[:4], 16) / 0xFFFF * 0.8


def first_sale_id(day: date) -> int:
    """Sale numbers never collide across days: 100,000 a day from a fixed epoch."""
    return (day.toordinal() - date(2020, 1, 1).toordinal()) * 100_000 + 1


def plan_day(
    branch_id: str,
    day: date,
    products: list[Product],
    customers: list[Customer],
    *,
    seed: int = 7,
    scale: float = 1.0,
    bad_rows: float = 0.002,
    fractional: bool = False,
    defects: tuple[str, ...] = DEFECTS,
) -> list[Sale]:
    """Every sale of `branch_id` on `day` (UTC), sorted by time, with its later status updates.

    `fractional` lets weighed goods (Frescos) sell in fractions of a kilo (POS that store decimals);
    `bad_rows` of the sales get one of `defects` each, in turn.
    """
    rng = random.Random(f"{seed}:{branch_id}:{day.isoformat()}")
    factor = WEEKDAY_FACTOR[day.weekday()] * (1.25 if day.day <= 5 else 1.0)
    n = max(1, round(BASE_SALES_PER_DAY * branch_factor(branch_id) * factor * scale))
    weights = [p.weight for p in products]
    start = datetime.combine(day, datetime.min.time())
    times = sorted(_sale_time(rng, start) for _ in range(n))
    sales = []
    for i, (sold_at, channel) in enumerate(times):
        sales.append(_sale(rng, first_sale_id(day) + i, sold_at, channel, products, weights, customers, fractional))
    for sale, defect in zip(rng.sample(sales, min(len(sales), round(n * bad_rows))), _cycle(defects)):
        _spoil(rng, sale, defect)
    return sales


def _sale_time(rng: random.Random, day_start: datetime) -> tuple[datetime, str]:
    channel = rng.choices(list(CHANNELS), list(CHANNELS.values()))[0]
    hours = STORE_HOURS if channel == "tienda" else ONLINE_HOURS
    local_hour = rng.choices(list(hours), list(hours.values()))[0]
    # local hour h of the UTC day: UTC = local + 3h, kept inside the UTC day being simulated
    utc_hour = (local_hour + 3) % 24
    return day_start + timedelta(hours=utc_hour, seconds=rng.randrange(3600)), channel


def _sale(
    rng: random.Random,
    sale_id: int,
    sold_at: datetime,
    channel: str,
    products: list[Product],
    weights: list[float],
    customers: list[Customer],
    fractional: bool,
) -> Sale:
    payments = {k: v for k, v in PAYMENTS.items() if channel == "tienda" or k != "efectivo"}
    payment = rng.choices(list(payments), list(payments.values()))[0]
    identified = rng.random() < (0.5 if channel == "tienda" else 1.0)
    customer = rng.choice(customers) if identified else None
    chosen = rng.choices(products, weights, k=rng.choices(list(LINES), list(LINES.values()))[0])
    lines = [Line(i + 1, p, _quantity(rng, p, fractional), p.price) for i, p in enumerate(chosen)]
    status = rng.choices(("aprobada", "rechazada", "pendiente"), (0.89, 0.05, 0.06))[0]
    sale = Sale(sale_id, sold_at, channel, payment, status, customer, lines)
    if status == "pendiente":
        settled = "aprobada" if rng.random() < 0.75 else "rechazada"
        sale.updates.append((sold_at + timedelta(minutes=rng.randrange(60, 360)), settled))
    elif status == "aprobada" and rng.random() < 0.01:
        sale.updates.append((sold_at + timedelta(minutes=rng.randrange(60, 480)), "anulada"))
    return sale


def _quantity(rng: random.Random, product: Product, fractional: bool) -> Decimal:
    if fractional and product.category == "Frescos":
        return Decimal(rng.randrange(250, 2500, 5)) / 1000
    return Decimal(rng.choices((1, 2, 3, 4, 6), (60, 22, 9, 5, 4))[0])


def _spoil(rng: random.Random, sale: Sale, defect: str) -> None:
    """Give a sale one realistic defect for the quality gate to catch."""
    sale.defect = defect
    line = rng.choice(sale.lines)
    if defect == "negative_quantity":
        line.quantity = -line.quantity
    elif defect == "unknown_product":
        line.product = Product(999_999, "0000BAD00000", "Artículo inexistente", "?", line.unit_price, 0)
    elif defect == "unknown_payment":
        sale.payment_type = "cheque"
    elif defect == "future_sold_at":
        sale.recorded_sold_at = sale.sold_at + timedelta(days=3650)
    elif defect == "null_payment":
        sale.payment_type = None
    elif defect == "duplicate_line":
        sale.lines.append(Line(line.line_no, line.product, line.quantity, line.unit_price))


def _cycle(items):
    while True:
        yield from items
