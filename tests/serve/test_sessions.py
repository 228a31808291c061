"""Logging in and out: sessions, CSRF, throttling, expiry, tokens, and what the audit log records of them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from almacen.domains import REGISTRY
from almacen.security import LoginGuard, Tokens, Users
from almacen.security.sessions import Sessions
from almacen.serve import create_app
from tests.serve.conftest import PASSWORD, csrf_of, login


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _own_app(served, clock=None, guard=None) -> TestClient:
    app = create_app(served.settings, site=REGISTRY.site(), clock=clock or (lambda: served.now), guard=guard)
    return TestClient(app, follow_redirects=False)


def test_a_good_login_opens_a_session_cookie_that_is_httponly_and_samesite(served):
    client = served.client()
    response = login(client, "alberto", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert "almacen_session=" in cookie and "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP on loopback: Secure only under TLS


def test_under_tls_the_session_cookie_is_secure(served):
    client = TestClient(
        create_app(served.settings, site=REGISTRY.site(), tls=True, clock=lambda: served.now),
        base_url="https://testserver",
        follow_redirects=False,
    )
    response = login(client, "alberto", PASSWORD)
    assert "secure" in response.headers["set-cookie"].lower()
    assert response.headers["strict-transport-security"] == "max-age=31536000"


def test_a_wrong_password_is_refused_with_401_and_audited(served):
    before = served.audit().entries(limit=1)["seq"][0].as_py()
    response = login(served.client(), "alberto", "not-the-password")
    assert response.status_code == 401
    assert "Usuario o contraseña incorrectos." in response.text
    entry = served.audit().entries(limit=1).to_pylist()[0]
    assert (entry["seq"], entry["actor"], entry["action"]) == (before + 1, "alberto", "login.failed")


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(served):
    response = login(served.client(), "nadie", "whatever-it-is")
    assert response.status_code == 401 and "Usuario o contraseña incorrectos." in response.text


def test_a_login_without_the_csrf_token_is_refused(served):
    client = served.client()
    client.get("/login")
    response = client.post("/login", data={"username": "alberto", "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_logout_without_the_csrf_token_does_not_end_the_session(served):
    client = served.client("alberto")
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/api/me").status_code == 200


def test_a_cookie_copied_before_logout_is_refused_after_it(served):
    client = served.client("alberto")
    stolen = dict(client.cookies)
    assert client.post("/logout", data={"csrf_token": csrf_of(client, "/overview")}).status_code == 303
    replay = served.client()
    replay.cookies.update(stolen)
    response = replay.get("/api/me")
    assert response.status_code == 401
    assert response.json()["detail"] == "the session ended, expired or the account changed: log in again"
    assert replay.get("/overview").headers["location"] == "/login?next=/overview&expired=1"


def test_an_admin_ends_every_session_of_a_user_and_of_everyone(served):
    Users(served.lake).add("viajero", PASSWORD, "analyst")
    app = create_app(served.settings, site=REGISTRY.site(), clock=lambda: datetime.now(timezone.utc))
    first, second, other = (TestClient(app, follow_redirects=False) for _ in range(3))
    for client, name in ((first, "viajero"), (second, "viajero"), (other, "alberto")):
        assert login(client, name, PASSWORD).status_code == 303
    sessions = Sessions(served.lake)
    assert sessions.end_user("viajero", "admin: log out everywhere") == 2
    assert first.get("/api/me").status_code == 401 and second.get("/api/me").status_code == 401
    assert other.get("/api/me").status_code == 200
    assert sessions.end_all("admin: log out everywhere") >= 1
    assert other.get("/api/me").status_code == 401
    assert login(other, "alberto", PASSWORD).status_code == 303  # logging in again works
    assert other.get("/api/me").status_code == 200


def test_removing_a_user_ends_their_session_even_if_a_namesake_is_added_again(served):
    users = Users(served.lake)
    users.add("pasajero", PASSWORD, "analyst")
    client = _own_app(served, clock=lambda: datetime.now(timezone.utc))
    assert login(client, "pasajero", PASSWORD).status_code == 303
    users.remove("pasajero")
    assert client.get("/api/me").status_code == 401
    users.add("pasajero", PASSWORD, "analyst")
    assert client.get("/api/me").status_code == 401


def test_a_password_reset_ends_the_sessions_opened_before_it(served):
    users = Users(served.lake)
    users.add("olvidadiza", PASSWORD, "analyst")
    client = _own_app(served, clock=lambda: datetime.now(timezone.utc))
    assert login(client, "olvidadiza", PASSWORD).status_code == 303
    users.reset_password("olvidadiza", PASSWORD + "-nueva")
    assert client.get("/api/me").status_code == 401


def test_logout_ends_the_session_and_is_audited(served):
    client = served.client("alberto")
    response = client.post("/logout", data={"csrf_token": csrf_of(client, "/overview")})
    assert response.status_code == 303
    assert client.get("/api/me").status_code == 401
    logout, denied = served.audit().entries(limit=2).to_pylist()[::-1]
    assert (logout["actor"], logout["action"]) == ("alberto", "logout")
    assert (denied["actor"], denied["action"], denied["target"]) == ("anonymous", "access.denied", "/api/me")


def test_five_failures_lock_the_username_for_a_minute_and_the_next_lockout_lasts_twice_as_long(served):
    seconds = [0.0]
    client = _own_app(served, guard=LoginGuard(clock=lambda: seconds[0]))
    for _ in range(5):
        assert login(client, "bruno", "wrong-password!").status_code == 401
    locked = login(client, "bruno", PASSWORD)
    assert locked.status_code == 429
    assert "Demasiados intentos fallidos: probá de nuevo en 1 min." in locked.text
    seconds[0] = 61
    for _ in range(5):
        assert login(client, "bruno", "wrong-password!").status_code == 401
    assert "probá de nuevo en 2 min." in login(client, "bruno", PASSWORD).text
    seconds[0] = 61 + 121
    assert login(client, "bruno", PASSWORD).status_code == 303


def test_a_session_expires_after_the_configured_hours(served):
    clock = Clock(served.now)
    client = _own_app(served, clock=clock)
    assert login(client, "alberto", PASSWORD).status_code == 303
    clock.now += timedelta(hours=served.settings.serve.session_hours, seconds=1)
    response = client.get("/api/kpis")
    assert response.status_code == 401
    assert response.json()["detail"] == "the session ended, expired or the account changed: log in again"
    page = client.get("/overview")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/overview&expired=1"


def test_a_role_change_ends_the_sessions_opened_before_it(served):
    users = Users(served.lake)
    users.add("cambiante", PASSWORD, "analyst")
    client = _own_app(served, clock=lambda: datetime.now(timezone.utc))
    assert login(client, "cambiante", PASSWORD).status_code == 303
    assert client.get("/api/kpis").status_code == 200
    users.set_role("cambiante", "branch_manager", ["palermo"])
    assert client.get("/api/kpis").status_code == 401


def test_an_api_token_authenticates_a_program_until_it_is_revoked(served):
    tokens = Tokens(served.lake, Users(served.lake))
    token_id, secret = tokens.create("alberto", "nightly report")
    client = served.client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/me", headers=headers).json()["username"] == "alberto"
    tokens.revoke(token_id)
    response = client.get("/api/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "the API token is unknown, expired or was revoked"


def test_a_malformed_authorization_header_is_refused_with_the_expected_form(served):
    response = served.client().get("/api/me", headers={"Authorization": "Basic YWxiZXJ0bzp4"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the Authorization header must be 'Bearer <token>'"


def test_after_login_the_user_is_sent_only_to_a_local_page(served):
    client = served.client()
    response = client.post(
        "/login",
        data={
            "username": "alberto",
            "password": PASSWORD,
            "csrf_token": csrf_of(client),
            "next": "https://evil.example/",
        },
    )
    assert response.headers["location"] == "/"


def test_pages_carry_a_content_security_policy_that_forbids_other_origins(served):
    response = served.client("alberto").get("/overview")
    assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"
    assert "cdn" not in response.text.lower()
