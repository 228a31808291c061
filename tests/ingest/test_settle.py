"""An `ok` slice with 0 rows is not proof: an empty hour the branch normally sells in is read again
until the source is `settle_hours` past it, and the run records say so."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pyarrow as pa
import sqlalchemy as sa
from typer.testing import CliRunner

from almacen.cli.main import app
from almacen.domains.sales import extract, extract_slices
from almacen.ingest import missed_slices
from almacen.monitor import RunRecord, read_runs, record_runs
from almacen.monitor.runs import RUNS, SCHEMA
from almacen.simulate import pos, simulate_chain

YESTERDAY = date(2026, 11, 22)


def _history(chain) -> None:
    """The day before the test day, lived and extracted whole: both branches sold at 14:00 UTC."""
    simulate_chain(chain.settings, YESTERDAY, scale=chain.scale, bad_rows=0.0)
    records = extract(chain.settings, [chain.at(h) for h in range(-24, 0)])
    assert all(r.status == "ok" for r in records)
    assert all(r.rows_read > 0 for r in records if r.window_start == chain.at(-10))


def _latest(chain, branch_id: str, sql: str) -> datetime:
    """The source's latest cursor, asked directly (the branches are UTC sources)."""
    return datetime.fromisoformat(str(chain.source(branch_id, sql))).replace(tzinfo=timezone.utc)


def _close_hour(chain, hour: int) -> None:
    """Palermo sold nothing in `hour`: its sales of that hour are gone from the POS."""
    md = pos.metadata("ventas")
    engine = sa.create_engine(chain.url("palermo"))
    ventas, items = md.tables["ventas"], md.tables["ventas_items"]
    gone = sa.select(ventas.c.id_venta).where(
        ventas.c.actualizado >= chain.at(hour).replace(tzinfo=None),
        ventas.c.actualizado < chain.at(hour + 1).replace(tzinfo=None),
    )
    with engine.begin() as con:
        con.execute(items.delete().where(items.c.id_venta.in_(gone)))
        con.execute(ventas.delete().where(ventas.c.id_venta.in_(gone)))
    engine.dispose()


def test_an_empty_hour_of_a_lagging_source_is_unsettled_until_read_again_with_its_rows(chain):
    _history(chain)
    chain.simulate(until_hour=14)  # at 15:00 the POS has only synced up to 14:00
    records = {r.branch_id: r for r in chain.extract(*range(15)) if r.window_start == chain.at(14)}
    for branch_id, table, cursor in (
        ("palermo", "ventas", "actualizado"),
        ("cordoba_centro", "tickets", "modificado_en"),
    ):
        r = records[branch_id]
        assert (r.status, r.rows_read, r.unsettled) == ("ok", 0, True)
        assert r.source_latest == _latest(chain, branch_id, f"SELECT max({cursor}) FROM {table}")
        assert r.source_latest < chain.at(15)
    assert missed_slices(chain.settings, None, chain.at(15)) == [
        ("palermo", chain.at(14)),
        ("cordoba_centro", chain.at(14)),
    ]
    runs = read_runs(chain.lake)
    assert runs.filter(pa.compute.equal(runs["unsettled"], True)).num_rows == 2

    chain.simulate(until_hour=16)  # the POS caught up
    again = extract_slices(chain.settings, missed_slices(chain.settings, None, chain.at(15)))
    expected = chain.source(
        "palermo",
        "SELECT count(*) FROM ventas WHERE actualizado >= :a AND actualizado < :b",
        a=chain.hour_text(14),
        b=chain.hour_text(15),
    )
    palermo = next(r for r in again if r.branch_id == "palermo")
    assert expected == 21
    assert (palermo.status, palermo.unsettled, palermo.source_latest) == ("ok", False, None)
    assert palermo.rows_read > expected  # headers and their lines
    bronze = chain.read("bronze.pos_ventas")
    assert bronze.filter(pa.compute.equal(bronze["_batch_id"], "branch:palermo:2026-11-23T14")).num_rows == expected
    assert missed_slices(chain.settings, None, chain.at(15)) == []


def test_an_empty_hour_is_final_once_the_source_is_settle_hours_past_it(chain):
    _history(chain)
    chain.simulate(until_hour=16)
    chain.extract(*range(14))
    _close_hour(chain, 14)
    latest = "SELECT max(actualizado) FROM ventas"
    (first,) = chain.extract(14, branches=["palermo"])
    assert (first.rows_read, first.unsettled, first.source_latest) == (0, True, _latest(chain, "palermo", latest))
    chain.simulate(until_hour=17)
    (second,) = extract_slices(chain.settings, missed_slices(chain.settings, None, chain.at(15), ["palermo"]))
    assert (second.window_start, second.rows_read, second.unsettled) == (chain.at(14), 0, True)  # 16:59 < 15:00 + 3 h
    chain.simulate(until_hour=19)
    (third,) = extract_slices(chain.settings, missed_slices(chain.settings, None, chain.at(15), ["palermo"]))
    assert (third.window_start, third.rows_read, third.unsettled) == (chain.at(14), 0, False)
    assert third.source_latest == _latest(chain, "palermo", latest) >= chain.at(18)
    assert missed_slices(chain.settings, None, chain.at(15), ["palermo"]) == []


def test_an_empty_hour_with_no_history_is_final(chain):
    chain.simulate(until_hour=14)
    records = chain.extract(14)
    assert [(r.rows_read, r.unsettled, r.source_latest) for r in records] == [(0, False, None)] * 2
    assert missed_slices(chain.settings, None, chain.at(15)) == []


def test_the_cli_reports_unsettled_hours(chain, tmp_path):
    _history(chain)
    chain.simulate(until_hour=14)
    config = tmp_path / "almacen.toml"
    result = CliRunner().invoke(app, ["extract", "--hour", "2026-11-23T14", "-c", str(config)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    at = _latest(chain, "palermo", "SELECT max(actualizado) FROM ventas")
    assert (
        f"unsettled: palermo 2026-11-23T14: 0 rows in an hour it normally sells in, and the source is not 3 h past "
        f"it yet (its latest row is at {at:%Y-%m-%dT%H:%M} UTC); --catch-up reads it again"
    ) in result.output
    assert "unsettled: cordoba_centro 2026-11-23T14" in result.output


def test_run_records_written_before_the_settle_columns_read_as_settled(chain):
    old = pa.schema([f for f in SCHEMA if f.name not in ("unsettled", "source_latest")])
    start = datetime(2026, 11, 23, 14, tzinfo=timezone.utc)
    row = {
        "run_id": "r1",
        "job": "extract",
        "branch_id": "palermo",
        "window_start": start,
        "window_end": start + timedelta(hours=1),
        "rows_read": 0,
        "rows_written": 0,
        "rows_quarantined": 0,
        "started_at": start,
        "finished_at": start,
        "status": "ok",
        "error": None,
        "lag": None,
        "rows_late": None,
    }
    chain.lake.append(RUNS, pa.Table.from_pylist([row], schema=old))
    assert read_runs(chain.lake).schema == SCHEMA
    assert read_runs(chain.lake).to_pylist()[0]["unsettled"] is None
    record_runs(
        chain.lake,
        [
            RunRecord(
                "extract",
                "palermo",
                start + timedelta(hours=1),
                start + timedelta(hours=2),
                start,
                start,
                unsettled=True,
                source_latest=start,
            )
        ],
    )
    assert sorted((r["window_start"], r["unsettled"]) for r in read_runs(chain.lake).to_pylist()) == [
        (start, None),
        (start + timedelta(hours=1), True),
    ]
    assert missed_slices(chain.settings, None, start + timedelta(hours=2), ["palermo"]) == [
        ("palermo", start + timedelta(hours=1))
    ]
