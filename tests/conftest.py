"""Shared fixtures: the real PostgreSQL, MariaDB and Kafka from scripts/services, and one Spark session.

A test that needs a service skips when it is missing, except under CI=true, where it fails:
CI must never pass by skipping what it was meant to test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from almacen.config import Settings
from almacen.engine import DuckDBEngine, Engine
from almacen.ingest.kinds import StreamKind
from almacen.ingest.step import Totals
from almacen.ingest.stream import StreamIngestor

if TYPE_CHECKING:
    from almacen.engine.spark import SparkEngine

os.environ.setdefault("ALMACEN_AUDIT_KEY", "test-audit-key-" + "x" * 32)  # the audit log's MAC key (32+ bytes)

SERVICES = {
    "postgres": (
        "ALMACEN_TEST_POSTGRES_URL",
        "postgresql://almacen:almacen@127.0.0.1:55432/almacen",
        "postgresql+psycopg",
    ),
    "mariadb": ("ALMACEN_TEST_MARIADB_URL", "mysql://almacen:almacen@127.0.0.1:53306/almacen", "mysql+pymysql"),
}


ROOT = Path(__file__).resolve().parents[1]


def _missing(message: str) -> None:
    """Fail under CI=true, skip elsewhere: CI must never pass by skipping what it was meant to test."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _admin_url(service: str) -> str:
    env, default, driver = SERVICES[service]
    url = make_url(os.environ.get(env, default)).set(drivername=driver)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as con:
            con.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means the service is not there
        _missing(
            f"{service} is not reachable at {url.render_as_string()} ({type(exc).__name__}): run `scripts/services up`"
        )
    finally:
        engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return _admin_url("postgres")


@pytest.fixture(scope="session")
def mariadb_url() -> str:
    return _admin_url("mariadb")


def _fresh_database(admin: str, service: str) -> Iterator[str]:
    """A new empty database, yielded as a plain URL (`postgresql://…` / `mysql://…`), dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as con:
        con.execute(sa.text(f"CREATE DATABASE {name}"))
    plain = "postgresql" if service == "postgres" else "mysql"
    try:
        yield make_url(admin).set(drivername=plain, database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as con:
            if service == "postgres":
                con.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                con.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        engine.dispose()


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[str]:
    yield from _fresh_database(postgres_url, "postgres")


@pytest.fixture
def fresh_mariadb_db(mariadb_url: str) -> Iterator[str]:
    yield from _fresh_database(mariadb_url, "mariadb")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The Apache Kafka broker from scripts/services (ALMACEN_TEST_KAFKA, default 127.0.0.1:9092)."""
    from confluent_kafka.admin import AdminClient

    bootstrap = os.environ.get("ALMACEN_TEST_KAFKA", "127.0.0.1:9092")
    try:
        AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    except Exception as exc:  # noqa: BLE001 - any failure means the broker is not there
        _missing(f"kafka is not reachable at {bootstrap} ({exc}): run `scripts/services up`")
    return bootstrap


CHROMIUM = Path(os.environ.get("ALMACEN_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""without the background-networking flags Chromium's own connections are refused by a closed network"""


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium (scripts/browser installs it), driven through Playwright, for the whole run."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        _missing(f"Chromium is not installed at {CHROMIUM}: run scripts/browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


SPARK_JARS = ROOT / ".jars" / "spark"


@pytest.fixture(scope="session")
def spark_settings():
    """`[spark]` settings for tests: local[2] with the connector jars of scripts/spark/jars."""
    from almacen.config import SparkSettings

    try:
        import pyspark  # noqa: F401
    except ImportError:
        _missing('pyspark is not installed: pip install -e ".[test]"')
    if not list(SPARK_JARS.glob("delta-spark*.jar")):
        _missing(f"Spark's connector jars are missing from {SPARK_JARS}: run scripts/spark/jars")
    return SparkSettings(master="local[2]", jars=str(SPARK_JARS))


@pytest.fixture(scope="session")
def spark_engine(spark_settings):
    """One Spark session for the whole run (starting one costs ~7 s); every SparkEngine shares it."""
    from almacen.engine.spark import SparkEngine

    engine = SparkEngine(spark_settings)
    yield engine
    engine.close()
    engine.spark.stop()


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request) -> Iterator[Engine]:
    """Each engine in turn (a test of the engine contract runs on both): a fresh DuckDBEngine, or a fresh
    SparkEngine on the shared session (its views dropped after)."""
    if request.param == "spark":
        from almacen.engine.spark import SparkEngine

        with SparkEngine(session=request.getfixturevalue("spark_engine").spark) as spark:
            yield spark
    else:
        with DuckDBEngine() as duck:
            yield duck


def ingest_until_idle(settings: Settings, kind: StreamKind) -> Totals:
    """Run the embedded stream ingestor of `kind` until its source is drained; what it did."""
    ingestor = StreamIngestor(settings, kind=kind)
    ingestor.start()
    try:
        return ingestor.run(until_idle=True)
    finally:
        ingestor.close()


def spark_until_idle(settings: Settings, spark_engine: SparkEngine, kind: StreamKind) -> Totals:
    """Run the Spark Structured Streaming ingestor of `kind` on the shared session (availableNow); what it did."""
    from almacen.ingest.spark_stream import SparkStreamIngestor

    ingestor = SparkStreamIngestor(settings, spark_engine, kind=kind)
    ingestor.start()
    try:
        return ingestor.run(available_now=True)
    finally:
        ingestor.close()
