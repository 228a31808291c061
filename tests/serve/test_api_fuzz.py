"""The API under a fuzzer: whatever schemathesis derives from /api/openapi.json, valid or not, sent with an
admin's or a branch manager's token, never gets a 5xx, and documented answers match their schema."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from almacen.config import load_config
from almacen.domains import REGISTRY
from almacen.lake import Lake
from almacen.security import LoginGuard, Tokens, Users
from almacen.serve import create_app
from almacen.simulate import demo_config

pytestmark = pytest.mark.slow

FUZZED = ("ana", "beatriz")  # an admin (every branch, every page) and a manager of palermo only


@pytest.fixture(scope="module")
def fuzzed_app(served, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The app over a copy of the served lake: the fuzzer's tokens and audit entries stay out of other tests."""
    copy = tmp_path_factory.mktemp("fuzz") / "lake"
    shutil.copytree(served.settings.lake, copy)
    config = served.settings.model_copy(
        update={"lake": str(copy), "secret_key": SecretStr("fuzz-secret-key-not-for-production")}
    )
    return create_app(config, site=REGISTRY.site(), clock=lambda: served.now, guard=LoginGuard(clock=lambda: 0.0))


@pytest.fixture(scope="module")
def running(fuzzed_app: FastAPI):
    """The app as if started once: schemathesis opens a client per request, and the app's shutdown would
    close its audit log and marts after the first; here lifespan events are answered without reaching it."""

    async def app(scope, receive, send) -> None:
        if scope["type"] != "lifespan":
            return await fuzzed_app(scope, receive, send)
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    return app


@pytest.fixture(scope="module")
def bearers(fuzzed_app: FastAPI) -> dict[str, dict[str, str]]:
    """username -> an Authorization header with a fresh API token of that user."""
    lake: Lake = fuzzed_app.state.services.lake
    tokens = Tokens(lake, Users(lake))
    return {name: {"Authorization": f"Bearer {tokens.create(name, 'fuzz')[1]}"} for name in FUZZED}


def _spec() -> dict:
    """The app's OpenAPI document, as /api/openapi.json serves it (building the app reads no lake)."""
    with tempfile.TemporaryDirectory() as folder:
        return create_app(load_config(demo_config(Path(folder), branches=1)), site=REGISTRY.site()).openapi()


schema = schemathesis.openapi.from_dict(_spec())


@schema.parametrize()
@settings(max_examples=50, derandomize=True, database=None, deadline=None)
def test_no_request_gets_a_server_error(case, running, bearers: dict[str, dict[str, str]]) -> None:
    """Every operation, each case sent as each user: never a 5xx, and a documented status has its documented body."""
    for headers in bearers.values():
        case.call_and_validate(app=running, headers=headers, checks=[not_a_server_error, response_schema_conformance])


def test_the_fuzzer_is_given_the_calendar_s_boundary_dates_as_explicit_examples() -> None:
    """schemathesis sends every documented example before it generates: these reached a 500 once."""
    spec = _spec()
    dated = {
        path
        for path, ops in spec["paths"].items()
        for op in ops.values()
        if any(p["name"] == "from" for p in op.get("parameters", []))
    }
    assert {"/api/kpis", "/api/sales", "/api/realtime", "/api/export/{name}"} <= dated
    for path in dated:
        for param in spec["paths"][path]["get"]["parameters"]:
            if param["name"] in ("from", "to"):
                values = {e["value"] for e in param["examples"].values()}
                assert values == {"0001-01-01", "0001-01-02", "9999-12-31"}, (path, param["name"])
