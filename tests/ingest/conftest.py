"""A simulated chain on SQLite for the pipeline tests: small, seeded, exact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.config import Settings, load_config
from almacen.domains.sales import extract
from almacen.lake import Lake
from almacen.monitor import RunRecord
from almacen.simulate import demo_config, simulate_chain

DAY = date(2026, 11, 23)
START = datetime(2026, 11, 23, tzinfo=timezone.utc)


@dataclass
class Chain:
    """A simulated chain and its lake; hours are counted from the test day's midnight UTC."""

    settings: Settings
    scale: float = 0.1

    @property
    def lake(self) -> Lake:
        return Lake(self.settings.lake)

    def at(self, hour: int) -> datetime:
        return START + timedelta(hours=hour)

    def simulate(self, until_hour: int, bad_rows: float = 0.0):
        return simulate_chain(self.settings, DAY, until=self.at(until_hour), scale=self.scale, bad_rows=bad_rows)

    def extract(self, *hours: int, branches: list[str] | None = None) -> list[RunRecord]:
        return extract(self.settings, [self.at(h) for h in hours], branches)

    def read(self, table: str) -> pa.Table:
        return self.lake.read(table)

    def url(self, branch_id: str) -> str:
        return self.settings.branch(branch_id).url

    def source(self, branch_id: str, sql: str, **params):
        """Ask a branch database directly: the independent side of every assertion."""
        engine = sa.create_engine(self.url(branch_id))
        try:
            with engine.connect() as con:
                return con.execute(sa.text(sql), params).scalar_one()
        finally:
            engine.dispose()

    def hour_text(self, hour: int) -> str:
        return self.at(hour).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    """Two SQLite branches, one per POS schema (palermo: ventas, cordoba_centro: tickets), nothing simulated yet."""
    return Chain(load_config(demo_config(tmp_path, branches=2)))


@dataclass
class LivedDay:
    """A day lived hour by hour (simulate an hour, extract it), 8 hours past midnight, then gold built."""

    chain: Chain
    defects: dict[str, dict[str, int]]
    """defects the simulator wrote, by branch and kind"""


@pytest.fixture(scope="session")
def lived_day(tmp_path_factory) -> LivedDay:
    from almacen.domains.sales import build

    chain = Chain(load_config(demo_config(tmp_path_factory.mktemp("lived"), branches=2)))
    defects: dict[str, dict[str, int]] = {}
    for hour in range(32):
        summary = chain.simulate(until_hour=hour + 1, bad_rows=0.03)
        for branch, s in summary.branches.items():
            for kind, n in s.defects.items():
                defects.setdefault(branch, {}).setdefault(kind, 0)
                defects[branch][kind] += n
        chain.extract(hour)
    build(chain.settings)
    return LivedDay(chain, defects)


@pytest.fixture
def make_chain():
    """Build a Chain around any settings (for chains on PostgreSQL and MariaDB)."""
    return Chain


def _plain(url: str) -> str:
    """The URL without its password: almacen takes passwords from the environment only."""
    return make_url(url)._replace(password=None).render_as_string(hide_password=False)


@pytest.fixture
def mixed(tmp_path, fresh_postgres_db, fresh_mariadb_db, monkeypatch) -> Chain:
    """palermo on PostgreSQL (ventas), cordoba_centro on MariaDB (tickets), rosario on SQLite (ventas),
    passwords from the environment (`ALMACEN_TEST_PW`)."""
    monkeypatch.setenv("ALMACEN_TEST_PW", make_url(fresh_postgres_db).password)
    branches = [
        ("palermo", fresh_postgres_db, "ventas"),
        ("cordoba_centro", fresh_mariadb_db, "tickets"),
        ("rosario", f"sqlite:///{tmp_path / 'rosario.sqlite'}", "ventas"),
    ]
    text = [
        f'lake = "{tmp_path / "lake"}"',
        "demo = true",
        "[catalog]",
        f'url = "{_plain(fresh_postgres_db)}"',
        'password_env = "ALMACEN_TEST_PW"',
    ]
    for bid, url, schema in branches:
        text += [
            "[[branches]]",
            f'id = "{bid}"',
            f'name = "{bid}"',
            'city = "c"',
            'province = "p"',
            f'url = "{_plain(url)}"',
            f'pos_schema = "{schema}"',
        ]
        if not url.startswith("sqlite"):
            text.append('password_env = "ALMACEN_TEST_PW"')
    path = tmp_path / "almacen.toml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return Chain(load_config(path))
