"""Serving: the web dashboard, the JSON API, and publishing gold marts to PostgreSQL for BI tools."""

from almacen.serve.app import create_app
from almacen.serve.filters import BadFilter, Filters, parse_filters
from almacen.serve.marts import Marts, NotBuilt
from almacen.serve.tls import dev_certificate

__all__ = ["BadFilter", "Filters", "Marts", "NotBuilt", "create_app", "dev_certificate", "parse_filters"]
