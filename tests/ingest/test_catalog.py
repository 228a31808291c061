"""The product catalog keeps its last good copy when the source's rows do not fit, on either engine."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from almacen.config import Settings
from almacen.config.settings import Catalog
from almacen.engine import Engine
from almacen.domains.sales.catalog import load_catalog
from almacen.lake import Lake
from almacen.sources import SourceError

PRODUCTS = [
    {"product_id": 1, "sku": "SKU-1", "name": "Yerba 1kg", "category": "Almacén", "price": Decimal("4500.00")},
    {"product_id": 2, "sku": "SKU-2", "name": "Leche 1l", "category": "Lácteos", "price": Decimal("1200.50")},
]
NO_PRICE = "SELECT id_articulo AS product_id, sku, descripcion AS name, rubro AS category FROM articulos"
"""a catalog query that leaves the price out: the engine's SELECT over its rows names a missing column"""
STATEMENT = (
    "SELECT product_id::BIGINT AS product_id, sku::VARCHAR AS sku, name::VARCHAR AS name, "
    "category::VARCHAR AS category, pri…"
)
MISSING_PRICE = {
    "duckdb": 'Binder Error: Column "price" referenced that exists in the SELECT clause - but this column cannot be '
    "referenced before it is defined",
    "spark": "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column, variable, or function parameter with name `price` cannot "
    "be resolved. Did you mean one of the following? [`name`, `sku`, `category`, `product_id`]. SQLSTATE: 42703",
}


@pytest.fixture
def erp(tmp_path: Path) -> str:
    """The head office's ERP on SQLite, holding the two products."""
    path = tmp_path / "erp.db"
    with sqlite3.connect(path) as con:
        con.execute(
            "CREATE TABLE articulos (id_articulo INTEGER, sku TEXT, descripcion TEXT, rubro TEXT, "
            "precio_lista NUMERIC(18, 2))"
        )
        con.executemany(
            "INSERT INTO articulos VALUES (?, ?, ?, ?, ?)",
            [(p["product_id"], p["sku"], p["name"], p["category"], float(p["price"])) for p in PRODUCTS],
        )
    return f"sqlite:///{path}"


def _settings(tmp_path: Path, url: str, query: str | None = None) -> Settings:
    return Settings(lake=str(tmp_path / "lake"), catalog=Catalog(url=url, **({"query": query} if query else {})))


def test_a_catalog_whose_rows_do_not_fit_keeps_the_last_good_products(engine: Engine, erp: str, tmp_path: Path):
    lake = Lake(str(tmp_path / "lake"))
    assert load_catalog(_settings(tmp_path, erp), lake, engine).sort_by("product_id").to_pylist() == PRODUCTS
    version = lake.table("silver.products").version()

    kept = load_catalog(_settings(tmp_path, erp, NO_PRICE), lake, engine)

    assert kept.sort_by("product_id").to_pylist() == PRODUCTS  # in any order: Spark reads the lake in parallel
    assert lake.table("silver.products").version() == version  # nothing written
    assert engine.query("SELECT sku, price FROM silver.products ORDER BY sku").to_pylist() == [
        {"sku": p["sku"], "price": p["price"]} for p in PRODUCTS
    ]


def test_a_catalog_whose_rows_do_not_fit_and_none_before_names_the_engines_reason(
    engine: Engine, erp: str, tmp_path: Path
):
    with pytest.raises(SourceError) as failed:
        load_catalog(_settings(tmp_path, erp, NO_PRICE), Lake(str(tmp_path / "lake")), engine)
    assert str(failed.value) == (
        f"product catalog unavailable and none loaded before: {engine.DIALECT}: "
        f"{MISSING_PRICE[engine.DIALECT]} (statement: {STATEMENT})"
    )
