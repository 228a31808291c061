"""Sales: the branches' POS sales extracted hourly, the sale-event stream, the sales models, reconciliation
against the branch sources, and the dashboard's sales pages."""

from almacen.domain import Domain
from almacen.domains.sales.extraction import EXTRACTION, commit_pos, extract, extract_slices
from almacen.domains.sales.models import MODELS, build
from almacen.domains.sales.quality import sales_event_rules, sales_lines_rules, sales_rules
from almacen.domains.sales.reconcile import RECONCILIATION_TABLE, Fix, Reconciliation, fix, reconcile
from almacen.domains.sales.realtime.rollup import LATE_TABLE, MINUTE_TABLE
from almacen.domains.sales.stream import BRONZE_TABLE, QUARANTINE_TABLE, SALES
from almacen.domains.sales.serve import PAGES, STATIC, TEMPLATES, TEXTS
from almacen.domains.sales.vocabulary import APPROVED, CHANNELS, PAYMENT_TYPES, STATUSES

DOMAIN = Domain(
    name="sales",
    tables=(BRONZE_TABLE, QUARANTINE_TABLE, MINUTE_TABLE, LATE_TABLE, RECONCILIATION_TABLE),
    streams=(SALES,),
    models=(MODELS,),
    extraction=EXTRACTION,
    reconcile="almacen.domains.sales.reconcile:reconcile",
    cli="almacen.domains.sales.cli:install",
    routes="almacen.domains.sales.serve.api:router",
    pages=PAGES,
    templates=TEMPLATES,
    static=STATIC,
    texts=TEXTS,
    marts="almacen.domains.sales.serve.marts:MART",
)

__all__ = [
    "APPROVED",
    "CHANNELS",
    "DOMAIN",
    "MODELS",
    "PAYMENT_TYPES",
    "SALES",
    "STATUSES",
    "Fix",
    "Reconciliation",
    "build",
    "commit_pos",
    "extract",
    "extract_slices",
    "fix",
    "reconcile",
    "sales_event_rules",
    "sales_lines_rules",
    "sales_rules",
]
