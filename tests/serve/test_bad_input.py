"""What a user can get wrong in a request gets a 4xx naming the parameter and why; nothing breaks."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from almacen.config import load_config
from almacen.domains import REGISTRY
from almacen.serve import create_app
from almacen.simulate import demo_config


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("from=2026-11-31", "Input should be a valid date"),
        ("to=23/11/2026", "Input should be a valid date"),
        ("from=2026-11-23&to=2026-11-01", "to (2026-11-01) is before from (2026-11-23)"),
        ("from=2020-01-01&to=2026-11-23", "the date range spans 2519 days; at most 366 may be asked at once"),
        ("channel=telefono", "Input should be 'tienda', 'web' or 'app'"),
    ],
)
def test_malformed_filters_get_422_with_the_reason(served, query, detail):
    response = served.client("alberto").get(f"/api/kpis?{query}")
    assert response.status_code == 422
    assert detail in str(response.json()["detail"])


BOUNDARY_DATES = ["0001-01-01", "0001-01-02", "1899-12-31", "2200-01-01", "9999-12-30", "9999-12-31"]
DATED = [
    "/api/kpis",
    "/api/sales",
    "/api/realtime",
    "/api/export/kpis.csv",
    "/api/export/sales.xlsx",
    "/api/export/realtime.csv",
]


@pytest.mark.parametrize("path", DATED)
@pytest.mark.parametrize("value", BOUNDARY_DATES)
@pytest.mark.parametrize("name", ["from", "to"])
def test_dates_at_the_ends_of_the_calendar_get_422_naming_the_parameter(served, path, name, value):
    response = served.client("beatriz").get(path, params={name: value})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"{name}: {value} is outside the dates served (1900-01-01 to 2199-12-31)"


@pytest.mark.parametrize("query", ["from=1900-01-01&to=1900-01-31", "from=2199-12-01", "to=1900-01-01"])
def test_the_first_and_last_dates_served_are_answered(served, query):
    assert served.client("alberto").get(f"/api/kpis?{query}").status_code == 200


@pytest.mark.parametrize(
    ("path", "unknown"),
    [
        ("/api/kpis?branches=rosario", "branches"),
        ("/api/sales?brnch=palermo&by=branch", "brnch"),
        ("/api/quality/runs?branch=palermo", "branch"),
        ("/api/me?debug=1", "debug"),
        ("/api/audit?limit=5&verbose=true", "verbose"),
    ],
)
def test_an_unknown_query_parameter_is_refused_naming_it(served, path, unknown):
    response = served.client("ana").get(path)
    assert response.status_code == 422
    assert response.json()["detail"].startswith(f"unknown query parameter {unknown};")


def test_a_typo_of_branch_no_longer_answers_for_the_whole_chain(served):
    assert served.client("alberto").get("/api/kpis?branches=rosario").status_code == 422


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/api/export/runs.csv?branch=palermo", "branch"),
        ("/api/export/reconciliation.xlsx?from=2026-11-23", "from"),
        ("/api/export/kpis.csv?by=category", "by"),
        ("/api/export/sales.csv?minutes=5", "minutes"),
        ("/api/export/audit.csv?branch=palermo", "branch"),
    ],
)
def test_an_export_refuses_a_parameter_its_dataset_does_not_take(served, path, refused):
    response = served.client("ana").get(path)
    assert response.status_code == 422
    assert f"does not take {refused};" in response.json()["detail"]


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
    client = TestClient(create_app(settings, site=REGISTRY.site()))
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
