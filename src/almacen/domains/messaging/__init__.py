"""Messaging: per-minute WhatsApp notification usage, invoices under rate cards, chatbot conversations."""

from almacen.domains.messaging.accounts import CLIENTS, current_version, known_clients
from almacen.domains.messaging.quality import message_event_rules, recipient_keys
from almacen.domains.messaging.vocabulary import CATEGORIES, COUNTRIES, DELIVERY_STATUSES, EVENT_TYPES, STATUS_RANK

__all__ = ["CATEGORIES", "CLIENTS", "COUNTRIES", "DELIVERY_STATUSES", "EVENT_TYPES", "STATUS_RANK", "current_version",
           "known_clients", "message_event_rules", "recipient_keys"]
