"""Every role against every page, endpoint and export: who gets in, who is refused, and how."""

from __future__ import annotations

import pytest

from tests.serve.conftest import USERS

SALES_ROLES = {"ana", "alberto", "beatriz", "bruno"}
EVERYONE = set(USERS)
AUDIT_ROLES = {"ana", "aurora"}

PAGES = {
    "/overview": SALES_ROLES,
    "/sales": SALES_ROLES,
    "/realtime": SALES_ROLES,
    "/quality": EVERYONE,
    "/audit": AUDIT_ROLES,
}
ENDPOINTS = {
    "/api/kpis": SALES_ROLES,
    "/api/sales?by=category&grain=week": SALES_ROLES,
    "/api/realtime": SALES_ROLES,
    "/api/choices": SALES_ROLES,
    "/api/quality/runs": EVERYONE,
    "/api/quality/freshness": EVERYONE,
    "/api/quality/quarantine": EVERYONE,
    "/api/quality/quarantine_rows": EVERYONE,
    "/api/quality/reconciliation": EVERYONE,
    "/api/audit": AUDIT_ROLES,
    "/api/me": EVERYONE,
}
EXPORTS = {
    "/api/export/kpis.csv": SALES_ROLES,
    "/api/export/sales.xlsx": SALES_ROLES,
    "/api/export/realtime.csv": SALES_ROLES,
    "/api/export/runs.xlsx": EVERYONE,
    "/api/export/reconciliation.csv": EVERYONE,
    "/api/export/audit.csv": AUDIT_ROLES,
}


@pytest.mark.parametrize("username", sorted(USERS))
@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_open_for_the_roles_that_hold_their_permission(served, username, path):
    response = served.client(username).get(path)
    assert response.status_code == (200 if username in PAGES[path] else 403)


@pytest.mark.parametrize("username", sorted(USERS))
@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_api_answers_the_roles_that_hold_the_permission_and_refuses_the_others(served, username, path):
    response = served.client(username).get(path)
    assert response.status_code == (200 if username in ENDPOINTS[path] else 403), response.text
    if response.status_code == 403:
        assert "cannot access" in response.json()["detail"]


@pytest.mark.parametrize("username", sorted(USERS))
@pytest.mark.parametrize("path", sorted(EXPORTS))
def test_exports_follow_the_same_permissions(served, username, path):
    response = served.client(username).get(path)
    assert response.status_code == (200 if username in EXPORTS[path] else 403), response.text
    if response.status_code == 200:
        assert response.headers["content-disposition"].startswith('attachment; filename="almacen-')


@pytest.mark.parametrize("path", sorted(PAGES))
def test_an_anonymous_visitor_is_sent_to_the_login_page(served, path):
    response = served.client().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", sorted({**ENDPOINTS, **EXPORTS}))
def test_an_anonymous_program_gets_401(served, path):
    response = served.client().get(path)
    assert response.status_code == 401
    assert response.json()["detail"] == "not logged in"


def test_the_navigation_shows_only_the_pages_a_role_may_open(served):
    page = served.client("aurora").get("/quality").text
    assert 'href="/audit"' in page and 'href="/quality"' in page
    assert 'href="/sales"' not in page and 'href="/overview"' not in page


def test_the_quality_page_holds_freshness_reconciliation_quarantine_with_reasons_and_runs(served):
    page = served.client("aurora").get("/quality").text
    parts = ["freshness", "reconciliation", "quarantine", "quarantine_rows", "runs"]
    assert [p for p in parts if f'data-quality="{p}"' in page] == parts
