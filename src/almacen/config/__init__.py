"""Typed settings from `almacen.toml` and `ALMACEN_*` environment variables."""

from almacen.config.settings import (
    CONFORMED_COLUMNS,
    Branch,
    Catalog,
    ConfigError,
    PosSchema,
    Settings,
    SourceTable,
    builtin_pos_schemas,
    load_config,
    resolve_url,
)

__all__ = [
    "CONFORMED_COLUMNS",
    "Branch",
    "Catalog",
    "ConfigError",
    "PosSchema",
    "Settings",
    "SourceTable",
    "builtin_pos_schemas",
    "load_config",
    "resolve_url",
]
