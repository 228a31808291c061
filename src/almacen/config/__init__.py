"""Typed settings from `almacen.toml` and `ALMACEN_*` environment variables."""

from almacen.config.settings import (
    CONFORMED_COLUMNS,
    Branch,
    Catalog,
    ConfigError,
    PosControl,
    PosSchema,
    Settings,
    SourceTable,
    builtin_pos_schemas,
    load_config,
    resolve_url,
    source_zone,
)
from almacen.config.messaging import MessagingSettings
from almacen.config.serve import ServeSettings
from almacen.config.spark import SparkSettings
from almacen.config.stream import KafkaSettings, StreamSettings

__all__ = [
    "CONFORMED_COLUMNS",
    "Branch",
    "Catalog",
    "ConfigError",
    "KafkaSettings",
    "MessagingSettings",
    "PosControl",
    "PosSchema",
    "ServeSettings",
    "Settings",
    "SourceTable",
    "SparkSettings",
    "StreamSettings",
    "builtin_pos_schemas",
    "load_config",
    "resolve_url",
    "source_zone",
]
