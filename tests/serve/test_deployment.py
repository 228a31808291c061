"""What a deployment cannot get wrong silently: a short signing key, a demo lake put into use, lake files
other users can read, an API docs page that would load a CDN."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from almacen.config import ConfigError, load_config
from almacen.domains import REGISTRY
from almacen.domains.sales import extract
from almacen.lake import Lake
from almacen.security import Users
from almacen.security.demo import DemoLake, is_demo_lake
from almacen.serve import create_app
from almacen.simulate import demo_config

STRONG = SecretStr("k" * 32)


def _production(settings, **update):
    return settings.model_copy(update={"demo": False, "secret_key": STRONG, **update})


@pytest.fixture
def demo_settings(tmp_path: Path):
    return load_config(demo_config(tmp_path, branches=1))


@pytest.mark.parametrize("key", ["12345", "x" * 31])
def test_a_signing_key_shorter_than_32_bytes_is_refused_outside_demo_mode(demo_settings, key):
    with pytest.raises(ConfigError, match=f"ALMACEN_SECRET_KEY has {len(key)} bytes; it needs at least 32"):
        create_app(_production(demo_settings, secret_key=SecretStr(key)), site=REGISTRY.site())


def test_a_32_byte_key_is_accepted(demo_settings):
    create_app(_production(demo_settings), site=REGISTRY.site())


def test_a_lake_written_with_the_public_demo_key_is_marked_and_refused_outside_demo_mode(demo_settings):
    from datetime import datetime, timezone

    from almacen.simulate import simulate_chain

    simulate_chain(demo_settings, datetime(2026, 11, 23).date(), scale=0.01)
    extract(demo_settings, [datetime(2026, 11, 23, 12, tzinfo=timezone.utc)])
    assert is_demo_lake(Lake(demo_settings.lake))
    create_app(demo_settings, site=REGISTRY.site())  # demo mode may look at it
    with pytest.raises(DemoLake, match="is a demo lake .* refusing outside demo mode"):
        create_app(_production(demo_settings), site=REGISTRY.site())


def test_a_lake_written_with_a_real_key_is_not_marked(demo_settings):
    from datetime import datetime, timezone

    from almacen.simulate import simulate_chain

    settings = demo_settings.model_copy(update={"pseudonym_key": SecretStr("p" * 32)})
    simulate_chain(settings, datetime(2026, 11, 23).date(), scale=0.01)
    extract(settings, [datetime(2026, 11, 23, 12, tzinfo=timezone.utc)])
    assert not is_demo_lake(Lake(settings.lake))


def test_lake_files_are_created_readable_by_their_owner_only(demo_settings):
    Users(Lake(demo_settings.lake)).add("solo", "una-clave-larga-1", "admin")
    created = [p for p in Path(demo_settings.lake).rglob("*")]
    assert created
    loose = [str(p) for p in created if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []


def test_the_api_docs_page_is_off_and_the_openapi_document_needs_no_login(demo_settings):
    client = TestClient(create_app(demo_settings, site=REGISTRY.site()))
    assert client.get("/api/docs").status_code == 404
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "almacen"


def test_every_table_the_dashboard_serves_has_a_scope_it_cuts_by(monkeypatch, demo_settings):
    from almacen.lake import Access, Declaration
    from almacen.serve import marts

    held = [t.name for mart in REGISTRY.site().marts for t in mart.tables]
    marts.check_served_scopes(held)  # the shipped tables: branch-scoped or public dimensions
    real = marts.access_of
    monkeypatch.setattr(marts, "access_of", lambda t: None if t == "gold.dim_product" else real(t))
    with pytest.raises(RuntimeError, match=r"serve: gold.dim_product \(undeclared\) may not be served"):
        create_app(demo_settings, site=REGISTRY.site())
    monkeypatch.setattr(
        marts, "access_of", lambda t: Declaration(t, Access.CLIENT, "client_id") if t == "gold.sales_daily" else real(t)
    )
    with pytest.raises(RuntimeError, match=r"gold.sales_daily \(client\) may not be served"):
        create_app(demo_settings, site=REGISTRY.site())
