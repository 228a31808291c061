"""Timings of the SQL twins at production scale: conversations of ~3M messages, a month's invoices of
5,000 clients over ~2M usage rows. Not a test (pytest does not collect it); run:

    .venv/bin/python benchmarks/messaging_sql.py [--check] [--threads N]

--check also runs the Python twins on the same data and asserts the tables are identical (slow).
"""

from __future__ import annotations

import argparse
import time
from datetime import date, datetime, timezone
from decimal import Decimal

from almacen.domains.messaging.invoice import invoice_month_py, invoice_month_sql, register_inputs
from almacen.domains.messaging.conversations import conversations_py, conversations_sql, rollups_sql
from almacen.domains.messaging.rates import (
    ClientAccount,
    Contract,
    RateCard,
    RatePeriod,
    Tier,
    clients_to_tables,
    contracts_from_table,
)
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES
from almacen.engine import DuckDBEngine

MONTH = date(2026, 9, 1)
LOADED = datetime(2026, 9, 1, tzinfo=timezone.utc)

# phones with 1-5 sessions over 30 days (2% chatty ones with 40-80); a session opens with a template or a
# customer message, then 0-6 more messages within 20 minutes (10% of sessions: within 40 hours)
MESSAGES_SQL = """
WITH phones AS (
    SELECT p, 'c' || lpad((p % $clients)::VARCHAR, 5, '0') AS client_id, md5(p::VARCHAR)[1:32] AS recipient_key,
           CASE WHEN random() < 0.02 THEN 40 + (random() * 40)::INT ELSE 1 + (random() * 4)::INT END AS sessions
    FROM range($phones) t(p)
), sessions AS (
    SELECT p, client_id, recipient_key,
           TIMESTAMPTZ '2026-09-01 00:00:00' + to_microseconds((random() * 30 * 86400e6)::BIGINT) AS began,
           random() < 0.5 AS by_customer, 1 + (random() * 6)::INT AS size,
           CASE WHEN random() < 0.1 THEN 40 * 3600e6 ELSE 20 * 60e6 END AS spread
    FROM phones, generate_series(1, sessions) g(s)
), msgs AS (
    SELECT *, CASE WHEN i = 1 AND NOT by_customer THEN 'template' WHEN i = 1 THEN 'inbound'
                   WHEN random() < 0.5 THEN 'reply' WHEN random() < 0.8 THEN 'inbound' ELSE 'template' END AS kind
    FROM sessions, generate_series(1, size) g(i)
)
SELECT 'm' || lpad(row_number() OVER ()::VARCHAR, 9, '0') AS message_id, client_id, recipient_key,
       (['AR', 'BR', 'CL', 'CO', 'MX', 'PE', 'US'])[1 + p % 7] AS country,
       CASE WHEN kind = 'template' THEN (['authentication', 'marketing', 'utility'])[1 + (random() * 2.999)::INT] END
           AS category,
       kind,
       CASE WHEN i = 1 THEN began ELSE began + to_microseconds((random() * spread)::BIGINT) END AS sent_at,
       CASE WHEN kind = 'inbound' THEN 'received' WHEN kind = 'reply' THEN 'sent'
            WHEN random() < 0.05 THEN 'failed' WHEN random() < 0.5 THEN 'read' ELSE 'delivered' END AS status
FROM msgs
"""

# 5,000 clients x 20 (category, country) pairs, each used in ~20 minutes of the month (5% just outside it)
USAGE_SQL = """
WITH pairs AS (
    SELECT row_number() OVER (ORDER BY category, country) - 1 AS n, category, country
    FROM (SELECT unnest($categories) AS category) CROSS JOIN (SELECT unnest($countries) AS country)
), rows AS (
    SELECT r, r % $clients AS c, (r // $clients) % 20 AS n,
           TIMESTAMPTZ '2026-08-31 00:00:00' + to_microseconds(((r // ($clients * 20)) * 2160 + (r % 1440)) * 60000000)
               AS minute,
           (random() * 60)::BIGINT AS billable
    FROM range($rows) t(r)
)
SELECT minute, minute::DATE AS day, 'c' || lpad(c::VARCHAR, 5, '0') AS client_id, p.category, p.country,
       billable + 2 AS sent, billable AS delivered, billable // 2 AS read, 1::BIGINT AS failed, billable
FROM rows JOIN pairs p USING (n)
"""


def timed(label: str, run, repeat: int = 2):
    """The result of the last run, printing the best wall time of `repeat` runs and its CPU time (all
    threads: on a busy machine the wall time grows, the CPU time much less)."""
    best, result = (float("inf"), 0.0), None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = run()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    print(f"{label}: {best[0]:.2f} s wall, {best[1]:.2f} s CPU (best of {repeat})", flush=True)
    return result


def rate_card() -> RateCard:
    tiers = (Tier(0, Decimal("0.0618")), Tier(500, Decimal("0.058")), Tier(1000, Decimal("0.0545")))
    prices = {(c, k): tiers for c in CATEGORIES for k in COUNTRIES}
    return RateCard("USD", (RatePeriod(date(2026, 1, 1), None, prices),))


def clients(n: int) -> list[ClientAccount]:
    return [
        ClientAccount(
            f"c{i:05d}",
            f"Client {i}",
            (Contract(f"c{i:05d}", date(2026, 1, 1), None, 100 * (i % 50), Decimal(i % 20) / 2),),
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phones", type=int, default=180_000, help="about 16.5 messages each")
    parser.add_argument("--usage-rows", type=int, default=2_000_000)
    parser.add_argument("--clients", type=int, default=5_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--check", action="store_true", help="also run the Python twins and compare")
    args = parser.parse_args()
    with DuckDBEngine(threads=args.threads) as engine:
        engine.execute("SET enable_progress_bar = false")
        engine.execute("SELECT setseed(0.42)")
        messages = engine.query(MESSAGES_SQL, {"clients": args.clients, "phones": args.phones})
        print(f"{messages.num_rows:,} messages")
        engine.register("silver.messages", messages)
        conversations = timed("conversations_sql", lambda: conversations_sql(engine))
        print(f"  {conversations.num_rows:,} conversations")
        engine.register("gold.conversations", conversations)
        timed("rollups_sql (daily + monthly)", lambda: rollups_sql(engine))
        if args.check:
            assert timed("conversations_py", lambda: conversations_py(messages), repeat=1).equals(conversations)
            print("  identical")

        usage = engine.query(
            USAGE_SQL,
            {
                "rows": args.usage_rows,
                "clients": args.clients,
                "categories": list(CATEGORIES),
                "countries": list(COUNTRIES),
            },
        )
        accounts = clients(args.clients)
        card_table = rate_card().to_table(1, LOADED)
        contracts = clients_to_tables(accounts, 1, LOADED)[1]
        print(f"{usage.num_rows:,} usage rows, {args.clients:,} clients")
        register_inputs(engine, usage, card_table, contracts)
        invoices, lines = timed("invoice_month_sql", lambda: invoice_month_sql(engine, MONTH))
        print(f"  {invoices.num_rows:,} invoices, {lines.num_rows:,} lines")
        if args.check:
            py = timed(
                "invoice_month_py",
                lambda: invoice_month_py(
                    usage, RateCard.from_table(card_table), contracts_from_table(contracts), MONTH
                ),
                repeat=1,
            )
            assert py[0].equals(invoices) and py[1].equals(lines)
            print("  identical")


if __name__ == "__main__":
    main()
