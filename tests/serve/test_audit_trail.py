"""What the server writes to the audit log: who read what with which filters, exports, and a chain that verifies."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.serve.conftest import LAST


def _last(served, n: int = 1) -> list[dict]:
    return served.audit().entries(limit=n).to_pylist()


def test_a_data_read_records_the_user_the_dataset_and_the_filters_as_applied(served):
    served.client("bruno").get(f"/api/sales?by=category&grain=week&from={LAST}&to={LAST}&channel=web")
    entry = _last(served)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("bruno", "data.read", "sales")
    assert json.loads(entry["details"]) == {
        "filters": {
            "start": str(LAST),
            "end": str(LAST),
            "branches": ["cordoba_centro", "rosario"],
            "channels": ["web"],
            "by": "category",
            "grain": "week",
        },
        "ip": "testclient",
    }


def test_an_export_is_recorded_as_an_export(served):
    served.client("alberto").get(f"/api/export/kpis.xlsx?from={LAST}&to={LAST}")
    entry = _last(served)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("alberto", "export", "kpis")


def test_a_refused_request_reads_nothing_and_is_recorded_as_denied(served):
    client = served.client("beatriz")
    before = _last(served)[0]["seq"]
    assert client.get("/api/kpis?branch=rosario").status_code == 403
    entry = _last(served)[0]
    assert (entry["seq"], entry["actor"], entry["action"], entry["target"]) == (
        before + 1,
        "beatriz",
        "access.denied",
        "/api/kpis",
    )
    assert json.loads(entry["details"]) == {
        "status": 403,
        "method": "GET",
        "ip": "testclient",
        "query": "branch=rosario",
    }


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("beatriz", "/api/audit", 403),
        ("beatriz", "/api/export/sales.csv?branch=cordoba_centro", 403),
        ("beatriz", "/api/kpis?from=0001-01-01", 422),
        ("beatriz", "/api/kpis?branches=rosario", 422),
        (None, "/api/kpis", 401),
        ("aurora", "/api/sales", 403),
    ],
)
def test_every_refusal_leaves_an_entry(served, who, path, status):
    client = served.client(who)
    before = _last(served)[0]["seq"]
    assert client.get(path).status_code == status
    entry = _last(served)[0]
    assert (entry["seq"], entry["actor"], entry["action"]) == (before + 1, who or "anonymous", "access.denied")
    assert json.loads(entry["details"])["status"] == status


def test_twenty_out_of_scope_attempts_leave_twenty_entries(served):
    client = served.client("beatriz")
    before = _last(served)[0]["seq"]
    for i in range(20):
        assert client.get(f"/api/sales?branch={('rosario', 'cordoba_centro')[i % 2]}").status_code == 403
    entries = served.audit().entries(limit=50).to_pylist()
    assert [e["action"] for e in entries if e["seq"] > before] == ["access.denied"] * 20


def test_a_bug_answers_a_json_500_naming_its_audit_entry(served, monkeypatch):
    from almacen.serve.marts import Marts

    def broken(self, text, params):
        raise ZeroDivisionError("a bug in the KPI code")

    monkeypatch.setattr(Marts, "query", broken)
    client = served.client("alberto")
    response = client.get("/api/kpis?from=2026-10-01&to=2026-10-02")  # a question not cached yet
    entry = _last(served)[0]
    assert response.status_code == 500
    assert response.json() == {"detail": f"internal error (audit entry {entry['seq']}); the server log has the details"}
    assert (entry["actor"], entry["action"], entry["target"]) == ("alberto", "request.failed", "/api/kpis")
    assert json.loads(entry["details"])["error"] == "ZeroDivisionError: a bug in the KPI code"


def test_the_audit_export_honours_limit_actor_and_action(served):
    for _ in range(3):
        served.client("bruno")
    client = served.client("aurora")
    text = client.get("/api/export/audit.csv?limit=3&actor=bruno&action=login.ok").text
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = served.audit().entries(limit=3, actor="bruno", action="login.ok").to_pylist()
    assert [int(r["seq"]) for r in rows] == [e["seq"] for e in expected] and len(rows) == 3
    assert {(r["actor"], r["action"]) for r in rows} == {("bruno", "login.ok")}


def test_the_audit_page_data_is_the_log_newest_first(served):
    rows = served.client("aurora").get("/api/audit?limit=3").json()["rows"]
    assert [r["seq"] for r in rows] == sorted((r["seq"] for r in rows), reverse=True)
    assert rows[0]["action"] == "login.ok" and rows[0]["actor"] == "aurora"


def test_after_all_that_traffic_the_chain_verifies(served):
    check = served.audit().verify()
    assert check.ok, check.problem
