"""The numbers served equal the lake's, to the cent: KPIs with trends, sales by dimension, real time."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pyarrow.compute as pc

from tests.serve.conftest import LAST


def _approved(served, first, last, branches=None) -> pa.Table:
    facts = served.lake.read("gold.fact_sales")
    mask = pc.and_(
        pc.and_(pc.greater_equal(facts["date"], first), pc.less_equal(facts["date"], last)),
        pc.equal(facts["status"], "aprobada"),
    )
    if branches:
        mask = pc.and_(mask, pc.is_in(facts["branch_id"], value_set=pa.array(branches)))
    return facts.filter(mask)


def _kpis(served, query: str = "") -> dict[str, dict]:
    return {r["kpi"]: r for r in served.client("alberto").get(f"/api/kpis{query}").json()["rows"]}


def test_revenue_tickets_and_average_ticket_of_the_latest_day(served):
    day = _approved(served, LAST, LAST)
    revenue, tickets = pc.sum(day["lines_amount"]).as_py(), day.num_rows
    kpis = _kpis(served)
    assert kpis["revenue"]["value"] == str(revenue)
    assert kpis["tickets"]["value"] == str(tickets)
    assert kpis["avg_ticket"]["value"] == str((revenue / tickets).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_the_trend_compares_with_the_previous_day_and_the_same_weekday_last_week(served):
    kpis = _kpis(served)["revenue"]
    before = pc.sum(_approved(served, LAST - timedelta(days=1), LAST - timedelta(days=1))["lines_amount"]).as_py()
    week = pc.sum(_approved(served, LAST - timedelta(days=7), LAST - timedelta(days=7))["lines_amount"]).as_py()
    now = Decimal(kpis["value"])
    assert (kpis["previous"], kpis["last_week"]) == (str(before), str(week))
    assert kpis["vs_previous_pct"] == round(float(100 * (now - before) / before), 1)
    assert kpis["vs_last_week_pct"] == round(float(100 * (now - week) / week), 1)


def test_a_period_compares_with_the_period_of_the_same_length_just_before(served):
    first = LAST - timedelta(days=2)
    kpis = _kpis(served, f"?from={first}&to={LAST}&branch=rosario")["revenue"]
    now = _approved(served, first, LAST, ["rosario"])
    before = _approved(served, first - timedelta(days=3), first - timedelta(days=1), ["rosario"])
    assert kpis["value"] == str(pc.sum(now["lines_amount"]).as_py())
    assert kpis["previous"] == str(pc.sum(before["lines_amount"]).as_py())


def test_approval_rate_is_approved_over_all_sales_of_the_day(served):
    facts = served.lake.read("gold.fact_sales")
    day = facts.filter(pc.equal(facts["date"], LAST))
    approved = pc.sum(pc.cast(pc.equal(day["status"], "aprobada"), pa.int64())).as_py()
    assert _kpis(served)["approval_rate"]["value"] == str(round(approved / day.num_rows, 4))


def test_sales_by_branch_per_week_add_up_to_the_facts(served):
    rows = (
        served.client("alberto")
        .get(f"/api/sales?by=branch&grain=week&from={LAST - timedelta(days=6)}&to={LAST}")
        .json()["rows"]
    )
    facts = _approved(served, LAST - timedelta(days=6), LAST)
    for branch in ("palermo", "rosario", "cordoba_centro"):
        mine = facts.filter(pc.equal(facts["branch_id"], branch))
        assert sum(Decimal(r["revenue"]) for r in rows if r["key"] == branch) == pc.sum(mine["lines_amount"]).as_py()
        assert sum(r["tickets"] for r in rows if r["key"] == branch) == mine.num_rows
    assert {r["label"] for r in rows} == {"Palermo", "Rosario Centro", "Córdoba Centro"}


def test_sales_by_category_equal_the_lines_of_that_category(served):
    lines = served.lake.read("gold.fact_sales_lines")
    mask = pc.and_(pc.equal(lines["date"], LAST), pc.equal(lines["status"], "aprobada"))
    day = lines.filter(mask)
    rows = served.client("alberto").get("/api/sales?by=category&from=" + str(LAST)).json()["rows"]
    assert sorted(r["key"] for r in rows) == sorted(set(day["category"].drop_null().to_pylist()))
    for r in rows:
        mine = day.filter(pc.equal(day["category"], r["key"]))
        assert Decimal(r["revenue"]) == pc.sum(mine["amount"]).as_py()
        assert r["tickets"] == len(set(zip(mine["branch_id"].to_pylist(), mine["sale_id"].to_pylist())))


def test_real_time_gives_every_minute_of_the_last_hour_with_the_rollup_sums(served):
    rows = served.client("alberto").get("/api/realtime?minutes=60").json()["rows"]
    minutes = served.lake.read("gold.sales_minute")
    approved = minutes.filter(pc.equal(minutes["status"], "aprobada"))
    assert len(rows) == 60
    assert sum(Decimal(r["amount"]) for r in rows) == pc.sum(approved["amount"]).as_py()
    assert sum(r["sales"] for r in rows) == pc.sum(approved["events"]).as_py()


def test_a_refresh_that_finds_no_new_version_keeps_the_cached_answers(served):
    """Answers are cached until a mart changes: a refresh of unchanged tables (the recent sale minutes
    included) must not empty the cache, or under load every refresh turns into a burst of recomputation."""
    from almacen.domains import REGISTRY
    from almacen.security import Users
    from almacen.serve.filters import parse_filters
    from almacen.serve.marts import Marts

    marts = Marts(served.lake, marts=REGISTRY.site().marts, refresh_seconds=0, clock=lambda: served.now)
    user = Users(served.lake).get("alberto")
    filters = parse_filters(LAST, LAST, latest=LAST, default_days=1)
    first = marts.read(user, "kpis", filters)
    generation = marts._generation
    marts.refresh(force=True)
    assert marts._generation == generation
    assert marts.read(user, "kpis", filters) is first
    minutes = marts.read(user, "realtime", None, minutes=60)
    served.lake.append("gold.sales_minute", served.lake.read("gold.sales_minute").slice(0, 0))  # a new version
    marts.refresh(force=True)
    assert marts._generation > generation
    assert marts.read(user, "realtime", None, minutes=60).equals(minutes)
    marts.close()
