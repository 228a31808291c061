"""Sources that keep local time: windows asked in the source's zone, timestamps converted to UTC.

The simulator's plan (UTC) is the truth; a branch with `timezone` runs a local-time POS that writes
the plan's times on its own clock, as a real Argentine POS writes DATETIME in local time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from almacen.clock import local_window, to_utc
from almacen.config import load_config, resolve_url
from almacen.domains.sales import extract
from almacen.domains.sales import build
from almacen.simulate import build_catalog, plan_day, simulate_chain
from almacen.simulate import pos
from almacen.simulate.customers import build_customers
from almacen.sources import connect

BUENOS_AIRES = ZoneInfo("America/Argentina/Buenos_Aires")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")
DAY = date(2026, 11, 23)
SCALE = 0.2


def _ts(*args: int) -> pa.Array:
    return pa.array([datetime(*args)], pa.timestamp("us"))


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("zone", "local", "expected"),
    [
        # New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC)
        (NEW_YORK, (2026, 3, 8, 1, 59), (2026, 3, 8, 6, 59)),
        (NEW_YORK, (2026, 3, 8, 2, 30), (2026, 3, 8, 7, 30)),  # missing hour: read with EST, shifted forward
        (NEW_YORK, (2026, 3, 8, 3, 10), (2026, 3, 8, 7, 10)),
        # New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC)
        (NEW_YORK, (2026, 11, 1, 0, 50), (2026, 11, 1, 4, 50)),
        (NEW_YORK, (2026, 11, 1, 1, 20), (2026, 11, 1, 5, 20)),  # repeated hour: its first occurrence (EDT)
        (NEW_YORK, (2026, 11, 1, 2, 10), (2026, 11, 1, 7, 10)),
        # Santiago changes at midnight: 2026-04-04 24:00 -03 -> 23:00 -04; 2026-09-06 00:00 -04 -> 01:00 -03
        (SANTIAGO, (2026, 4, 4, 23, 30), (2026, 4, 5, 2, 30)),  # repeated: first occurrence (-03)
        (SANTIAGO, (2026, 4, 5, 0, 30), (2026, 4, 5, 4, 30)),
        (SANTIAGO, (2026, 9, 6, 0, 30), (2026, 9, 6, 4, 30)),  # missing: read with -04, shifted forward
        (SANTIAGO, (2026, 9, 6, 1, 30), (2026, 9, 6, 4, 30)),
        (BUENOS_AIRES, (2026, 11, 23, 1, 15), (2026, 11, 23, 4, 15)),
    ],
)
def test_to_utc_takes_the_first_of_a_repeated_time_and_shifts_a_missing_one_forward(zone, local, expected):
    assert to_utc(_ts(*local), zone).to_pylist() == [_utc(*expected)]
    assert to_utc(pa.chunked_array([_ts(*local)]), zone).type == pa.timestamp("us", tz="UTC")


def test_to_utc_keeps_nulls_and_leaves_instants_alone():
    assert to_utc(pa.array([None], pa.timestamp("us")), NEW_YORK).to_pylist() == [None]
    aware = pa.array([_utc(2026, 3, 8, 7, 30)], pa.timestamp("ms", tz="UTC"))
    assert to_utc(aware, NEW_YORK).to_pylist() == [_utc(2026, 3, 8, 7, 30)]


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        (ZoneInfo("UTC"), (2026, 11, 23, 14), ((2026, 11, 23, 14), (2026, 11, 23, 15))),
        (BUENOS_AIRES, (2026, 11, 23, 14), ((2026, 11, 23, 11), (2026, 11, 23, 12))),
        (NEW_YORK, (2026, 3, 8, 7), ((2026, 3, 8, 2), (2026, 3, 8, 4))),  # widened down to the missing hour
        (NEW_YORK, (2026, 11, 1, 5), ((2026, 11, 1, 0), (2026, 11, 1, 2))),  # widened: the repeated hour is in it
        (NEW_YORK, (2026, 6, 1, 12), ((2026, 6, 1, 8), (2026, 6, 1, 9))),  # no change near: exact
    ],
)
def test_local_window_is_the_utc_hour_on_the_source_clock_widened_near_a_change(zone, start, expected):
    begin = _utc(*start)
    assert local_window(begin, begin + timedelta(hours=1), zone) == tuple(datetime(*e) for e in expected)


def _plain(url: str) -> str:
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


def _config(tmp_path, url: str, zone: str, monkeypatch):
    """One `ventas` branch on a server database, its POS on the clock of `zone`; catalog on SQLite."""
    monkeypatch.setenv("ALMACEN_TEST_PW", make_url(url).password)
    text = [
        f'lake = "{tmp_path / "lake"}"',
        "demo = true",
        "[catalog]",
        f'url = "sqlite:///{tmp_path / "erp.sqlite"}"',
        "[[branches]]",
        'id = "palermo"',
        'name = "Palermo"',
        'city = "CABA"',
        'province = "CABA"',
        f'url = "{_plain(url)}"',
        'password_env = "ALMACEN_TEST_PW"',
        'pos_schema = "ventas"',
        f'timezone = "{zone}"',
    ]
    path = tmp_path / "almacen.toml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return load_config(path)


def _truth(until: datetime) -> list:
    """The plan of palermo's day, each sale with its status as of `until` (UTC)."""
    plan = plan_day(
        "palermo", DAY, list(build_catalog(7, 2000)), list(build_customers(7)), seed=7, scale=SCALE, bad_rows=0.0
    )
    final = []
    for s in plan:
        status = s.status
        for at, new in s.updates:
            if at.replace(tzinfo=timezone.utc) < until:
                status = new
        final.append((s, status))
    return final


@pytest.mark.postgres
def test_a_local_time_branch_extracted_hour_by_hour_lands_in_its_true_hours_and_business_days(
    tmp_path, fresh_postgres_db, monkeypatch
):
    settings = _config(tmp_path, fresh_postgres_db, "America/Argentina/Buenos_Aires", monkeypatch)
    midnight = datetime(2026, 11, 23, tzinfo=timezone.utc)
    # as a cron would: at each hour H, the POS has lived until H; extract the last complete hour
    for h in range(1, 33):
        simulate_chain(settings, DAY, until=midnight + timedelta(hours=h), scale=SCALE, bad_rows=0.0)
        records = extract(settings, [midnight + timedelta(hours=h - 1)])
        assert [r.status for r in records] == ["ok"], records[0].error
    build(settings)
    lake = settings.lake
    from almacen.lake import Lake

    truth = _truth(midnight + timedelta(hours=32))
    expected = sorted(
        (
            str(s.sale_id),
            s.sold_at.replace(tzinfo=timezone.utc),
            s.sold_at.replace(minute=0, second=0, tzinfo=timezone.utc),
            (s.sold_at.replace(tzinfo=timezone.utc).astimezone(BUENOS_AIRES)).date(),
            status,
            s.total,
        )
        for s, status in truth
    )
    fact = Lake(lake).read("gold.fact_sales").select(["sale_id", "sold_at", "hour", "date", "status", "total"])
    got = sorted(tuple(r.values()) for r in fact.to_pylist())
    assert len(got) == len(expected) == 523
    assert got == expected
    # the sales made between 00:00 and 03:00 local belong to the 23rd, not to the 22nd
    after_midnight = [e for e in expected if e[1].astimezone(BUENOS_AIRES).hour < 3 and e[3] == DAY]
    assert len(after_midnight) == 7
    assert {(e[0], e[3]) for e in after_midnight} <= {(g[0], g[3]) for g in got}

    hourly: dict[tuple, list] = defaultdict(lambda: [Decimal("0.000"), Decimal("0.00"), set()])
    for s, status in truth:
        if status != "aprobada":
            continue
        for line in s.lines:
            key = (
                s.sold_at.replace(minute=0, second=0, tzinfo=timezone.utc),
                line.product.category,
                s.payment_type,
                s.channel,
            )
            hourly[key][0] += line.quantity
            hourly[key][1] += line.amount
            hourly[key][2].add(s.sale_id)
    expected_hourly = sorted((*k, v[0], v[1], len(v[2])) for k, v in hourly.items())
    gold = (
        Lake(lake)
        .read("gold.sales_hourly")
        .select(["hour", "category", "payment_type", "channel", "units", "revenue", "tickets"])
    )
    assert sorted(tuple(r.values()) for r in gold.to_pylist()) == expected_hourly


def _sale_row(sale_id: int, at: datetime) -> dict:
    return {
        "id_venta": sale_id,
        "fecha": at,
        "actualizado": at,
        "canal": "tienda",
        "medio_pago": "efectivo",
        "estado": "aprobada",
        "cliente_dni": None,
        "cliente_nombre": None,
        "cliente_email": None,
        "cliente_telefono": None,
        "total": Decimal("100.00"),
    }


@pytest.mark.mariadb
def test_both_dst_changes_place_every_wall_clock_time_in_its_policy_hour(tmp_path, fresh_mariadb_db, monkeypatch):
    settings = _config(tmp_path, fresh_mariadb_db, "America/New_York", monkeypatch)
    simulate_chain(
        settings, DAY, until=datetime(2026, 11, 23, 0, 1, tzinfo=timezone.utc), scale=0.01
    )  # tables, catalog
    product = build_catalog(7, 2000)[0]
    wall = {  # sale id -> wall-clock time the POS wrote; expected UTC instant per the DST policy
        1: ((2026, 3, 8, 1, 59), (2026, 3, 8, 6, 59)),
        2: ((2026, 3, 8, 2, 30), (2026, 3, 8, 7, 30)),  # does not exist: shifted forward
        3: ((2026, 3, 8, 3, 10), (2026, 3, 8, 7, 10)),
        4: ((2026, 11, 1, 0, 50), (2026, 11, 1, 4, 50)),
        5: ((2026, 11, 1, 1, 20), (2026, 11, 1, 5, 20)),  # happens twice: the first
        6: ((2026, 11, 1, 2, 10), (2026, 11, 1, 7, 10)),
    }
    md = pos.metadata("ventas")
    branch = settings.branch("palermo")
    engine = connect(resolve_url(branch.url, branch.password_env, "test"))
    with engine.begin() as con:
        con.execute(md.tables["ventas"].insert(), [_sale_row(i, datetime(*w)) for i, (w, _) in wall.items()])
        con.execute(
            md.tables["ventas_items"].insert(),
            [
                {
                    "id_venta": i,
                    "renglon": 1,
                    "id_producto": product.product_id,
                    "cantidad": 1,
                    "precio_unitario": Decimal("100.00"),
                    "importe": Decimal("100.00"),
                }
                for i in wall
            ],
        )
    engine.dispose()
    hours = {day: [_utc(*day, h) for h in range(3, 10)] for day in ((2026, 3, 8), (2026, 11, 1))}
    read = {}
    for day_hours in hours.values():
        for hour in day_hours:  # one slice per run, as the hourly cron reads them
            (record,) = extract(settings, [hour])
            assert record.status == "ok", record.error
            read[hour] = record.rows_read
    assert {h: n for h, n in read.items() if n} == {
        _utc(2026, 3, 8, 6): 2,
        _utc(2026, 3, 8, 7): 4,
        _utc(2026, 11, 1, 4): 2,
        _utc(2026, 11, 1, 5): 2,
        _utc(2026, 11, 1, 7): 2,
    }  # a header and its line each; 11-01 06 UTC has no wall-clock time of its own
    build(settings)
    from almacen.lake import Lake

    fact = Lake(settings.lake).read("gold.fact_sales").select(["sale_id", "sold_at", "hour"]).to_pylist()
    assert sorted((r["sale_id"], r["sold_at"], r["hour"]) for r in fact) == sorted(
        (str(i), _utc(*u), _utc(*u[:4])) for i, (_, u) in wall.items()
    )
    bronze = Lake(settings.lake).read("bronze.pos_ventas").select(["id_venta", "actualizado"]).to_pylist()
    assert sorted((r["id_venta"], r["actualizado"]) for r in bronze) == sorted(
        (i, datetime(*u)) for i, (_, u) in wall.items()
    )  # bronze: the source's rows, timestamps in UTC


@pytest.mark.spark
@pytest.mark.postgres
def test_the_spark_reader_asks_the_local_window_and_lands_the_same_utc_rows(
    tmp_path, fresh_postgres_db, monkeypatch, spark_engine, spark_settings
):
    embedded = _config(tmp_path, fresh_postgres_db, "America/Argentina/Buenos_Aires", monkeypatch)
    spark = embedded.model_copy(update={"lake": str(tmp_path / "lake_b"), "engine": "spark", "spark": spark_settings})
    simulate_chain(embedded, DAY, until=datetime(2026, 11, 23, 16, tzinfo=timezone.utc), scale=SCALE, bad_rows=0.0)
    hours = [_utc(2026, 11, 23, h) for h in (13, 14, 15)]
    from almacen.lake import Lake

    kept = {}
    for settings in (embedded, spark):
        assert [r.status for r in extract(settings, hours)] == ["ok"] * 3
        versions = Lake(settings.lake).read("silver.sales_versions").drop_columns(["_ingested_at"])
        kept[settings.engine] = sorted(versions.to_pylist(), key=repr)
    end, truth = hours[-1] + timedelta(hours=1), []
    for s, _ in _truth(end):  # each sale's latest version at 16:00 UTC, where its cursor is
        cursor = max([s.sold_at] + [at for at, _ in s.updates if at.replace(tzinfo=timezone.utc) < end])
        if hours[0] <= cursor.replace(tzinfo=timezone.utc) < end:
            truth.append((str(s.sale_id), s.sold_at.replace(tzinfo=timezone.utc), cursor.replace(tzinfo=timezone.utc)))
    assert len(truth) == 131
    assert kept["spark"] == kept["duckdb"]
    assert sorted((r["sale_id"], r["sold_at"], r["updated_at"]) for r in kept["spark"]) == sorted(truth)
