"""Who is asking: server-side sessions for people, bearer tokens for programs, CSRF for forms.

The signed session cookie holds a random session id and a CSRF token; the session itself lives in
`_system/sessions` (security.sessions), so logging out, a password reset, a role change, the user's
removal or an admin ends it for every copy of the cookie. A session is also refused when older than
the configured lifetime, or older than the user's last role or password change.

The client's address is the TCP peer's, unless the peer is a proxy named in `[serve] trusted_proxies`:
then the last address in `X-Forwarded-For` that is not itself a trusted proxy. Anything that is not an
IP address is never believed (nor written to the audit log).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates

from almacen.errors import AlmacenError
from almacen.lake import Lake
from almacen.security import AuditLog, LoginGuard, Tokens, User, Users
from almacen.security.sessions import Sessions
from almacen.serve.marts import Marts
from almacen.serve.site import Page

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    sessions: Sessions
    session_seconds: float
    pages: tuple[Page, ...]
    """every page served, in navigation order (the domains', then the server's own)"""
    templates: Jinja2Templates
    texts: dict[str, dict[str, str]]
    """language -> key -> text: the server's and the domains' (almacen.serve.i18n.texts_for)"""
    language: str = "es"
    trusted_proxies: Sequence[Network] = field(default_factory=tuple)


class NotLoggedIn(AlmacenError):
    """No valid session or token; `reason` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def services(request: Request) -> Services:
    return request.app.state.services


def trusted_networks(proxies: Sequence[str]) -> tuple[Network, ...]:
    """`[serve] trusted_proxies` as networks (a single address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_ip(request: Request) -> str:
    """The client's address: the peer's, or what a trusted proxy forwarded (see the module docstring)."""
    if request.client is None:
        return "unknown"
    peer = _address(request.client.host)
    if peer is None:
        return request.client.host[:100]  # the server's own word (a test client, a unix socket), not a header
    proxies = services(request).trusted_proxies
    if not any(peer in net for net in proxies):
        return str(peer)
    forwarded = [hop for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed(forwarded):
        address = _address(hop)
        if address is None:
            return str(peer)  # a proxy that forwards garbage: fall back to what we know
        if not any(address in net for net in proxies):
            return str(address)
    return str(peer)


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
            raise NotLoggedIn("the API token is unknown, expired or was revoked")
        request.state.user = user
        return user
    session_id = request.session.get("sid")
    if not isinstance(session_id, str) or not session_id:
        raise NotLoggedIn("not logged in")
    session = svc.sessions.get(session_id)
    user = None if session is None else svc.users.get(session.username)
    if session is None or user is None or user.changed_at > session.issued_at:
        request.session.clear()
        request.session["expired"] = True  # so the page can say why it asks to log in again
        raise NotLoggedIn("the session ended, expired or the account changed: log in again")
    request.state.user = user
    return user


def api_user(request: Request) -> User:
    """FastAPI dependency for /api routes: the user, or 401 with the reason."""
    try:
        return authenticate(request)
    except NotLoggedIn as exc:
        raise HTTPException(401, exc.reason, headers={"WWW-Authenticate": "Bearer"}) from None


def start_session(request: Request, user: User) -> None:
    """A fresh server-side session for a user who just proved who they are (a new CSRF token too)."""
    svc = services(request)
    session_id, _ = svc.sessions.open(user.username, timedelta(seconds=svc.session_seconds))
    request.session.clear()
    request.session.update(sid=session_id, csrf=secrets.token_urlsafe(32))


def end_session(request: Request, reason: str = "logout") -> str | None:
    """End the request's session server-side and clear its cookie; returns whose it was."""
    svc = services(request)
    session_id = request.session.get("sid")
    session = svc.sessions.get(session_id) if isinstance(session_id, str) else None
    if session is not None and isinstance(session_id, str):
        svc.sessions.end(session_id, reason)
    request.session.clear()
    return None if session is None else session.username


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
