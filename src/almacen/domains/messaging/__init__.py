"""Messaging: per-minute WhatsApp notification usage, invoices under rate cards, chatbot conversations."""

from almacen.domain import Domain

from almacen.domains.messaging.accounts import CLIENTS, current_version, known_clients
from almacen.domains.messaging.invoice import (
    INVOICE_SCHEMA,
    LINE_SCHEMA,
    InvoiceError,
    invoice_id,
    invoice_month_py,
    invoice_month_sql,
    register_inputs,
)
from almacen.domains.messaging.conversations import (
    CONVERSATION_SCHEMA,
    DAILY_SCHEMA,
    MONTHLY_SCHEMA,
    conversations_py,
    conversations_sql,
    rollups_py,
    rollups_sql,
    CONVERSATION_TABLE,
    DAILY_TABLE,
    MONTHLY_TABLE,
)
from almacen.domains.messaging.quality import message_event_rules, recipient_keys
from almacen.domains.messaging.build import MESSAGES_TABLE
from almacen.domains.messaging.stream import BRONZE_TABLE, MESSAGING, QUARANTINE_TABLE
from almacen.domains.messaging.usage import USAGE_TABLE
from almacen.domains.messaging.ledger import DRAFT_LINE_TABLE, DRAFT_TABLE, INVOICE_TABLE, LINE_TABLE
from almacen.domains.messaging.rates import (
    ClientAccount,
    Contract,
    ContractError,
    RateCard,
    RateCardError,
    RatePeriod,
    Tier,
    clients_to_tables,
    contract_for,
    contracts_from_table,
    load_clients,
    load_rate_card,
)
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES, DELIVERY_STATUSES, EVENT_TYPES, STATUS_RANK

DOMAIN = Domain(
    name="messaging",
    tables=(
        BRONZE_TABLE,
        QUARANTINE_TABLE,
        MESSAGES_TABLE,
        USAGE_TABLE,
        CONVERSATION_TABLE,
        DAILY_TABLE,
        MONTHLY_TABLE,
        INVOICE_TABLE,
        LINE_TABLE,
        DRAFT_TABLE,
        DRAFT_LINE_TABLE,
    ),
    streams=(MESSAGING,),
    cli="almacen.domains.messaging.cli:install",
)

__all__ = [
    "CATEGORIES",
    "DOMAIN",
    "MESSAGING",
    "CLIENTS",
    "CONVERSATION_SCHEMA",
    "COUNTRIES",
    "DAILY_SCHEMA",
    "DELIVERY_STATUSES",
    "EVENT_TYPES",
    "INVOICE_SCHEMA",
    "LINE_SCHEMA",
    "MONTHLY_SCHEMA",
    "STATUS_RANK",
    "ClientAccount",
    "Contract",
    "ContractError",
    "InvoiceError",
    "RateCard",
    "RateCardError",
    "RatePeriod",
    "Tier",
    "clients_to_tables",
    "contract_for",
    "contracts_from_table",
    "conversations_py",
    "conversations_sql",
    "current_version",
    "invoice_id",
    "invoice_month_py",
    "invoice_month_sql",
    "known_clients",
    "load_clients",
    "load_rate_card",
    "message_event_rules",
    "recipient_keys",
    "register_inputs",
    "rollups_py",
    "rollups_sql",
]
