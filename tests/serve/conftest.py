"""A served lake: three simulated branches over eight days, extracted, built and reconciled, with the
last hour of sale events streamed into gold.sales_minute; five users, one per role (two managers)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr
from fastapi.testclient import TestClient

from almacen.config import Settings, load_config
from almacen.domains import REGISTRY
from almacen.domains.sales import reconcile
from almacen.domains.sales import extract
from almacen.domains.sales import SALES
from almacen.lake import Lake
from almacen.domains.sales import build
from almacen.security import AuditLog, LoginGuard, Users
from almacen.serve import create_app
from almacen.simulate import demo_config, simulate_chain
from almacen.simulate.events import EventMaker
from almacen.sources.landing import LandingWriter
from tests.conftest import ingest_until_idle

FIRST, LAST = date(2026, 11, 16), date(2026, 11, 23)
PASSWORD = "una-clave-larga-1"
USERS = {  # username -> (role, branches)
    "ana": ("admin", ()),
    "alberto": ("analyst", ()),
    "beatriz": ("branch_manager", ("palermo",)),
    "bruno": ("branch_manager", ("rosario", "cordoba_centro")),
    "aurora": ("auditor", ()),
}


@dataclass
class Served:
    settings: Settings
    lake: Lake
    now: datetime
    app: object

    def client(self, username: str | None = None) -> TestClient:
        """A browser-like client, logged in as `username` through the login form (None: anonymous)."""
        client = TestClient(self.app, follow_redirects=False)
        if username is not None:
            response = login(client, username, PASSWORD)
            assert response.status_code == 303, response.text
        return client

    def audit(self) -> AuditLog:
        return AuditLog(self.lake)


def csrf_of(client: TestClient, path: str = "/login") -> str:
    page = client.get(path).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client: TestClient, username: str, password: str):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(client)})


def build_world(folder: Path) -> tuple[Settings, datetime]:
    """The simulated chain's days through extraction, models and reconciliation; then a streamed hour."""
    settings = load_config(demo_config(folder, branches=3))
    day = FIRST
    while day <= LAST:
        simulate_chain(settings, day, scale=0.04, bad_rows=0.02)
        day += timedelta(days=1)
    start = datetime.combine(FIRST, datetime.min.time(), timezone.utc)
    extract(settings, [start + timedelta(hours=h) for h in range(24 * ((LAST - FIRST).days + 1) + 4)])
    build(settings)
    last = datetime.combine(LAST, datetime.min.time(), timezone.utc)
    reconcile(settings, last, last + timedelta(days=1))
    now = datetime.now(timezone.utc).replace(second=30, microsecond=0)
    maker = EventMaker([b.id for b in settings.branches], seed=11, run="serve")
    writer = LandingWriter(settings.stream.landing, "serve", file_events=2_000)
    writer.write(
        [
            line
            for _, line in maker.lines(
                3_000, now - timedelta(minutes=50), now - timedelta(minutes=1), bad_fraction=0.01
            )
        ]
    )
    writer.close()
    ingest_until_idle(settings, SALES)
    users = Users(Lake(settings.lake))
    for name, (role, branches) in USERS.items():
        users.add(name, PASSWORD, role, branches)
    return settings, now


@pytest.fixture(scope="package")
def served(tmp_path_factory) -> Iterator[Served]:
    settings, _ = build_world(tmp_path_factory.mktemp("served"))
    now = datetime.now(timezone.utc)  # after the users were made: their sessions are newer than their accounts
    settings = settings.model_copy(update={"secret_key": SecretStr("test-secret-key-not-for-production")})
    app = create_app(settings, site=REGISTRY.site(), clock=lambda: now, guard=LoginGuard(clock=lambda: 0.0))
    yield Served(settings, Lake(settings.lake), now, app)
    app.state.services.audit.close()


@contextmanager
def over_http(app) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1, as `almacen serve` does; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", proxy_headers=False))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
