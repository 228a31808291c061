"""Gold: daily and hourly marts agree, KPIs trend against the previous day and the same weekday last week."""

from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

import pyarrow.compute as pc
import pytest

from almacen.config import load_config
from almacen.domains.sales import extract
from almacen.lake import Lake
from almacen.domains.sales import build
from almacen.simulate import demo_config, simulate_chain

FIRST, LAST = date(2026, 11, 15), date(2026, 11, 23)


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    """Nine days of one branch, extracted and built."""
    settings = load_config(demo_config(tmp_path_factory.mktemp("gold"), branches=1))
    day = FIRST
    while day <= LAST:
        simulate_chain(settings, day, scale=0.05)
        day += timedelta(days=1)
    start = datetime.combine(FIRST, datetime.min.time(), timezone.utc)
    extract(settings, [start + timedelta(hours=h) for h in range(24 * 9)])
    build(settings)
    return Lake(settings.lake)


def _revenue_on(lake: Lake, day: date) -> Decimal:
    daily = lake.read("gold.sales_daily")
    return pc.sum(daily.filter(pc.equal(daily["date"], day))["revenue"]).as_py()


def test_hourly_and_daily_marts_hold_the_same_revenue_and_units(lake):
    hourly, daily = lake.read("gold.sales_hourly"), lake.read("gold.sales_daily")
    assert pc.sum(hourly["revenue"]).as_py() == pc.sum(daily["revenue"]).as_py()
    assert pc.sum(hourly["units"]).as_py() == pc.sum(daily["units"]).as_py()


def test_daily_dates_are_business_dates_in_buenos_aires(lake):
    facts = lake.read("gold.fact_sales")
    first = facts.sort_by("sold_at").slice(0, 1).to_pylist()[0]
    assert first["sold_at"].astimezone(timezone(timedelta(hours=-3))).date() == first["date"]
    assert min(lake.read("gold.dim_date")["date"].to_pylist()) == FIRST - timedelta(days=1)


def test_kpis_trend_against_the_previous_day_and_the_same_weekday_last_week(lake):
    kpi = lake.read("gold.kpi_daily")
    row = kpi.filter(pc.equal(kpi["date"], LAST)).to_pylist()[0]
    assert row["revenue"] == _revenue_on(lake, LAST)
    assert row["revenue_prev_day"] == _revenue_on(lake, LAST - timedelta(days=1))
    assert row["revenue_same_weekday_last_week"] == _revenue_on(lake, LAST - timedelta(days=7))
    expected = round(100 * (row["revenue"] - row["revenue_prev_day"]) / row["revenue_prev_day"], 1)
    assert Decimal(str(row["revenue_vs_prev_day_pct"])) == Decimal(str(expected))


def test_average_ticket_is_revenue_over_approved_tickets_rounded_half_up(lake):
    kpi = [row for row in lake.read("gold.kpi_daily").to_pylist() if row["tickets"]]
    assert len(kpi) > 0
    assert [row["avg_ticket"] for row in kpi] == [
        (row["revenue"] / row["tickets"]).quantize(Decimal("0.01"), ROUND_HALF_UP) for row in kpi
    ]
