"""The words of the messaging platform: template categories, countries, event types and statuses."""

CATEGORIES = ("authentication", "marketing", "utility")
COUNTRIES = ("AR", "BR", "CL", "CO", "MX", "PE", "US")
EVENT_TYPES = ("send", "status", "inbound", "reply")
DELIVERY_STATUSES = ("delivered", "read", "failed")
STATUS_RANK = {"sent": 0, "failed": 1, "delivered": 2, "read": 3}
"""a message's final status is its highest rank, whatever order its status events arrive in"""
SERVICE = "service"
"""the category of a conversation opened by the customer"""
