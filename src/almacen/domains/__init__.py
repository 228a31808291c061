"""The domains almacen runs (sales, messaging), and what the CLI and the server need from all of them.

`access()` completes the registry of access scopes (almacen.lake.access) that `almacen publish` reads:
every table declares its scope in the module that defines it, so the registry holds a table only once
that module was imported. The modules are imported on call, not on import of this package: the
messaging modules and `almacen.realtime.usage` use each other's names, and importing them here would
close that circle for whoever imports one of them first.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

from almacen.lake import Declaration, declared

TABLE_MODULES = (
    "almacen.models",  # the sales gold models: `-- access:` headers of models/gold/*.sql
    "almacen.realtime.rollup",  # gold.sales_minute, gold.sales_minute_late
    "almacen.realtime.usage",  # gold.usage_minute
    "almacen.domains.sales",
    "almacen.domains.messaging",
    "almacen.domains.messaging.conversations",  # gold.conversations, _daily, _monthly
    "almacen.domains.messaging.invoices",  # gold.invoices, _lines, gold.invoice_drafts, _draft_lines
)
"""every module that defines (and so declares) a table some command writes to gold; a domain adding a
table-defining module lists it here (a test checks every gold table the code names is declared)"""


def access() -> Mapping[str, Declaration]:
    """Every table's access declaration, by `layer.name`, after importing every module that makes one."""
    for module in TABLE_MODULES:
        import_module(module)
    return declared()
