"""almacen: a commerce data platform — branch sales into a governed Delta lakehouse.

The handful of names a user needs; everything else is reached through its package. They are
imported on first use, so a job that needs only extraction does not pay for the rest at start-up.
"""

from importlib import import_module

_EXPORTS = {
    "Lake": "almacen.lake",
    "Settings": "almacen.config",
    "build": "almacen.domains",
    "extract": "almacen.domains",
    "load_config": "almacen.config",
    "reconcile": "almacen.domains.sales",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'almacen' has no attribute {name!r}")
