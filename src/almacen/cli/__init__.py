"""The `almacen` command line."""

from almacen.cli.main import app

__all__ = ["app"]
