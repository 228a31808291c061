"""Page texts in Spanish (the default) and English; the language comes from ?lang=, then a cookie.

`TEXTS` holds the server's own words (login, data quality, audit); a domain gives its pages' words in
its `Domain.texts`, merged here per app (`texts_for`).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request

LANGUAGES = ("es", "en")
COOKIE = "almacen_lang"

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "quality": "Calidad de datos",
        "audit": "Auditoría",
        "login": "Ingresar",
        "logout": "Salir",
        "username": "Usuario",
        "password": "Contraseña",
        "bad_login": "Usuario o contraseña incorrectos.",
        "locked": "Demasiados intentos fallidos: probá de nuevo en {minutes} min.",
        "expired": "Tu sesión venció: ingresá de nuevo.",
        "export_csv": "CSV",
        "export_xlsx": "Excel",
        "runs": "Ejecuciones",
        "freshness": "Frescura por sucursal",
        "quarantine": "Cuarentena por regla",
        "quarantine_rows": "Últimas filas en cuarentena, con su motivo",
        "reconciliation": "Conciliación",
        "no_data": "Sin datos para estos filtros.",
        "forbidden": "Tu rol no tiene acceso a esta página.",
        "language": "English",
        "signed_in_as": "Sesión de",
        "actor": "Actor",
        "action": "Acción",
        "target": "Objeto",
        "details": "Detalle",
        "at": "Cuándo",
        "seq": "N.º",
    },
    "en": {
        "quality": "Data quality",
        "audit": "Audit",
        "login": "Log in",
        "logout": "Log out",
        "username": "Username",
        "password": "Password",
        "bad_login": "Wrong username or password.",
        "locked": "Too many failed attempts: try again in {minutes} min.",
        "expired": "Your session expired: log in again.",
        "export_csv": "CSV",
        "export_xlsx": "Excel",
        "runs": "Runs",
        "freshness": "Freshness per branch",
        "quarantine": "Quarantine by rule",
        "quarantine_rows": "Latest quarantined rows, with their reason",
        "reconciliation": "Reconciliation",
        "no_data": "No data for these filters.",
        "forbidden": "Your role cannot open this page.",
        "language": "Español",
        "signed_in_as": "Signed in as",
        "actor": "Actor",
        "action": "Action",
        "target": "Target",
        "details": "Details",
        "at": "When",
        "seq": "No.",
    },
}


def texts_for(domains: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """The server's texts with the domains' (language -> key -> text) added.

    Raises:
        ValueError: a domain's language is not one of LANGUAGES, or it gives a key the server's texts have.
    """
    merged = {lang: dict(words) for lang, words in TEXTS.items()}
    for lang, words in domains.items():
        if lang not in merged:
            raise ValueError(f"serve: texts in {lang!r}; the dashboard speaks {', '.join(LANGUAGES)}")
        taken = sorted(set(merged[lang]) & set(words))
        if taken:
            raise ValueError(f"serve: the text keys {taken} are the server's own")
        merged[lang].update(words)
    return merged


def language(request: Request, default: str = "es") -> str:
    """The page language: ?lang= wins, then the cookie, then the server default."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE), default):
        if candidate in LANGUAGES:
            return candidate
    return "es"
