"""The server knows no business: with no domain it serves its own pages and API alone; a domain's router,
pages and templates are what its `Domain` declares, mounted from the registry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from almacen.config import Settings, load_config
from almacen.domain import Domain, Registry
from almacen.lake import Lake
from almacen.security import Permission, Users
from almacen.serve import create_app
from almacen.serve.api import UserDep
from almacen.serve.site import Page
from almacen.simulate import demo_config
from tests.serve.conftest import PASSWORD, login

PROBE = APIRouter()


@PROBE.get("/probe")
def probe(user: UserDep) -> dict[str, str]:
    """A domain's route: who asked."""
    return {"asked_by": user.username}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """An empty demo lake of one branch with an admin and an auditor; nothing extracted or built."""
    settings = load_config(demo_config(tmp_path, branches=1))
    users = Users(Lake(settings.lake))
    users.add("ana", PASSWORD, "admin")
    users.add("aurora", PASSWORD, "auditor")
    return settings


def _client(settings: Settings, registry: Registry, username: str) -> TestClient:
    client = TestClient(create_app(settings, site=registry.site()), follow_redirects=False)
    assert login(client, username, PASSWORD).status_code == 303
    return client


def _nav(page: str) -> list[str]:
    return re.findall(r'<a href="/(\w+)"', page.split("<nav>")[1].split("</nav>")[0])


def test_with_no_domain_the_server_serves_its_own_pages_and_api(settings):
    client = _client(settings, Registry(()), "ana")
    assert client.get("/").headers["location"] == "/quality"
    for path in ("/quality", "/audit"):
        page = client.get(path)
        assert page.status_code == 200
        assert _nav(page.text) == ["quality", "audit"]
    assert TestClient(create_app(settings, site=Registry(()).site())).get("/login").status_code == 200
    freshness = client.get("/api/quality/freshness").json()["rows"]
    assert [(r["branch_id"], r["fresh_until"]) for r in freshness] == [(settings.branches[0].id, None)]
    assert client.get("/api/quality/runs").json()["rows"] == []
    audited = client.get("/api/audit?limit=3").json()["rows"]  # newest first
    assert [(e["action"], e["target"]) for e in audited] == [
        ("data.read", "runs"),
        ("data.read", "freshness"),
        ("login.ok", "dashboard"),
    ]


def test_with_no_domain_there_are_no_domain_pages_routes_or_exports(settings):
    client = _client(settings, Registry(()), "ana")
    assert client.get("/api/kpis").status_code == 404
    assert client.get("/overview").status_code == 404
    export = client.get("/api/export/kpis.csv")
    assert export.status_code == 404
    assert export.json()["detail"] == (
        "nothing to export as 'kpis.csv': ask for <dataset>.csv or .xlsx, dataset one "
        "of runs, freshness, quarantine, quarantine_rows, audit"
    )
    assert set(client.get("/api/openapi.json").json()["paths"]) == {
        "/api/me",
        "/api/quality/{part}",
        "/api/audit",
        "/api/users/{username}/unlock",
        "/api/export/{name}",
    }


def test_a_domain_s_router_pages_templates_scripts_and_texts_are_mounted_from_the_registry(settings, tmp_path):
    templates, static = tmp_path / "probe_templates", tmp_path / "probe_static"
    templates.mkdir()
    static.mkdir()
    (templates / "probe.html").write_text(
        '{% extends "base.html" %}{% block main %}<h1 id="probe">{{ t[page] }}</h1>{% endblock %}', encoding="utf-8"
    )
    (static / "probe.js").write_text('almacen.page("probe", async () => {});', encoding="utf-8")
    probing = Domain(
        name="probe",
        routes=f"{__name__}:PROBE",
        templates=templates,
        static=static,
        pages=(Page("probe", "probe.html", Permission.AUDIT, "probe", script="probe.js"),),
        texts={"es": {"probe": "Sonda"}, "en": {"probe": "Probe"}},
    )
    registry = Registry((probing,))
    auditor = _client(settings, registry, "aurora")
    assert auditor.get("/api/probe").json() == {"asked_by": "aurora"}
    refused = auditor.get("/api/probe?debug=1")  # a domain's route refuses unknown parameters like the server's
    assert refused.status_code == 422
    assert refused.json()["detail"] == "unknown query parameter debug; /api/probe takes none"
    assert TestClient(create_app(settings, site=registry.site())).get("/api/probe").status_code == 401
    page = auditor.get("/probe")
    assert page.status_code == 200
    assert '<h1 id="probe">Sonda</h1>' in page.text
    assert '<script src="/static/probe/probe.js" defer></script>' in page.text
    assert _nav(page.text) == ["probe", "quality", "audit"]  # the domains' pages first, then the server's
    assert auditor.get("/probe?lang=en").text.count(">Probe<") == 2  # the navigation link and the title
    assert auditor.get("/static/probe/probe.js").text == 'almacen.page("probe", async () => {});'
    assert auditor.get("/static/app.js").status_code == 200
    assert auditor.get("/").headers["location"] == "/probe"


def test_a_domain_may_not_take_the_server_s_words(settings, tmp_path):
    taking = Domain(name="taking", texts={"es": {"login": "Entrar"}})
    with pytest.raises(ValueError, match=r"the text keys \['login'\] are the server's own"):
        create_app(settings, site=Registry((taking,)).site())


def test_two_pages_on_one_path_are_refused(settings, tmp_path):
    twice = Domain(name="twice", templates=tmp_path, pages=(Page("quality", "q.html", Permission.QUALITY, "quality"),))
    with pytest.raises(
        ValueError,
        match=r"page paths must be unique and none of \['', 'api', 'login', 'logout', 'static'\]: \['quality', 'quality', 'audit'\]",
    ):
        create_app(settings, site=Registry((twice,)).site())
