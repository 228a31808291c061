"""A branch that is down is recorded and the others complete; catch-up fills exactly what was missed."""

from decimal import Decimal

from almacen.config import Branch
from almacen.domains.sales import extract_slices
from almacen.ingest import missed_slices
from almacen.monitor import read_runs


def _down(chain, branch_id: str):
    """The same settings with one branch pointing at a database that cannot be opened."""
    branches = [
        b if b.id != branch_id else Branch(**{**b.model_dump(), "url": "sqlite:////nonexistent/dir/pos.sqlite"})
        for b in chain.settings.branches
    ]
    return chain.settings.model_copy(update={"branches": branches})


def test_a_failing_branch_is_recorded_and_the_others_complete(chain):
    chain.simulate(until_hour=13)
    outage = _down(chain, "cordoba_centro")
    from almacen.domains.sales import extract

    records = extract(outage, [chain.at(10), chain.at(11), chain.at(12)])
    by_status = sorted((r.branch_id, r.window_start.hour, r.status) for r in records)
    assert by_status == [("cordoba_centro", h, "failed") for h in (10, 11, 12)] + [
        ("palermo", h, "ok") for h in (10, 11, 12)
    ]
    failed = [r for r in records if r.status == "failed"][0]
    assert failed.error == (
        "branch cordoba_centro: cannot read from sqlite:pos.sqlite: database file missing (/nonexistent/dir/pos.sqlite)"
    )
    assert chain.read("bronze.pos_ventas").num_rows > 0
    assert chain.lake.read("bronze.pos_tickets") is None


def test_catch_up_extracts_exactly_the_missed_branch_hours(chain):
    chain.simulate(until_hour=13)
    from almacen.domains.sales import extract

    extract(_down(chain, "cordoba_centro"), [chain.at(h) for h in (10, 11, 12)])
    missed = missed_slices(chain.settings, None, chain.at(13))
    assert missed == [
        ("cordoba_centro", chain.at(10)),
        ("cordoba_centro", chain.at(11)),
        ("cordoba_centro", chain.at(12)),
    ]
    records = extract_slices(chain.settings, missed)
    assert [r.status for r in records] == ["ok", "ok", "ok"]
    assert missed_slices(chain.settings, None, chain.at(13)) == []
    expected = chain.source(
        "cordoba_centro",
        "SELECT count(*) FROM tickets WHERE modificado_en >= :a AND modificado_en < :b",
        a=chain.hour_text(10),
        b=chain.hour_text(13),
    )
    assert chain.read("bronze.pos_tickets").num_rows == expected


def _correct_a_line(chain, hour: int, product_id: int) -> tuple[tuple[str, int], tuple[int, Decimal]]:
    """A back-office correction that keeps the cursor: the first line of palermo's first sale of `hour`
    gets another product and amount, its header's `actualizado` untouched.
    Returns ((sale_id, line_no), (product_id, amount) before the correction)."""
    import sqlalchemy as sa

    from almacen.simulate import pos

    md = pos.metadata("ventas")
    ventas, items = md.tables["ventas"], md.tables["ventas_items"]
    engine = sa.create_engine(chain.url("palermo"))
    with engine.begin() as con:
        sale = con.execute(
            sa.select(sa.func.min(ventas.c.id_venta)).where(
                ventas.c.actualizado >= chain.at(hour).replace(tzinfo=None),
                ventas.c.actualizado < chain.at(hour + 1).replace(tzinfo=None),
            )
        ).scalar_one()
        before = con.execute(
            sa.select(items.c.id_producto, items.c.importe).where(items.c.id_venta == sale, items.c.renglon == 1)
        ).one()
        con.execute(
            items.update()
            .where(items.c.id_venta == sale, items.c.renglon == 1)
            .values(id_producto=product_id, importe=Decimal("12345.67"))
        )
    engine.dispose()
    return (str(sale), 1), (before[0], Decimal(before[1]))


def test_every_hourly_run_reads_the_lookback_hours_again_so_cursorless_corrections_land(chain, tmp_path):
    from typer.testing import CliRunner

    from almacen.cli.main import app
    from almacen.domains.sales import build

    def run(*args: str) -> None:
        result = CliRunner().invoke(
            app, ["extract", *args, "-c", str(tmp_path / "almacen.toml")], env={"ALMACEN_LOOKBACK_HOURS": "2"}
        )
        assert result.exit_code == 0, result.output

    chain.simulate(until_hour=15)
    run("--hour", "2026-11-23T14")  # reads 12 and 13 again as well
    runs = read_runs(chain.lake)
    assert sorted({r["window_start"].hour for r in runs.to_pylist()}) == [12, 13, 14]
    (inside, _), (outside, original) = _correct_a_line(chain, 14, 7), _correct_a_line(chain, 12, 7)
    chain.simulate(until_hour=16)
    run("--catch-up", "--until", "2026-11-23T16")  # 15 is missed; 14 and 15 are the lookback
    runs = read_runs(chain.lake).to_pylist()
    assert sorted(r["window_start"].hour for r in runs if r["branch_id"] == "palermo") == [12, 13, 14, 14, 15]
    build(chain.settings)
    lines = {
        (r["sale_id"], r["line_no"]): (r["product_id"], r["amount"])
        for r in chain.read("gold.fact_sales_lines").to_pylist()
        if r["branch_id"] == "palermo"
    }
    assert lines[inside] == (7, Decimal("12345.67"))
    assert lines[outside] == original != (7, Decimal("12345.67"))  # older than the lookback: reconciliation finds it


def test_lookback_slices_take_a_branch_setting_over_the_top_level_one(chain):
    from almacen.config import Branch
    from almacen.ingest.catchup import lookback_slices

    branches = [
        b if b.id != "palermo" else Branch(**{**b.model_dump(), "lookback_hours": 0}) for b in chain.settings.branches
    ]
    settings = chain.settings.model_copy(update={"branches": branches, "lookback_hours": 3})
    assert lookback_slices(settings, chain.at(15)) == [
        ("cordoba_centro", chain.at(12)),
        ("cordoba_centro", chain.at(13)),
        ("cordoba_centro", chain.at(14)),
    ]
    assert lookback_slices(chain.settings, chain.at(15)) == []
