"""What a user can get wrong in a request gets a 4xx naming the parameter and why; nothing breaks."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from almacen.config import load_config
from almacen.serve import create_app
from almacen.simulate import demo_config


@pytest.mark.parametrize(("query", "detail"), [
    ("from=2026-11-31", "Input should be a valid date"),
    ("to=23/11/2026", "Input should be a valid date"),
    ("from=2026-11-23&to=2026-11-01", "to (2026-11-01) is before from (2026-11-23)"),
    ("from=2020-01-01&to=2026-11-23", "the date range spans 2519 days; at most 366 may be asked at once"),
    ("channel=telefono", "Input should be 'tienda', 'web' or 'app'"),
])
def test_malformed_filters_get_422_with_the_reason(served, query, detail):
    response = served.client("alberto").get(f"/api/kpis?{query}")
    assert response.status_code == 422
    assert detail in str(response.json()["detail"])


def test_an_unknown_dimension_is_refused(served):
    response = served.client("alberto").get("/api/sales?by=customer")
    assert response.status_code == 422


def test_an_unknown_branch_gives_an_empty_answer_to_an_analyst_and_403_to_a_manager(served):
    rows = served.client("alberto").get("/api/sales?branch=atlantis").json()["rows"]
    assert rows == []
    assert served.client("beatriz").get("/api/sales?branch=atlantis").status_code == 403


def test_a_filter_value_is_data_not_sql(served):
    response = served.client("alberto").get("/api/sales", params={"category": "x' OR '1'='1", "by": "category"})
    assert response.status_code == 200 and response.json()["rows"] == []


def test_exporting_an_empty_result_says_there_is_nothing_to_export(served):
    response = served.client("alberto").get("/api/export/sales.csv?branch=atlantis")
    assert response.status_code == 404
    assert response.json()["detail"] == "no rows match these filters: nothing to export"


@pytest.mark.parametrize("name", ["../../etc/passwd", "sales.pdf", "..%2F..%2Fetc%2Fpasswd.csv", "sales", "users.csv"])
def test_an_export_name_outside_the_datasets_is_not_found(served, name):
    response = served.client("alberto").get(f"/api/export/{name}")
    assert response.status_code == 404


def test_a_lake_with_nothing_built_answers_503_naming_the_command_to_run(tmp_path):
    settings = load_config(demo_config(tmp_path, branches=1))
    client = TestClient(create_app(settings))
    response = client.get("/api/kpis", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    from almacen.lake import Lake
    from almacen.security import Tokens, Users

    lake = Lake(settings.lake)
    Users(lake).add("solo", "una-clave-larga-1", "admin")
    _, secret = Tokens(lake, Users(lake)).create("solo", "t")
    response = client.get("/api/kpis", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 503
    assert response.json()["detail"].endswith("run `almacen build` first")
