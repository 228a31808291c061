"""A sale that changes status hours later reaches bronze twice and silver and gold once, as it is now."""

import pyarrow as pa
import pyarrow.compute as pc

from almacen.models import build


def _run_day_hour_by_hour(chain):
    """As the hourly job lives it: each hour extracted right after it ends, 8 hours past midnight."""
    for hour in range(32):
        chain.simulate(until_hour=hour + 1)
        chain.extract(hour)
    build(chain.settings)


def test_silver_holds_each_sale_once_with_the_status_the_source_has_now(chain):
    _run_day_hour_by_hour(chain)
    import sqlalchemy as sa

    engine = sa.create_engine(chain.url("palermo"))
    with engine.connect() as con:
        source = {str(i): e for i, e in con.execute(sa.text("SELECT id_venta, estado FROM ventas"))}
    engine.dispose()
    sales = chain.read("silver.sales")
    palermo = sales.filter(pc.equal(sales["branch_id"], "palermo"))
    assert dict(zip(palermo["sale_id"].to_pylist(), palermo["status"].to_pylist())) == source


def test_a_sale_that_was_pending_is_in_bronze_twice_and_counted_once_as_approved(chain):
    _run_day_hour_by_hour(chain)
    versions = chain.read("silver.sales_versions").filter(pc.equal(chain.read("silver.sales_versions")["branch_id"], "palermo"))
    per_sale = versions.group_by("sale_id").aggregate([("status", "count_distinct")])
    changed = set(per_sale.filter(pc.greater(per_sale["status_count_distinct"], 1))["sale_id"].to_pylist())
    assert changed, "the simulated day has sales that settle later"
    facts = chain.read("gold.fact_sales")
    settled = facts.filter(pc.and_(pc.equal(facts["branch_id"], "palermo"),
                                   pc.is_in(facts["sale_id"], value_set=pa.array(sorted(changed)))))
    assert settled.num_rows == len(changed)
    assert set(settled["status"].to_pylist()) <= {"aprobada", "rechazada", "anulada"}
