"""Every defect the simulator wrote is quarantined under its rule; counts in = counts out + quarantined."""

import pyarrow.compute as pc

HEADER_RULES = {
    "unknown_payment": "allowed:payment_type",
    "future_sold_at": "not_future:sold_at",
    "null_payment": "not_null:payment_type",
}
LINE_RULES = {
    "negative_quantity": "range:quantity",
    "unknown_product": "references:product_id",
    "duplicate_line": "unique:_batch_id,sale_id,line_no",
}


def _distinct_sales_by_rule(table, branch: str) -> dict[str, int]:
    rows = table.filter(pc.equal(table["branch_id"], branch)).select(["_rule", "sale_id"]).to_pylist()
    out: dict[str, set] = {}
    for r in rows:
        out.setdefault(r["_rule"], set()).add(r["sale_id"])
    return {rule: len(ids) for rule, ids in out.items()}


def test_each_defect_kind_lands_in_quarantine_under_its_rule(lived_day):
    chain = lived_day.chain
    assert sorted(lived_day.defects) == ["cordoba_centro", "palermo"]
    assert all(sum(d.values()) > 0 for d in lived_day.defects.values())  # every branch lived some defect
    for branch, defects in lived_day.defects.items():
        headers = _distinct_sales_by_rule(chain.read("quarantine.sales"), branch)
        lines = _distinct_sales_by_rule(chain.read("quarantine.sales_lines"), branch)
        assert headers == {HEADER_RULES[k]: n for k, n in defects.items() if k in HEADER_RULES}, branch
        expected_lines = {LINE_RULES[k]: n for k, n in defects.items() if k in LINE_RULES}
        expected_lines["references:_batch_id,sale_id"] = sum(headers.values())
        assert lines == expected_lines, branch


def test_rows_read_equal_rows_written_plus_quarantined_in_every_run(lived_day):
    runs = lived_day.chain.read("_system.runs").to_pylist()
    assert len(runs) == 64
    assert all(r["rows_read"] == r["rows_written"] + r["rows_quarantined"] for r in runs)
    assert sum(r["rows_quarantined"] for r in runs) == (
        lived_day.chain.read("quarantine.sales").num_rows + lived_day.chain.read("quarantine.sales_lines").num_rows
    )


def test_a_quarantined_row_says_why_and_where_it_came_from(lived_day):
    q = lived_day.chain.read("quarantine.sales")
    row = q.filter(pc.equal(q["_rule"], "allowed:payment_type")).to_pylist()[0]
    assert row["_reason"].startswith("payment_type = '") and row["_reason"].endswith(
        "' is not one of efectivo, debito, credito, mercado_pago_qr, transferencia"
    )
    assert row["_batch_id"].startswith(f"branch:{row['branch_id']}:2026-11-2")
    assert row["_quarantined_at"] is not None
