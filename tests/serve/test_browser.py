"""A branch manager's visit in a real browser: log in, read a KPI, change a filter, export, log out; all audited."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr

from almacen.domains import REGISTRY
from almacen.lake import Lake
from almacen.security import AuditLog
from almacen.serve import create_app
from tests.serve.conftest import PASSWORD, build_world, over_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MANAGER, BRANCH = "beatriz", "palermo"
SCREENSHOT = Path("/tmp/almacen-resumen.png")
SALES_COLUMNS = ["period", "key", "label", "revenue", "units", "tickets", "avg_ticket"]


@dataclass
class Site:
    """The app served over HTTP by uvicorn, and the lake behind it."""

    url: str
    lake: Lake

    def gold(self, query: str, **params: object) -> list[tuple]:
        """Rows of `query` over gold.fact_sales and gold.fact_sales_lines, read straight from the lake."""
        con = duckdb.connect()
        for name in ("fact_sales", "fact_sales_lines"):
            con.register(name, self.lake.read(f"gold.{name}"))
        try:
            return con.execute(query, params).fetchall()
        finally:
            con.close()


@dataclass
class Visit:
    """What the manager saw, and where the audit log stood before the visit began."""

    audit_before: int
    revenue_card: str
    sales_table: list[list[str]]
    export_href: str
    export_name: str
    export_text: str
    after_logout: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A fresh world served by uvicorn on a free port of 127.0.0.1, with the real clock and login guard."""
    settings, _ = build_world(tmp_path_factory.mktemp("browser"))
    settings = settings.model_copy(update={"secret_key": SecretStr("browser-test-secret-key-not-for-production")})
    with over_http(create_app(settings, site=REGISTRY.site())) as url:
        yield Site(url, Lake(settings.lake))


def _ready(page: Page, path: str) -> None:
    """Wait until `path` is shown and app.js has finished loading its data."""
    page.wait_for_url(f"**{path}")
    page.wait_for_selector('body[data-ready="true"]')


@pytest.fixture(scope="module")
def visit(site: Site, chromium: Browser) -> Iterator[Visit]:
    """The manager logs in through the form, reads Resumen, shows Ventas by category and week, exports it
    as CSV and logs out."""
    before = AuditLog(site.lake).entries(limit=1)["seq"].to_pylist()
    context = chromium.new_context(base_url=site.url, accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/login")
    page.fill('input[name="username"]', MANAGER)
    page.fill('input[name="password"]', PASSWORD)
    page.click("form.login button[type=submit]")
    _ready(page, "/overview")
    revenue = page.text_content('.card[data-kpi="revenue"] .value')
    page.screenshot(path=SCREENSHOT, full_page=True)

    page.click('nav a[href="/sales"]')
    _ready(page, "/sales")
    page.select_option('select[name="by"]', "category")
    page.select_option('select[name="grain"]', "week")
    with page.expect_response(lambda r: "/api/sales?" in r.url and "by=category" in r.url):
        page.click("#filters button[type=submit]")
    csv_link = page.locator('.exports a[data-format="csv"]')
    expect(csv_link).to_have_attribute("href", re.compile(r"by=category&grain=week"))
    table = page.locator("#sales-table tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    href = csv_link.get_attribute("href")
    with page.expect_download() as download:
        csv_link.click()
    exported = download.value

    page.click("#logout")
    page.wait_for_url("**/login")
    yield Visit(
        audit_before=before[0] if before else 0,
        revenue_card=revenue,
        sales_table=table,
        export_href=href,
        export_name=exported.suggested_filename,
        export_text=Path(exported.path()).read_text(encoding="utf-8"),
        after_logout=page.url.removeprefix(site.url),
    )
    context.close()


def es_ar(amount: Decimal) -> str:
    """Money as app.js shows it in Spanish: Intl.NumberFormat("es-AR", {maximumFractionDigits: 2})."""
    whole, _, cents = f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    cents = cents.rstrip("0")
    return f"{grouped},{cents}" if cents else grouped


def _weekly_by_category(site: Site) -> list[list[str]]:
    """(week, category, approved revenue) of the manager's branch over every day, from gold.fact_sales_lines."""
    return [
        [str(week), category, str(revenue)]
        for week, category, revenue in site.gold(
            "SELECT date_trunc('week', date)::DATE, category, sum(amount) FROM fact_sales_lines "
            "WHERE branch_id = $branch AND status = 'aprobada' GROUP BY ALL ORDER BY 1, 2",
            branch=BRANCH,
        )
    ]


def test_es_ar_groups_thousands_with_dots_and_drops_trailing_zero_cents() -> None:
    """The formatter the KPI check relies on matches es-AR's Intl.NumberFormat on a few values."""
    assert [es_ar(Decimal(v)) for v in ("1234567.89", "1234.50", "999.00", "12.05")] == [
        "1.234.567,89",
        "1.234,5",
        "999",
        "12,05",
    ]


def test_the_revenue_card_shows_the_branch_approved_revenue_of_the_latest_day(site: Site, visit: Visit) -> None:
    """Resumen's revenue card equals palermo's approved revenue of the latest day, formatted in es-AR."""
    [(revenue,)] = site.gold(
        "SELECT sum(lines_amount) FROM fact_sales WHERE branch_id = $branch "
        "AND status = 'aprobada' AND date = (SELECT max(date) FROM fact_sales)",
        branch=BRANCH,
    )
    assert visit.revenue_card == es_ar(revenue)


def test_applying_category_and_week_redraws_the_table_with_weekly_category_sales(site: Site, visit: Visit) -> None:
    """After Aplicar, the Ventas table holds a row per week and category, with the lake's revenue."""
    assert [[period, key, revenue] for period, key, _, revenue, *_ in visit.sales_table] == _weekly_by_category(site)


def test_the_csv_export_holds_the_table_shown(visit: Visit) -> None:
    """The CSV link exports the filtered table: its header names the columns and its rows are the table's."""
    header, *rows = list(csv.reader(io.StringIO(visit.export_text)))
    assert header == SALES_COLUMNS
    assert rows == visit.sales_table


def test_the_csv_file_is_named_for_the_dataset_and_the_dates(visit: Visit) -> None:
    """The download is named almacen-sales-<from>_<to>.csv after the range in the link."""
    start, end = re.search(r"from=([\d-]+)&to=([\d-]+)", visit.export_href).groups()
    assert visit.export_name == f"almacen-sales-{start}_{end}.csv"


def test_logging_out_returns_to_the_login_form(visit: Visit) -> None:
    """The Salir button ends the visit on the login page."""
    assert visit.after_logout == "/login"


def _since(site: Site, visit: Visit) -> list[dict]:
    """The audit entries written since the visit began, oldest first."""
    return [e for e in reversed(AuditLog(site.lake).entries(limit=1000).to_pylist()) if e["seq"] > visit.audit_before]


def test_the_audit_log_holds_exactly_the_visit(site: Site, visit: Visit) -> None:
    """Since the visit began the log holds its login, the reads the pages made, the export and the logout."""
    done = [(e["actor"], e["action"], e["target"]) for e in _since(site, visit)]
    assert done == [
        (MANAGER, "login.ok", "dashboard"),
        (MANAGER, "data.read", "kpis"),  # Resumen; /api/choices is not audited
        (MANAGER, "data.read", "sales"),  # Ventas as it opens: by branch, per day
        (MANAGER, "data.read", "sales"),  # Aplicar: by category, per week
        (MANAGER, "export", "sales"),
        (MANAGER, "logout", "dashboard"),
    ]


def test_the_audit_log_records_the_filters_of_the_export(site: Site, visit: Visit) -> None:
    """The export's entry names the date range, the manager's branch, the dimension and the grain, and the IP."""
    [export] = [e for e in _since(site, visit) if e["action"] == "export"]
    start, end = re.search(r"from=([\d-]+)&to=([\d-]+)", visit.export_href).groups()
    assert json.loads(export["details"]) == {
        "filters": {"start": start, "end": end, "branches": [BRANCH], "by": "category", "grain": "week"},
        "ip": "127.0.0.1",
    }
