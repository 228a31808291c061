"""What the server writes to the audit log: who read what with which filters, exports, and a chain that verifies."""

from __future__ import annotations

import json

from tests.serve.conftest import LAST


def _last(served, n: int = 1) -> list[dict]:
    return served.audit().entries(limit=n).to_pylist()


def test_a_data_read_records_the_user_the_dataset_and_the_filters_as_applied(served):
    served.client("bruno").get(f"/api/sales?by=category&grain=week&from={LAST}&to={LAST}&channel=web")
    entry = _last(served)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("bruno", "data.read", "sales")
    assert json.loads(entry["details"]) == {
        "filters": {"start": str(LAST), "end": str(LAST), "branches": ["cordoba_centro", "rosario"],
                    "channels": ["web"], "by": "category", "grain": "week"},
        "ip": "testclient"}


def test_an_export_is_recorded_as_an_export(served):
    served.client("alberto").get(f"/api/export/kpis.xlsx?from={LAST}&to={LAST}")
    entry = _last(served)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("alberto", "export", "kpis")


def test_a_refused_request_reads_nothing_and_records_nothing(served):
    before = _last(served)[0]["seq"]
    assert served.client("beatriz").get("/api/kpis?branch=rosario").status_code == 403
    entry = _last(served)[0]
    assert (entry["seq"], entry["actor"], entry["action"]) == (before + 1, "beatriz", "login.ok")  # the login only


def test_the_audit_page_data_is_the_log_newest_first(served):
    rows = served.client("aurora").get("/api/audit?limit=3").json()["rows"]
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    assert rows[0]["action"] == "login.ok" and rows[0]["actor"] == "aurora"


def test_after_all_that_traffic_the_chain_verifies(served):
    check = served.audit().verify()
    assert check.ok, check.problem
