"""The web application: pages, /api, static files, sessions and the errors users see."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from almacen.config import ConfigError, Settings
from almacen.lake import Lake
from almacen.security import AuditLog, Forbidden, LoginGuard, Tokens, Users
from almacen.serve import api, pages
from almacen.serve.auth import Services
from almacen.serve.filters import BadFilter
from almacen.serve.marts import Marts, NotBuilt

SESSION_COOKIE = "almacen_session"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def create_app(settings: Settings, *, tls: bool = False, clock: Callable[[], datetime] | None = None,
               guard: LoginGuard | None = None) -> FastAPI:
    """The dashboard and API over the configured lake. Sessions are signed with ALMACEN_SECRET_KEY
    (demo mode: a random key per start); cookies are Secure when `tls`."""
    clock = clock or (lambda: datetime.now(timezone.utc))
    lake = Lake(settings.lake)
    users = Users(lake)
    svc = Services(lake=lake, marts=Marts(lake, refresh_seconds=settings.serve.refresh_seconds, clock=clock),
                   users=users, tokens=Tokens(lake, users), audit=AuditLog(lake, deferred_seconds=5.0), guard=guard or LoginGuard(),
                   clock=clock, session_seconds=settings.serve.session_hours * 3600, language=settings.serve.language)
    app = FastAPI(title="almacen", version="1", summary="Sales KPIs, trends, real time and data quality of the lake",
                  docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.services = svc
    app.add_middleware(SessionMiddleware, secret_key=_secret(settings), session_cookie=SESSION_COOKIE,
                       max_age=int(svc.session_seconds) + 3600, same_site="lax", https_only=tls)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        if request.url.path.startswith("/api"):
            response.headers["Cache-Control"] = "no-store"
        if tls:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    for error, status in ((BadFilter, 422), (Forbidden, 403), (NotBuilt, 503), (LookupError, 404)):
        app.add_exception_handler(error, _reply(status))
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(resources.files("almacen.serve") / "static")), name="static")
    app.router.add_event_handler("shutdown", lambda: (svc.audit.close(), svc.marts.close()))
    return app


def app_from_environment() -> FastAPI:
    """The app of one uvicorn worker process (`almacen serve --workers N`): config from ALMACEN_CONFIG,
    TLS from ALMACEN_SERVE_TLS; the CLI sets both, and one ALMACEN_SECRET_KEY for every worker."""
    from almacen.config import load_config

    return create_app(load_config(), tls=os.environ.get("ALMACEN_SERVE_TLS") == "1")


def _reply(status: int):
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)
    return handler


def _secret(settings: Settings) -> str:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if settings.demo:
        return secrets.token_urlsafe(32)
    raise ConfigError("ALMACEN_SECRET_KEY is not set: the server needs it to sign session cookies "
                      "(e.g. export ALMACEN_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))'))")
