"""The domains almacen runs, as one registry the CLI and the server read.

Adding a domain is one package under `domains/` that builds a `Domain` (see `almacen.domain`) and one
line here. The core never imports this package: whoever holds the registry hands the core what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from almacen import models
from almacen.config import Settings
from almacen.domain import Domain, Registry
from almacen.domains.messaging import DOMAIN as MESSAGING
from almacen.domains.sales import DOMAIN as SALES
from almacen.ingest import extract as extract_hours
from almacen.lake import Declaration
from almacen.monitor import RunRecord

DOMAINS: tuple[Domain, ...] = (SALES, MESSAGING)
REGISTRY = Registry(DOMAINS)


def access() -> Mapping[str, Declaration]:
    """Every table's access declaration, by `layer.name` (`Registry.access` of the registered domains)."""
    return REGISTRY.access()


def build(settings: Settings) -> dict[str, int]:
    """Rebuild every domain's silver and gold models from the lake; row counts by table."""
    return models.build(settings, folders=REGISTRY.model_folders())


def extract(
    settings: Settings,
    hours: Iterable[datetime],
    branch_ids: Sequence[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list[RunRecord]:
    """Extract the given hours of the branches' databases (`almacen.ingest.extract.extract`), written by
    the domain that owns the branch source role."""
    return extract_hours(settings, hours, branch_ids, on_progress, extraction=REGISTRY.extraction())
