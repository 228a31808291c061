"""Extraction jobs: branch POS hours into bronze and, through the quality gate, silver versions."""

from almacen.ingest.catchup import missed_slices
from almacen.ingest.extract import extract, extract_slices
from almacen.ingest.lineage import batch_id

__all__ = ["batch_id", "extract", "extract_slices", "missed_slices"]
