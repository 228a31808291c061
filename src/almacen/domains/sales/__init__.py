"""Sales: vocabulary, quality rules and reconciliation against the branch sources."""

from almacen.domains.sales.quality import sales_event_rules, sales_lines_rules, sales_rules
from almacen.domains.sales.vocabulary import APPROVED, CHANNELS, PAYMENT_TYPES, STATUSES

__all__ = ["APPROVED", "CHANNELS", "PAYMENT_TYPES", "STATUSES", "sales_event_rules", "sales_lines_rules", "sales_rules"]
from almacen.domains.sales.reconcile import Fix, Reconciliation, fix, reconcile  # noqa: E402

__all__ += ["Fix", "Reconciliation", "fix", "reconcile"]
