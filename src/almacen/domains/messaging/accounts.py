"""Client accounts as the lake holds them (`silver.clients`, highest version current)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from almacen.lake import Lake

CLIENTS = "silver.clients"


def current_version(table: pa.Table) -> pa.Table:
    """The rows of the highest `version` (each load of reference data appends a whole new version)."""
    if table.num_rows == 0:
        return table
    return table.filter(pc.equal(table["version"], pc.max(table["version"])))


def known_clients(lake: Lake) -> pa.Table | None:
    """`client_id` of every current client account, or None when none was ever loaded."""
    clients = lake.read(CLIENTS)
    if clients is None:
        return None
    return current_version(clients).select(["client_id"])
