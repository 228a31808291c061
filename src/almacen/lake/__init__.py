"""Delta Lake tables by layer: bronze, silver, gold, quarantine and _system; and who may read each outside almacen."""

from almacen.lake.access import Access, AccessError, Declaration, access_of, declare, declared
from almacen.lake.catalog import Table, define, defined
from almacen.lake.tables import LAYERS, Lake, SchemaChangeError, concat, same_type

__all__ = [
    "LAYERS",
    "Access",
    "AccessError",
    "Declaration",
    "Lake",
    "SchemaChangeError",
    "access_of",
    "concat",
    "declare",
    "declared",
    "define",
    "defined",
    "same_type",
    "Table",
]
