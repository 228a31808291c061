"""A sale that changes status hours later reaches bronze twice and silver and gold once, as it is now."""

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa


def _palermo(table: pa.Table) -> pa.Table:
    return table.filter(pc.equal(table["branch_id"], "palermo"))


def test_silver_holds_each_accepted_sale_once_with_the_status_the_source_has_now(lived_day):
    chain = lived_day.chain
    engine = sa.create_engine(chain.url("palermo"))
    with engine.connect() as con:
        source = {str(i): e for i, e in con.execute(sa.text("SELECT id_venta, estado FROM ventas"))}
    engine.dispose()
    quarantined = set(_palermo(chain.read("quarantine.sales"))["sale_id"].to_pylist())
    sales = _palermo(chain.read("silver.sales"))
    assert dict(zip(sales["sale_id"].to_pylist(), sales["status"].to_pylist())) == {
        k: v for k, v in source.items() if k not in quarantined
    }


def test_a_sale_that_settled_later_has_two_versions_and_one_fact_with_its_final_status(lived_day):
    chain = lived_day.chain
    versions = _palermo(chain.read("silver.sales_versions"))
    per_sale = versions.group_by("sale_id").aggregate([("status", "count_distinct")])
    changed = per_sale.filter(pc.greater(per_sale["status_count_distinct"], 1))["sale_id"]
    assert len(changed) > 0, "the simulated day has sales that settle later"
    facts = _palermo(chain.read("gold.fact_sales"))
    settled = facts.filter(pc.is_in(facts["sale_id"], value_set=changed.combine_chunks()))
    assert settled.num_rows == len(changed)
    assert set(settled["status"].to_pylist()) <= {"aprobada", "rechazada", "anulada"}


def test_only_approved_sales_are_revenue_and_the_rest_are_reported_by_status(lived_day):
    chain = lived_day.chain
    facts = chain.read("gold.fact_sales")
    approved = facts.filter(pc.equal(facts["status"], "aprobada"))
    assert pc.sum(chain.read("gold.sales_daily")["revenue"]).as_py() == pc.sum(approved["lines_amount"]).as_py()
    by_status = chain.read("gold.sales_status_daily")
    assert pc.sum(by_status["sales"]).as_py() == facts.num_rows
    assert set(by_status["status"].to_pylist()) == {"aprobada", "rechazada", "pendiente", "anulada"} - (
        {"pendiente"} if "pendiente" not in facts["status"].to_pylist() else set()
    )
