"""The sales models: `silver/` (current versions of sales and lines) and `gold/` (facts, dimensions, marts)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources

from almacen import models
from almacen.config import Settings
from almacen.engine import Engine

MODELS = resources.files("almacen.domains.sales.models")


def build(
    settings: Settings, engine: Engine | None = None, on_model: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Rebuild the sales models (`almacen.models.build` over this folder); row counts by table."""
    return models.build(settings, engine, on_model, folders=(MODELS,))
