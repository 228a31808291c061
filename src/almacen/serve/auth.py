"""Who is asking: signed session cookies for people, bearer tokens for programs, CSRF for forms.

A session holds the username, when it was issued and a CSRF token. It is refused when older than
the configured lifetime, or older than the user's last role or password change.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException, Request

from almacen.lake import Lake
from almacen.security import AuditLog, LoginGuard, Tokens, User, Users
from almacen.serve.marts import Marts


@dataclass
class Services:
    """What the routes share, built once per app."""

    lake: Lake
    marts: Marts
    users: Users
    tokens: Tokens
    audit: AuditLog
    guard: LoginGuard
    clock: Callable[[], datetime]
    session_seconds: float
    language: str = "es"


class NotLoggedIn(Exception):
    """No valid session or token; `reason` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def services(request: Request) -> Services:
    return request.app.state.services


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def authenticate(request: Request) -> User:
    """The user behind a request, from its bearer token or its session; raises NotLoggedIn."""
    svc = services(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotLoggedIn("the Authorization header must be 'Bearer <token>'")
        user = svc.tokens.user_for(secret.strip())
        if user is None:
            raise NotLoggedIn("the API token is unknown or was revoked")
        return user
    username, issued = request.session.get("user"), request.session.get("issued_at")
    if not username or issued is None:
        raise NotLoggedIn("not logged in")
    now = svc.clock().timestamp()
    user = svc.users.get(username)
    if user is None or now - issued > svc.session_seconds or user.changed_at.timestamp() > issued:
        request.session.clear()
        request.session["expired"] = True  # so the page can say why it asks to log in again
        raise NotLoggedIn("the session expired or the account changed: log in again")
    return user


def api_user(request: Request) -> User:
    """FastAPI dependency for /api routes: the user, or 401 with the reason."""
    try:
        return authenticate(request)
    except NotLoggedIn as exc:
        raise HTTPException(401, exc.reason, headers={"WWW-Authenticate": "Bearer"}) from None


def start_session(request: Request, user: User) -> None:
    """A fresh session for a user who just proved who they are (a new CSRF token too)."""
    request.session.clear()
    request.session.update(user=user.username, issued_at=services(request).clock().timestamp(),
                           csrf=secrets.token_urlsafe(32))


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created for anonymous visitors too (the login form needs one)."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf(request: Request, sent: str | None) -> None:
    """Refuse a state-changing form whose token does not match the session's."""
    expected = request.session.get("csrf")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, "the form's CSRF token is missing or does not match this session: reload the page")
