"""The sales part of the dashboard: its pages (overview, sales, real time), their templates, script and
words, the API routes (`api.router`) and the mart the server holds (`marts.MART`).

Only the page declarations are imported with the domain; the router and the mart are loaded by the
server alone (`almacen.domain.Domain.routes`, `.marts`), so the CLI loads no web framework.
"""

from importlib import resources

from almacen.security import Permission
from almacen.serve.site import Page

PAGES = (
    Page("overview", "overview.html", Permission.SALES, "overview", script="sales.js"),
    Page("sales", "sales.html", Permission.SALES, "sales", script="sales.js"),
    Page("realtime", "realtime.html", Permission.SALES, "realtime", script="sales.js"),
)
TEMPLATES = resources.files("almacen.domains.sales.serve") / "templates"
STATIC = resources.files("almacen.domains.sales.serve") / "static"
TEXTS = {
    "es": {
        "overview": "Resumen",
        "sales": "Ventas",
        "realtime": "Tiempo real",
        "from": "Desde",
        "to": "Hasta",
        "branch": "Sucursal",
        "category": "Categoría",
        "channel": "Canal",
        "payment_type": "Medio de pago",
        "all": "Todas",
        "apply": "Aplicar",
        "by": "Por",
        "grain": "Período",
        "day": "Día",
        "week": "Semana",
        "month": "Mes",
        "revenue": "Facturación",
        "tickets": "Tickets",
        "avg_ticket": "Ticket promedio",
        "units_per_ticket": "Unidades por ticket",
        "approval_rate": "Tasa de aprobación",
        "vs_previous": "vs. período anterior",
        "vs_last_week": "vs. mismo día semana pasada",
        "units": "Unidades",
        "amount": "Importe",
        "minute": "Minuto",
        "last_hour": "Ventas aprobadas por minuto, última hora",
        "refreshes": "Se actualiza cada 10 segundos.",
        "period": "Período",
        "key": "Clave",
        "label": "Nombre",
    },
    "en": {
        "overview": "Overview",
        "sales": "Sales",
        "realtime": "Real time",
        "from": "From",
        "to": "To",
        "branch": "Branch",
        "category": "Category",
        "channel": "Channel",
        "payment_type": "Payment type",
        "all": "All",
        "apply": "Apply",
        "by": "By",
        "grain": "Period",
        "day": "Day",
        "week": "Week",
        "month": "Month",
        "revenue": "Revenue",
        "tickets": "Tickets",
        "avg_ticket": "Average ticket",
        "units_per_ticket": "Units per ticket",
        "approval_rate": "Approval rate",
        "vs_previous": "vs. previous period",
        "vs_last_week": "vs. same weekday last week",
        "units": "Units",
        "amount": "Amount",
        "minute": "Minute",
        "last_hour": "Approved sales per minute, last hour",
        "refreshes": "Refreshes every 10 seconds.",
        "period": "Period",
        "key": "Key",
        "label": "Name",
    },
}
"""the words of the sales pages and of their data's columns"""

__all__ = ["PAGES", "STATIC", "TEMPLATES", "TEXTS"]
