"""Row-level scope: a branch manager sees only its branches' numbers, whatever the way of asking."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pyarrow.compute as pc

from tests.serve.conftest import LAST


def _revenue(served, branches: set[str], day=LAST) -> Decimal:
    """Approved revenue of `branches` on `day`, straight from gold.fact_sales."""
    facts = served.lake.read("gold.fact_sales")
    mask = pc.and_(
        pc.and_(pc.equal(facts["date"], day), pc.equal(facts["status"], "aprobada")),
        pc.is_in(facts["branch_id"], value_set=__import__("pyarrow").array(sorted(branches))),
    )
    return pc.sum(facts.filter(mask)["lines_amount"]).as_py()


def _kpi(response, name: str) -> str:
    return next(r for r in response.json()["rows"] if r["kpi"] == name)["value"]


def test_a_manager_without_filters_sees_the_sum_of_its_branches_only(served):
    response = served.client("bruno").get("/api/kpis")
    assert _kpi(response, "revenue") == str(_revenue(served, {"rosario", "cordoba_centro"}))


def test_an_analyst_without_filters_sees_every_branch(served):
    response = served.client("alberto").get("/api/kpis")
    assert _kpi(response, "revenue") == str(_revenue(served, {"palermo", "rosario", "cordoba_centro"}))


def test_a_manager_asking_for_another_branch_in_the_url_is_refused(served):
    response = served.client("beatriz").get("/api/kpis?branch=rosario")
    assert response.status_code == 403
    assert response.json()["detail"] == "branch rosario is outside your scope (palermo)"


def test_a_manager_mixing_its_branch_with_another_is_refused_not_silently_narrowed(served):
    response = served.client("beatriz").get("/api/sales?branch=palermo&branch=rosario")
    assert response.status_code == 403


def test_a_manager_narrowing_to_one_of_its_branches_gets_that_branch(served):
    response = served.client("bruno").get("/api/kpis?branch=rosario")
    assert _kpi(response, "revenue") == str(_revenue(served, {"rosario"}))


def test_sales_by_branch_lists_only_the_branches_in_scope(served):
    rows = served.client("bruno").get("/api/sales?by=branch&grain=month").json()["rows"]
    assert {r["key"] for r in rows} == {"rosario", "cordoba_centro"}


def test_an_export_is_cut_to_the_scope_like_the_page(served):
    body = served.client("beatriz").get("/api/export/sales.csv?by=branch").text
    assert {r["key"] for r in csv.DictReader(io.StringIO(body))} == {"palermo"}


def test_an_export_of_another_branch_is_refused(served):
    assert served.client("beatriz").get("/api/export/sales.csv?branch=rosario").status_code == 403


def test_real_time_sums_only_the_branches_in_scope(served):
    minutes = served.lake.read("gold.sales_minute")
    mine = minutes.filter(pc.and_(pc.equal(minutes["branch_id"], "palermo"), pc.equal(minutes["status"], "aprobada")))
    rows = served.client("beatriz").get("/api/realtime?minutes=60").json()["rows"]
    assert sum(Decimal(r["amount"]) for r in rows) == pc.sum(mine["amount"]).as_py()
    assert served.client("beatriz").get("/api/realtime?branch=rosario").status_code == 403


def test_quality_pages_show_a_manager_only_its_branches(served):
    client = served.client("beatriz")
    for part in ("runs", "freshness", "quarantine_rows", "reconciliation"):
        rows = client.get(f"/api/quality/{part}").json()["rows"]
        assert rows and {r["branch_id"] for r in rows} == {"palermo"}, part


def test_the_filter_choices_offer_only_the_branches_in_scope(served):
    branches = served.client("bruno").get("/api/choices").json()["branches"]
    assert [b["branch_id"] for b in branches] == ["cordoba_centro", "rosario"]


def test_a_manager_cannot_widen_its_scope_with_an_api_token_either(served):
    from almacen.security import Tokens, Users

    _, secret = Tokens(served.lake, Users(served.lake)).create("beatriz", "script")
    client = served.client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/kpis?branch=rosario", headers=headers).status_code == 403
    assert _kpi(client.get("/api/kpis", headers=headers), "revenue") == str(_revenue(served, {"palermo"}))


def test_a_managers_default_range_ends_on_its_own_branches_latest_day(served, tmp_path):
    """Palermo's last day is missing from the marts (its branch was down): its manager's default KPIs are
    those of palermo's latest day, not the chain's."""
    import shutil
    from datetime import timedelta

    from fastapi.testclient import TestClient

    from almacen.domains import REGISTRY
    from almacen.lake import Lake
    from almacen.lake.predicate import all_of, equals
    from almacen.serve import create_app
    from tests.serve.conftest import PASSWORD, login

    shutil.copytree(served.settings.lake, tmp_path / "lake")
    lake = Lake(str(tmp_path / "lake"))
    lake.table("gold.sales_tickets_daily").delete(all_of(equals("branch_id", "palermo"), equals("date", LAST)))
    app = create_app(
        served.settings.model_copy(update={"lake": str(tmp_path / "lake")}),
        site=REGISTRY.site(),
        clock=lambda: served.now,
    )
    manager, analyst = TestClient(app, follow_redirects=False), TestClient(app, follow_redirects=False)
    assert login(manager, "beatriz", PASSWORD).status_code == 303
    assert login(analyst, "alberto", PASSWORD).status_code == 303
    day_before = (LAST - timedelta(days=1)).isoformat()
    assert manager.get("/api/kpis").json()["filters"]["end"] == day_before
    assert manager.get("/api/sales").json()["filters"]["end"] == day_before
    assert analyst.get("/api/kpis").json()["filters"]["end"] == LAST.isoformat()
    assert analyst.get("/api/kpis?branch=palermo").json()["filters"]["end"] == day_before
