"""The dashboard's pages: log in and out, and one page per subject, each allowed by role.

Pages are shells: their tables and charts come from /api (static/app.js), so pages, API and exports
share one permission and scope check.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from almacen.security import Locked, Permission, User
from almacen.security.users import USERNAME
from almacen.serve.auth import (NotLoggedIn, authenticate, check_csrf, client_ip, csrf_token, end_session, services,
                                start_session)
from almacen.serve.i18n import COOKIE, TEXTS, language

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("almacen.serve") / "templates"))

PAGES = {  # path -> (text key, permission)
    "overview": ("overview", Permission.SALES),
    "sales": ("sales", Permission.SALES),
    "realtime": ("realtime", Permission.SALES),
    "quality": ("quality", Permission.QUALITY),
    "audit": ("audit", Permission.AUDIT),
}


def render(request: Request, template: str, status: int = 200, user: User | None = None, **context) -> Response:
    lang = language(request, services(request).language)
    nav = [(path, key) for path, (key, permission) in PAGES.items() if user is not None and user.can(permission)]
    response = templates.TemplateResponse(request, template, {
        "t": TEXTS[lang], "texts": TEXTS[lang], "lang": lang, "user": user, "nav": nav,
        "csrf": csrf_token(request), **context}, status_code=status)
    if request.query_params.get("lang") == lang:
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, httponly=True, samesite="lax")
    return response


@router.get("/")
def home(request: Request) -> Response:
    try:
        user = authenticate(request)
    except NotLoggedIn:
        return RedirectResponse("/login", 303)
    first = next((path for path, (_, permission) in PAGES.items() if user.can(permission)), "quality")
    return RedirectResponse(f"/{first}", 303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/", expired: bool = False) -> Response:
    return render(request, "login.html", next=_safe_next(next), message="expired" if expired else None)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form(max_length=100)], password: Annotated[str, Form(max_length=1000)],
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    check_csrf(request, csrf_token)
    svc, ip = services(request), client_ip(request)
    actor, typed = login_actor(username)
    try:
        attempt = svc.guard.begin(username, ip)
    except Locked as exc:
        svc.audit.record(actor, "login.failed", target="dashboard", details={"ip": ip, "reason": "locked", **typed})
        minutes = max(1, -(-exc.retry_after // 60))
        return render(request, "login.html", 429, next=_safe_next(next), message="locked", minutes=minutes)
    user = svc.users.authenticate(username, password)
    if user is None:
        svc.guard.failed(attempt)
        svc.audit.record(actor, "login.failed", target="dashboard", details={"ip": ip, **typed})
        return render(request, "login.html", 401, next=_safe_next(next), message="bad_login")
    svc.guard.succeeded(attempt)
    start_session(request, user)
    svc.audit.record(user.username, "login.ok", target="dashboard", details={"ip": ip})
    return RedirectResponse(_safe_next(next), 303)


def login_actor(typed: str) -> tuple[str, dict[str, str]]:
    """Who a login attempt is recorded as: the typed name when it is a valid username (so it cannot pose as
    `cli:…` or any other actor), else `anonymous` with the typed text kept in the details."""
    if USERNAME.match(typed):
        return typed, {}
    return "anonymous", {"typed_username": typed[:100]}


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    username = end_session(request)
    if username:
        services(request).audit.record(username, "logout", target="dashboard", details={"ip": client_ip(request)})
    return RedirectResponse("/login", 303)


def _page(name: str):
    key, permission = PAGES[name]

    def page(request: Request) -> Response:
        try:
            user = authenticate(request)
        except NotLoggedIn:
            expired = "&expired=1" if request.session.get("expired") else ""
            return RedirectResponse(f"/login?next={quote('/' + name)}{expired}", 303)
        if not user.can(permission):
            return render(request, "forbidden.html", 403, user=user, page=key)
        return render(request, f"{name}.html", user=user, page=key)

    page.__name__ = f"page_{name}"
    return page


for _name in PAGES:
    router.add_api_route(f"/{_name}", _page(_name), methods=["GET"], response_class=HTMLResponse)


def _safe_next(target: str) -> str:
    """Only a local path is followed after login (no open redirect to another site)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
