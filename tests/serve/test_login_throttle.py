"""Login throttling as an attacker meets it: bursts of concurrent wrong passwords over real HTTP, forged
X-Forwarded-For headers, and an admin lifting a lockout."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import httpx
import pytest
from fastapi.testclient import TestClient

from almacen.domains import REGISTRY
from almacen.security import Tokens, Users
from almacen.serve import create_app
from tests.serve.conftest import PASSWORD, csrf_of, login, over_http

BURST = 60


def _entries_after(served, seq: int, actor: str | None = None) -> list[dict]:
    """The audit entries after `seq`, oldest first."""
    rows = served.audit().entries(limit=10_000, actor=actor).to_pylist()
    return [r for r in reversed(rows) if r["seq"] > seq]


def _head(served) -> int:
    seqs = served.audit().entries(limit=1)["seq"].to_pylist()
    return seqs[0] if seqs else 0


def test_a_burst_of_sixty_concurrent_wrong_passwords_checks_exactly_five(served):
    Users(served.lake).add("rafaga", PASSWORD, "analyst")
    before = _head(served)
    app = create_app(served.settings, site=REGISTRY.site(), clock=lambda: datetime.now(timezone.utc))
    with over_http(app) as url:
        clients = [httpx.Client(base_url=url, follow_redirects=False, timeout=120) for _ in range(BURST)]
        tokens = [csrf_of(c) for c in clients]
        barrier, statuses = threading.Barrier(BURST), []

        def attempt(client: httpx.Client, token: str) -> None:
            barrier.wait()
            response = client.post(
                "/login", data={"username": "rafaga", "password": "not-the-password", "csrf_token": token}
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, tokens)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [401] * 5 + [429] * (BURST - 5)
        correct = clients[0].post("/login", data={"username": "rafaga", "password": PASSWORD, "csrf_token": tokens[0]})
        assert correct.status_code == 429  # locked: not even the right password is checked
        for c in clients:
            c.close()
    failed = [
        json.loads(e["details"]) for e in _entries_after(served, before, "rafaga") if e["action"] == "login.failed"
    ]
    assert sum("reason" not in d for d in failed) == 5
    assert sum(d.get("reason") == "locked" for d in failed) == BURST - 5 + 1


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(served):
    app = create_app(served.settings, site=REGISTRY.site(), clock=lambda: served.now)
    client = TestClient(app, follow_redirects=False, client=("127.0.0.1", 40000))
    before = _head(served)
    for i in range(3):
        token = csrf_of(client)
        client.post(
            "/login",
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
            data={"username": "alberto", "password": "wrong-password!", "csrf_token": token},
        )
    token = csrf_of(client)
    client.post(
        "/login",
        headers={"X-Forwarded-For": "not-an-ip"},
        data={"username": "alberto", "password": "wrong-password!", "csrf_token": token},
    )
    ips = [json.loads(e["details"])["ip"] for e in _entries_after(served, before) if e["action"] == "login.failed"]
    assert ips == ["127.0.0.1"] * 4


def test_rotating_the_header_does_not_escape_the_per_address_limit(served):
    app = create_app(served.settings, site=REGISTRY.site(), clock=lambda: served.now)
    client = TestClient(app, follow_redirects=False, client=("127.0.0.9", 40000))
    for i in range(20):
        response = client.post(
            "/login",
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
            data={"username": f"nadie{i}", "password": "wrong-password!", "csrf_token": csrf_of(client)},
        )
        assert response.status_code == 401
    locked = client.post(
        "/login",
        headers={"X-Forwarded-For": "198.51.100.250"},
        data={"username": "alberto", "password": PASSWORD, "csrf_token": csrf_of(client)},
    )
    assert locked.status_code == 429


def test_a_trusted_proxy_s_forwarded_address_is_used_and_garbage_is_not(served):
    serve = served.settings.serve.model_copy(update={"trusted_proxies": ["10.0.0.0/24"]})
    app = create_app(
        served.settings.model_copy(update={"serve": serve}), site=REGISTRY.site(), clock=lambda: served.now
    )
    client = TestClient(app, follow_redirects=False, client=("10.0.0.2", 40000))
    before = _head(served)
    for header in ("198.51.100.7, 10.0.0.3", "not-an-ip", "203.0.113.5"):
        client.post(
            "/login",
            headers={"X-Forwarded-For": header},
            data={"username": "alberto", "password": "wrong-password!", "csrf_token": csrf_of(client)},
        )
    ips = [json.loads(e["details"])["ip"] for e in _entries_after(served, before) if e["action"] == "login.failed"]
    assert ips == ["198.51.100.7", "10.0.0.2", "203.0.113.5"]


def test_a_typed_username_cannot_pose_as_a_command_line_actor(served):
    before = _head(served)
    client = served.client()
    assert login(client, "cli:root", "whatever-it-is").status_code == 401
    entry = _entries_after(served, before)[-1]
    assert (entry["actor"], entry["action"]) == ("anonymous", "login.failed")
    assert json.loads(entry["details"])["typed_username"] == "cli:root"


def test_an_admin_lifts_a_lockout_through_the_api_and_it_is_audited(served):
    Users(served.lake).add("bloqueado", PASSWORD, "analyst")
    app = create_app(served.settings, site=REGISTRY.site(), clock=lambda: datetime.now(timezone.utc))
    client = TestClient(app, follow_redirects=False)
    for _ in range(5):
        assert login(client, "bloqueado", "wrong-password!").status_code == 401
    assert login(client, "bloqueado", PASSWORD).status_code == 429
    _, secret = Tokens(served.lake, Users(served.lake)).create("ana", "unlock")
    manager = Tokens(served.lake, Users(served.lake)).create("beatriz", "unlock")[1]
    refused = client.post("/api/users/bloqueado/unlock", headers={"Authorization": f"Bearer {manager}"})
    assert refused.status_code == 403
    done = client.post("/api/users/bloqueado/unlock", headers={"Authorization": f"Bearer {secret}"})
    assert done.status_code == 200 and done.json() == {"username": "bloqueado", "was_locked": True}
    entry = [e for e in served.audit().entries(limit=5).to_pylist() if e["action"] == "user.unlock"][0]
    assert (entry["actor"], entry["target"]) == ("ana", "bloqueado")
    assert login(client, "bloqueado", PASSWORD).status_code == 303


@pytest.mark.parametrize("header", ["", "wrong-token"])
def test_a_session_cannot_unlock_without_the_csrf_header(served, header):
    client = served.client("ana")
    headers = {"X-CSRF-Token": header} if header else {}
    assert client.post("/api/users/alberto/unlock", headers=headers).status_code == 403


@pytest.mark.parametrize("name", ["cli:root", "Ana", "a" * 65])
def test_unlocking_something_that_is_not_a_username_is_422_naming_it(served, name):
    _, secret = Tokens(served.lake, Users(served.lake)).create("ana", "unlock-bad")
    response = served.client().post(f"/api/users/{name}/unlock", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 422
    assert "username" in str(response.json()["detail"])  # the parameter is named (a sentence, or FastAPI's loc)
