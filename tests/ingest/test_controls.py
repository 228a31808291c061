"""Control totals: reconciliation reads each source through its own control report, never through the mapping,
so a wrong mapping is a difference (naming the measure), and the checksum is the one the docs define."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import pyarrow.compute as pc
import sqlalchemy as sa
from typer.testing import CliRunner

from almacen.cli import app
from almacen.config import PosControl, Settings, load_config, resolve_url
from almacen.domains.sales import CHANNELS, PAYMENT_TYPES, STATUSES, reconcile
from almacen.domains.sales import extract
from almacen.domains.sales import build
from almacen.simulate import pos
from almacen.simulate.corrections import swap_product
from almacen.sources import connect

from tests.ingest.conftest import Chain

VOCABULARY = {"status": STATUSES, "channel": CHANNELS, "payment_type": PAYMENT_TYPES}
WINDOW = ("ventas", "fecha", "id_venta", "ventas_items"), ("tickets", "emitido_en", "ticket_nro", "ticket_lineas")


def _rows(settings: Settings, branch_id: str, sql: str, **params) -> list[tuple]:
    branch = settings.branch(branch_id)
    engine = connect(resolve_url(branch.url, branch.password_env, branch_id))
    try:
        with engine.connect() as con:
            return [tuple(r) for r in con.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def _h(text: str) -> int:
    """The documented row hash: the first 15 hex digits of md5(canonical text), as an integer."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:15], 16)


def _n(value, scale: int) -> str:
    return "-" if value is None else str(int(Decimal(str(value)) * scale))


def _checksum(chain: Chain, branch_id: str, a: int, b: int) -> int:
    """The content checksum of the sales sold in hours [a, b), recomputed here from the raw POS rows and the
    simulator's own codes (tickets: codes without an almacen value stay as written)."""
    schema = chain.settings.branch(branch_id).pos_schema
    window = {"a": chain.hour_text(a), "b": chain.hour_text(b)}
    if schema == "ventas":
        headers = _rows(
            chain.settings,
            branch_id,
            "SELECT id_venta, estado, canal, medio_pago FROM ventas WHERE fecha >= :a AND fecha < :b",
            **window,
        )
        lines = _rows(
            chain.settings,
            branch_id,
            "SELECT i.id_venta, i.renglon, i.id_producto, i.cantidad, "
            "i.precio_unitario, i.importe FROM ventas_items i JOIN ventas v "
            "ON v.id_venta = i.id_venta WHERE v.fecha >= :a AND v.fecha < :b",
            **window,
        )
    else:
        decode = {
            k: {code: value for value, code in pos.TICKET_CODES[k].items() if value in VOCABULARY[k]}
            for k in VOCABULARY
        }
        headers = [
            (
                n,
                decode["status"].get(s, s),
                decode["channel"].get(c, c),
                None if p is None else decode["payment_type"].get(p, p),
            )
            for n, s, c, p in _rows(
                chain.settings,
                branch_id,
                "SELECT ticket_nro, situacion, origen, forma_pago FROM tickets "
                "WHERE emitido_en >= :a AND emitido_en < :b",
                **window,
            )
        ]
        lines = _rows(
            chain.settings,
            branch_id,
            "SELECT l.ticket_nro, l.linea, l.cod_articulo, l.unidades, l.precio, "
            "l.subtotal FROM ticket_lineas l JOIN tickets t ON t.ticket_nro = "
            "l.ticket_nro WHERE t.emitido_en >= :a AND t.emitido_en < :b",
            **window,
        )
    total = sum(_h("|".join(["S", str(n), *(v or "-" for v in rest)])) for n, *rest in headers)
    total += sum(
        _h("|".join(["L", str(n), str(line), str(product), _n(q, 1000), _n(price, 100), _n(amount, 100)]))
        for n, line, product, q, price, amount in lines
    )
    return total


def _count(chain: Chain, branch_id: str, sql: str, hour: int):
    rows = _rows(chain.settings, branch_id, sql, a=chain.hour_text(hour), b=chain.hour_text(hour + 1))
    return rows[0][0] or 0


def _mutated(settings: Settings, schema: str, change) -> Settings:
    """The settings with a copy of POS schema `schema`'s mapping changed by `change` (as a config can)."""
    mapping = settings.schemas()[schema].model_copy(deep=True)
    change(mapping)
    return settings.model_copy(update={"pos_schemas": {**settings.pos_schemas, schema: mapping}})


def _lived(chain: Chain, settings: Settings, hours=(14, 15)) -> None:
    chain.simulate(until_hour=max(hours) + 1)
    extract(settings, [chain.at(h) for h in hours])
    build(settings)


def _by_branch(result, branch_id: str) -> list[dict]:
    return [r for r in result.rows.to_pylist() if r["branch_id"] == branch_id]


def test_the_checksum_is_the_documented_sum_over_the_raw_source_rows(chain):
    _lived(chain, chain.settings, hours=(13, 14, 15))
    result = reconcile(chain.settings, chain.at(13), chain.at(16))
    assert result.ok
    for branch in ("palermo", "cordoba_centro"):
        rows = result.rows.filter(pc.equal(result.rows["branch_id"], branch))
        assert [r.as_py() for r in rows["hour"]] == [chain.at(13), chain.at(14), chain.at(15)]
        for r in rows.to_pylist():
            hour = r["hour"].hour
            assert int(r["source_checksum"]) == _checksum(chain, branch, hour, hour + 1)
            assert r["gold_checksum"] + r["quarantined_checksum"] == r["source_checksum"]


def test_approved_and_rejected_codes_swapped_in_the_mapping_are_named_differences(chain):
    def swap(mapping):
        codes = mapping.tables["tickets"].values["status"]
        codes["APR"], codes["REC"] = codes["REC"], codes["APR"]

    settings = _mutated(chain.settings, "tickets", swap)
    _lived(chain, settings)
    result = reconcile(settings, chain.at(14), chain.at(16))
    assert not result.ok
    assert all(r["ok"] for r in _by_branch(result, "palermo"))
    rows = _by_branch(result, "cordoba_centro")
    assert [r["hour"] for r in rows] == [chain.at(14), chain.at(15)]
    for r in rows:
        h = r["hour"].hour
        approved = _count(
            chain,
            "cordoba_centro",
            "SELECT count(*) FROM tickets WHERE situacion = 'APR' AND emitido_en >= :a AND emitido_en < :b",
            h,
        )
        rejected = _count(
            chain,
            "cordoba_centro",
            "SELECT count(*) FROM tickets WHERE situacion = 'REC' AND emitido_en >= :a AND emitido_en < :b",
            h,
        )
        assert approved != rejected  # the swap changes the count in these hours: the test can see it
        assert (r["source_approved"], r["gold_approved"], r["quarantined_approved"]) == (approved, rejected, 0)
        assert r["source_tickets"] == r["gold_tickets"]
        assert r["differs"] == "approved tickets, approved revenue, checksum"


def test_the_line_amount_mapped_to_the_unit_price_is_a_named_difference(chain):
    settings = _mutated(
        chain.settings,
        "ventas",
        lambda mapping: mapping.tables["ventas_items"].columns.update(amount="precio_unitario"),
    )
    _lived(chain, settings)
    result = reconcile(settings, chain.at(14), chain.at(16))
    assert all(r["ok"] for r in _by_branch(result, "cordoba_centro"))
    rows = _by_branch(result, "palermo")
    assert [r["hour"] for r in rows] == [chain.at(14), chain.at(15)]
    approved_lines = (
        "FROM ventas_items i JOIN ventas v ON v.id_venta = i.id_venta WHERE v.estado = 'aprobada' "
        "AND v.fecha >= :a AND v.fecha < :b"
    )
    for r in rows:
        h = r["hour"].hour
        amounts = Decimal(str(_count(chain, "palermo", f"SELECT sum(i.importe) {approved_lines}", h))).quantize(
            Decimal("0.01")
        )
        prices = Decimal(str(_count(chain, "palermo", f"SELECT sum(i.precio_unitario) {approved_lines}", h))).quantize(
            Decimal("0.01")
        )
        several = _count(
            chain,
            "palermo",
            "SELECT count(*) FROM ventas_items i JOIN ventas v ON v.id_venta = i.id_venta "
            "WHERE i.cantidad > 1 AND v.fecha >= :a AND v.fecha < :b",
            h,
        )
        assert several > 0 and amounts != prices  # lines of more than one unit: amount and unit price differ
        assert (r["source_revenue"], r["gold_revenue"]) == (amounts, prices)
        assert r["differs"] == "approved revenue, checksum"


def test_a_pos_schema_without_a_control_report_is_refused_by_name(chain):
    chain.simulate(until_hour=15)
    palermo = chain.settings.branch("palermo").model_copy(update={"pos_schema": "mipos"})
    settings = chain.settings.model_copy(
        update={
            "pos_schemas": {"mipos": chain.settings.schemas()["ventas"]},
            "branches": [palermo, chain.settings.branch("cordoba_centro")],
        }
    )
    extract(settings, [chain.at(14)])
    build(settings)
    result = reconcile(settings, chain.at(14), chain.at(15))
    assert not result.ok
    assert result.errors == {
        "palermo": (
            "POS schema 'mipos' has no control totals (mipos.sales.sql, mipos.lines.sql missing from "
            "src/almacen/domains/sales/controls/, and no [pos_schemas.<name>.control] in the config): reconciliation "
            "compares gold with the source's own control report, never through the mapping that loaded it; write its "
            "control queries to reconcile it"
        )
    }
    assert [(r["branch_id"], r["ok"]) for r in result.rows.to_pylist()] == [("cordoba_centro", True)]


def test_a_pos_schema_defined_in_the_config_reconciles_with_the_control_it_declares(chain):
    """A POS the project does not ship is reconciled against the control report its config declares."""
    chain.simulate(until_hour=15)
    folder = Path(__file__).parents[2] / "src/almacen/domains/sales/controls"
    control = PosControl(
        sales=(folder / "ventas.sales.sql").read_text(encoding="utf-8"),
        lines=(folder / "ventas.lines.sql").read_text(encoding="utf-8"),
    )
    mipos = chain.settings.schemas()["ventas"].model_copy(update={"control": control})
    palermo = chain.settings.branch("palermo").model_copy(update={"pos_schema": "mipos"})
    settings = chain.settings.model_copy(update={"pos_schemas": {"mipos": mipos}, "branches": [palermo]})
    extract(settings, [chain.at(14)])
    build(settings)
    result = reconcile(settings, chain.at(14), chain.at(15))
    tickets = _count(chain, "palermo", "SELECT count(*) FROM ventas WHERE fecha >= :a AND fecha < :b", 14)
    assert result.errors == {}
    assert [(r["branch_id"], r["source_tickets"], r["ok"]) for r in result.rows.to_pylist()] == [
        ("palermo", tickets, True)
    ]


def test_fix_cannot_repair_a_wrong_mapping_and_exits_1(chain, tmp_path: Path):
    """A difference that re-extraction cannot remove remains after --fix: the command exits 1."""
    builtin = (Path(pos.__file__).parents[1] / "sources" / "pos_schemas" / "tickets.toml").read_text(encoding="utf-8")
    swapped = builtin.replace('APR = "aprobada"', 'APR = "rechazada"').replace('REC = "rechazada"', 'REC = "aprobada"')
    swapped = swapped.replace("[tables.", "[pos_schemas.tickets.tables.")
    cfg = tmp_path / "almacen.toml"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("demo = true\n", "demo = true\n\n" + swapped + "\n", 1),
        encoding="utf-8",
    )
    settings = load_config(cfg)
    assert settings.schemas()["tickets"].tables["tickets"].values["status"]["APR"] == "rechazada"
    _lived(chain, settings, hours=(14,))
    result = CliRunner().invoke(app, ["reconcile", "--hour", "2026-11-23T14", "--fix", "-c", str(cfg)])
    assert result.exit_code == 1, result.output
    differences = [line for line in result.output.splitlines() if line.startswith("difference")]
    assert len(differences) == 2  # before and after the fix
    assert all(line.startswith("difference cordoba_centro 2026-11-23T14: approved tickets ") for line in differences)


def test_the_control_reports_run_on_postgres_mariadb_and_sqlite_alike(mixed):
    mixed.simulate(until_hour=16, bad_rows=0.02)
    extract(mixed.settings, [mixed.at(14), mixed.at(15)])
    build(mixed.settings)
    result = reconcile(mixed.settings, mixed.at(14), mixed.at(16))
    assert result.errors == {}
    assert result.ok
    for branch in ("palermo", "cordoba_centro", "rosario"):
        rows = result.rows.filter(pc.equal(result.rows["branch_id"], branch))
        assert int(pc.sum(rows["source_checksum"]).as_py()) == _checksum(mixed, branch, 14, 16)
    palermo = swap_product(mixed.settings, "palermo", mixed.at(14))
    cordoba = swap_product(mixed.settings, "cordoba_centro", mixed.at(15))
    result = reconcile(mixed.settings, mixed.at(14), mixed.at(16))
    assert [(d["branch_id"], d["hour"], d["differs"], d["slices"]) for d in result.differences.to_pylist()] == [
        ("cordoba_centro", mixed.at(15), "checksum", [cordoba.cursor_hour]),
        ("palermo", mixed.at(14), "checksum", [palermo.cursor_hour]),
    ]
