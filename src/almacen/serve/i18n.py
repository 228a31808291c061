"""Page texts in Spanish (the default) and English; the language comes from ?lang=, then a cookie."""

from __future__ import annotations

from starlette.requests import Request

LANGUAGES = ("es", "en")
COOKIE = "almacen_lang"

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "overview": "Resumen", "sales": "Ventas", "realtime": "Tiempo real", "quality": "Calidad de datos",
        "audit": "Auditoría", "login": "Ingresar", "logout": "Salir", "username": "Usuario",
        "password": "Contraseña", "bad_login": "Usuario o contraseña incorrectos.",
        "locked": "Demasiados intentos fallidos: probá de nuevo en {minutes} min.",
        "expired": "Tu sesión venció: ingresá de nuevo.", "from": "Desde", "to": "Hasta", "branch": "Sucursal",
        "category": "Categoría", "channel": "Canal", "payment_type": "Medio de pago", "all": "Todas",
        "apply": "Aplicar", "by": "Por", "grain": "Período", "day": "Día", "week": "Semana", "month": "Mes",
        "revenue": "Facturación", "tickets": "Tickets", "avg_ticket": "Ticket promedio",
        "units_per_ticket": "Unidades por ticket", "approval_rate": "Tasa de aprobación",
        "vs_previous": "vs. período anterior", "vs_last_week": "vs. mismo día semana pasada",
        "units": "Unidades", "amount": "Importe", "minute": "Minuto", "export_csv": "CSV", "export_xlsx": "Excel",
        "runs": "Ejecuciones", "freshness": "Frescura por sucursal", "quarantine": "Cuarentena por regla",
        "quarantine_rows": "Últimas filas en cuarentena, con su motivo",
        "reconciliation": "Conciliación", "no_data": "Sin datos para estos filtros.",
        "last_hour": "Ventas aprobadas por minuto, última hora", "refreshes": "Se actualiza cada 10 segundos.",
        "forbidden": "Tu rol no tiene acceso a esta página.", "language": "English", "signed_in_as": "Sesión de",
        "period": "Período", "key": "Clave", "label": "Nombre", "actor": "Actor", "action": "Acción",
        "target": "Objeto", "details": "Detalle", "at": "Cuándo", "seq": "N.º",
    },
    "en": {
        "overview": "Overview", "sales": "Sales", "realtime": "Real time", "quality": "Data quality",
        "audit": "Audit", "login": "Log in", "logout": "Log out", "username": "Username",
        "password": "Password", "bad_login": "Wrong username or password.",
        "locked": "Too many failed attempts: try again in {minutes} min.",
        "expired": "Your session expired: log in again.", "from": "From", "to": "To", "branch": "Branch",
        "category": "Category", "channel": "Channel", "payment_type": "Payment type", "all": "All",
        "apply": "Apply", "by": "By", "grain": "Period", "day": "Day", "week": "Week", "month": "Month",
        "revenue": "Revenue", "tickets": "Tickets", "avg_ticket": "Average ticket",
        "units_per_ticket": "Units per ticket", "approval_rate": "Approval rate",
        "vs_previous": "vs. previous period", "vs_last_week": "vs. same weekday last week",
        "units": "Units", "amount": "Amount", "minute": "Minute", "export_csv": "CSV", "export_xlsx": "Excel",
        "runs": "Runs", "freshness": "Freshness per branch", "quarantine": "Quarantine by rule",
        "quarantine_rows": "Latest quarantined rows, with their reason",
        "reconciliation": "Reconciliation", "no_data": "No data for these filters.",
        "last_hour": "Approved sales per minute, last hour", "refreshes": "Refreshes every 10 seconds.",
        "forbidden": "Your role cannot open this page.", "language": "Español", "signed_in_as": "Signed in as",
        "period": "Period", "key": "Key", "label": "Name", "actor": "Actor", "action": "Action",
        "target": "Target", "details": "Details", "at": "When", "seq": "No.",
    },
}


def language(request: Request, default: str = "es") -> str:
    """The page language: ?lang= wins, then the cookie, then the server default."""
    for candidate in (request.query_params.get("lang"), request.cookies.get(COOKIE), default):
        if candidate in LANGUAGES:
            return candidate
    return "es"
