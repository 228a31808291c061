"""The product catalog (head-office ERP): read whole each run into bronze.products and silver.products."""

from __future__ import annotations

import pyarrow as pa

from almacen.config import ConfigError, Settings, resolve_url
from almacen.engine import Engine, QueryError
from almacen.lake import Lake
from almacen.sources import SourceError, query_source

PRODUCTS = pa.schema(
    [
        ("product_id", pa.int64()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("price", pa.decimal128(18, 2)),
    ]
)


def load_catalog(settings: Settings, lake: Lake, engine: Engine) -> pa.Table:
    """Refresh silver.products from the catalog source and register it; keep the last good copy if
    the source is down or its rows do not fit (a column missing or not converting, on any engine),
    and fail only when there has never been one."""
    try:
        if settings.catalog is None:
            raise ConfigError("no [catalog] in the config: lines cannot be checked against products")
        url = resolve_url(settings.catalog.url, settings.catalog.password_env, "catalog")
        engine.register("catalog_source", query_source(url, settings.catalog.query, "catalog"))
        products = engine.query(  # DuckDB rounds floats and wide decimals to cents exactly
            "SELECT product_id::BIGINT AS product_id, sku::VARCHAR AS sku, name::VARCHAR AS name, "
            "category::VARCHAR AS category, price::DECIMAL(18,2) AS price FROM catalog_source"
        ).cast(PRODUCTS)
        previous = lake.read("silver.products")
        if previous is None or not previous.equals(products):
            lake.overwrite("silver.products", products)
    except (SourceError, ConfigError, QueryError) as exc:
        products = lake.read("silver.products")
        if products is None:
            raise SourceError(f"product catalog unavailable and none loaded before: {exc}") from exc
    engine.register("silver.products", products)
    return products
