"""almacen: a commerce data platform — branch sales into a governed Delta lakehouse.

The handful of names a user needs; everything else is reached through its package.
"""

from almacen.config import Settings, load_config
from almacen.domains.sales import reconcile
from almacen.ingest import extract
from almacen.lake import Lake
from almacen.models import build

__all__ = ["Lake", "Settings", "build", "extract", "load_config", "reconcile"]
