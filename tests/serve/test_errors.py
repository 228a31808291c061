"""Which status an error answers: only a NotFound is a 404 (naming what is missing); a builtin LookupError or
KeyError is a bug in almacen, answered as a 500 that names its audit entry, never as a 404."""

from __future__ import annotations

import json

import pyarrow as pa

from almacen.engine import DuckDBEngine
from almacen.serve.marts import Marts


def test_a_key_error_in_the_kpi_code_is_a_500_not_a_404(served, monkeypatch):
    # the KPI query answers no 'current' period: the KPI code's periods["current"] raises KeyError('current')
    monkeypatch.setattr(Marts, "query", lambda self, text, params: pa.table({"period": ["other"]}))
    response = served.client("alberto").get("/api/kpis?from=2026-10-03&to=2026-10-04")  # a question not cached yet
    entry = served.audit().entries(limit=1).to_pylist()[0]
    assert response.status_code == 500
    assert response.json() == {"detail": f"internal error (audit entry {entry['seq']}); the server log has the details"}
    assert (entry["action"], entry["target"], json.loads(entry["details"])["error"]) == (
        "request.failed",
        "/api/kpis",
        "KeyError: 'current'",
    )


def test_a_table_missing_from_the_lake_is_a_404_naming_it(served, monkeypatch):
    def missing(self, text, params):
        with DuckDBEngine() as engine:
            engine.register_table("gold.kpis_nowhere", served.lake)

    monkeypatch.setattr(Marts, "query", missing)
    response = served.client("alberto").get("/api/kpis?from=2026-10-05&to=2026-10-06")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"gold.kpis_nowhere is missing from the lake at {served.lake.path('gold.kpis_nowhere')}"
    }
