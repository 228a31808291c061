"""Serving: the web dashboard, the JSON API, and publishing gold marts to PostgreSQL for BI tools.

The names are imported on first use: a domain declaring its pages (`almacen.serve.site`) loads no web
framework with them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from almacen.serve.app import create_app
    from almacen.serve.filters import BadFilter, Filters, parse_filters
    from almacen.serve.marts import Marts, NotBuilt
    from almacen.serve.site import Dataset, Held, Mart, Page, Site
    from almacen.serve.tls import dev_certificate

_EXPORTS = {
    "BadFilter": "almacen.serve.filters",
    "Dataset": "almacen.serve.site",
    "Filters": "almacen.serve.filters",
    "Held": "almacen.serve.site",
    "Mart": "almacen.serve.site",
    "Marts": "almacen.serve.marts",
    "NotBuilt": "almacen.serve.marts",
    "Page": "almacen.serve.site",
    "Site": "almacen.serve.site",
    "create_app": "almacen.serve.app",
    "dev_certificate": "almacen.serve.tls",
    "parse_filters": "almacen.serve.filters",
}

__all__ = [
    "BadFilter",
    "Dataset",
    "Filters",
    "Held",
    "Mart",
    "Marts",
    "NotBuilt",
    "Page",
    "Site",
    "create_app",
    "dev_certificate",
    "parse_filters",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'almacen.serve' has no attribute {name!r}")
