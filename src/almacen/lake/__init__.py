"""Delta Lake tables by layer: bronze, silver, gold, quarantine and _system."""

from almacen.lake.tables import LAYERS, Lake, SchemaChangeError, concat, same_type

__all__ = ["LAYERS", "Lake", "SchemaChangeError", "concat", "same_type"]
